// Admin request bodies are parsed into typed values once, here; the first problem becomes a 400 that names
// the offending field.
import type { z } from 'zod';
import { InvalidField } from './http-error.ts';

export function parseInput<T extends z.ZodType>(schema: T, input: unknown): z.infer<T> {
  const withNul = findNul(input, []);
  if (withNul) throw new InvalidField(withNul.length ? withNul.join('.') : 'body', 'must not contain NUL characters');
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = issue.path.length ? issue.path.join('.') : 'body';
  throw new InvalidField(field, issue.message);
}

/**
 * PostgreSQL text cannot hold U+0000, so a NUL anywhere would fail deep in a query as a 500; it is refused here
 * as the bad input it is. Returns the path of the first string holding one.
 */
function findNul(value: unknown, path: (string | number)[]): (string | number)[] | undefined {
  if (typeof value === 'string') return value.includes('\u0000') ? path : undefined;
  if (typeof value !== 'object' || value === null) return undefined;
  for (const [key, member] of Object.entries(value)) {
    if (key.includes('\u0000')) return [...path, key];
    const found = findNul(member, [...path, Array.isArray(value) ? Number(key) : key]);
    if (found) return found;
  }
  return undefined;
}
