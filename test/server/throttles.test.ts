// The throttles' rules on process-memory counters (the Redis-backed ones are the same library class, exercised
// across two instances in test/e2e/rate-limits.test.ts).
import { describe, expect, it } from 'vitest';
import { claimedClientId } from '../../server/claimed-client.ts';
import { GuessThrottle, RequestThrottle, progressiveBlock, retryAfterSeconds } from '../../server/throttles.ts';

const memory = { prefix: 'test:' };
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('progressive blocks', () => {
  it('double per strike from the base and stop at the cap', () => {
    expect([1, 2, 3, 4, 5].map((strike) => progressiveBlock(60, strike, 900))).toEqual([60, 120, 240, 480, 900]);
    expect(progressiveBlock(60, 1_000, 900)).toBe(900);
    expect(progressiveBlock(1200, 3, 900)).toBe(1200);
  });
  it('Retry-After is whole seconds, rounded up', () => {
    expect([0, 1, 999, 1000, 1001].map(retryAfterSeconds)).toEqual([0, 1, 1, 1, 2]);
  });
});

describe('guess throttle', () => {
  it('counted before: exactly `points` concurrent attempts get through', async () => {
    const throttle = new GuessThrottle('t1', { byAddress: { points: 3, window: 60, block: 60 } }, memory, 'before');
    const waits = await Promise.all(Array.from({ length: 10 }, () => throttle.attempt({ name: 'alice', address: '192.0.2.1' })));
    expect(waits.filter((wait) => wait === 0)).toHaveLength(3);
    expect(await throttle.refusedFor({ name: 'alice', address: '192.0.2.1' })).toBeGreaterThan(59_000);
    expect(await throttle.refusedFor({ name: 'alice', address: '192.0.2.2' })).toBe(0);
  });
  it('counted after: `points` failures, then refused', async () => {
    const throttle = new GuessThrottle('t2', { byAddress: { points: 2, window: 60, block: 30 } }, memory, 'after');
    const guesser = { name: 'client', address: '192.0.2.1' };
    expect(await throttle.refusedFor(guesser)).toBe(0);
    await throttle.attempt(guesser);
    expect(await throttle.refusedFor(guesser)).toBe(0);
    await throttle.attempt(guesser);
    const refused = await throttle.refusedFor(guesser);
    expect(refused).toBeGreaterThan(29_000);
    expect(refused).toBeLessThanOrEqual(30_000);
  });
  it('an attempt refused by the address is not held against the name', async () => {
    const throttle = new GuessThrottle('t3', { byAddress: { points: 1, window: 60, block: 60 }, byName: { points: 3, window: 60, block: 60 } }, memory, 'before');
    for (let i = 0; i < 10; i += 1) await throttle.attempt({ name: 'bob', address: '192.0.2.9' });
    expect(await throttle.attempt({ name: 'bob', address: '192.0.2.10' })).toBe(0);
    expect(await throttle.attempt({ name: 'bob', address: '192.0.2.11' })).toBe(0);
  });
  it('success frees the address and takes the attempt back from the name', async () => {
    const throttle = new GuessThrottle('t4', { byAddress: { points: 2, window: 60, block: 60 }, byName: { points: 2, window: 60, block: 60 } }, memory, 'before');
    const guesser = { name: 'carol', address: '192.0.2.1' };
    for (let i = 0; i < 5; i += 1) {
      expect(await throttle.attempt(guesser)).toBe(0);
      await throttle.succeeded(guesser);
    }
  });
});

describe('request throttle', () => {
  it('is a no-op when the limit is off', async () => {
    const throttle = new RequestThrottle('r0', undefined, memory, 'after');
    expect(await throttle.count('x')).toBe(0);
    expect(await throttle.refusedFor('x')).toBe(0);
  });
});

describe('the client a request claims to be', () => {
  const basic = (id: string, secret = 's') => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
  it('from Basic (form-decoded), client_id, or a client assertion, in that order', () => {
    expect(claimedClientId(basic('my%20client'), undefined)).toBe('my client');
    expect(claimedClientId(basic('a'), new URLSearchParams({ client_id: 'b' }))).toBe('a');
    expect(claimedClientId(undefined, new URLSearchParams({ client_id: 'b' }))).toBe('b');
    const assertion = `${b64({ alg: 'ES256' })}.${b64({ iss: 'agent_1', sub: 'agent_1' })}.sig`;
    expect(claimedClientId(undefined, new URLSearchParams({ client_assertion: assertion }))).toBe('agent_1');
  });
  it('nothing from what names no client, and never throws', () => {
    expect(claimedClientId(undefined, undefined)).toBeUndefined();
    expect(claimedClientId('Bearer abc', new URLSearchParams())).toBeUndefined();
    expect(claimedClientId(undefined, new URLSearchParams({ client_assertion: 'not.a.jwt' }))).toBeUndefined();
    expect(claimedClientId(basic('%E0%A4%A'), undefined)).toBe('%E0%A4%A');
    expect(claimedClientId(undefined, new URLSearchParams({ client_id: 'x'.repeat(5000) }))!.length).toBe(512);
  });
});
