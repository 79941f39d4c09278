import { describe, expect, it } from 'vitest';
import { JsonRowQueue } from '../../adapters/json-row-queue.ts';

describe('JsonRowQueue', () => {
  it('joins the oldest rows into one JSON array and drops them once written', () => {
    const queue = new JsonRowQueue();
    for (const i of [1, 2, 3]) queue.push(JSON.stringify({ i }));
    expect(queue.length).toBe(3);
    expect(JSON.parse(queue.head(2))).toEqual([{ i: 1 }, { i: 2 }]);
    queue.drop(2);
    expect(queue.length).toBe(1);
    expect(JSON.parse(queue.head(1))).toEqual([{ i: 3 }]);
    queue.push(JSON.stringify({ i: 4 }));
    expect([queue.row(0), queue.row(1)]).toEqual(['{"i":3}', '{"i":4}']);
  });

  it('keeps text that is not ASCII intact, across growth of its buffer', () => {
    const queue = new JsonRowQueue();
    const text = 'é€😀 '.repeat(10_000); // 2-, 3- and 4-byte UTF-8, far beyond the initial buffer
    for (let i = 0; i < 50; i += 1) queue.push(JSON.stringify({ i, text }));
    expect(queue.length).toBe(50);
    const rows = JSON.parse(queue.head(50)) as { i: number; text: string }[];
    expect(rows.map((row) => row.i)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(rows.every((row) => row.text === text)).toBe(true);
    queue.drop(49);
    expect(JSON.parse(queue.row(0))).toEqual({ i: 49, text });
    queue.drop(1);
    expect(queue.length).toBe(0);
    queue.push('{"after":true}');
    expect(queue.head(1)).toBe('[{"after":true}]');
  });

  it('refuses to take or drop rows it does not hold', () => {
    const queue = new JsonRowQueue();
    queue.push('{}');
    expect(() => queue.head(2)).toThrow(RangeError);
    expect(() => queue.head(0)).toThrow(RangeError);
    expect(() => queue.row(1)).toThrow(RangeError);
    expect(() => queue.drop(2)).toThrow(RangeError);
    expect(queue.head(1)).toBe('[{}]');
  });
});
