// Both replay stores behind the one interface: a key is accepted once while remembered, atomically under
// concurrency, and again once forgotten; the in-memory store refuses rather than forgets when full.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { MemoryReplayStore, type ReplayStore } from '../../packages/verifier/src/replay-store.ts';
import { RedisReplayStore } from '../../packages/verifier/src/redis-replay-store.ts';
import { connectTestRedis, dropRedisPrefix, uniqueRedisPrefix } from '../support/services.ts';

let redis: Redis;
const prefix = uniqueRedisPrefix('verifier-replay-store');
beforeAll(() => { redis = connectTestRedis(); });
afterAll(async () => {
  await dropRedisPrefix(redis, prefix);
  await redis.quit();
});

const stores: [string, () => ReplayStore][] = [
  ['MemoryReplayStore', () => new MemoryReplayStore()],
  ['RedisReplayStore', () => new RedisReplayStore(redis, { prefix })],
];

describe.each(stores)('%s', (_name, make) => {
  it('accepts a key once, and again after its time', async () => {
    const store = make();
    const key = `key-${Math.random()}`;
    expect(await store.checkAndStore(key, 1)).toBe(true);
    expect(await store.checkAndStore(key, 1)).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect(await store.checkAndStore(key, 1)).toBe(true);
  });

  it('lets exactly one of many concurrent uses through', async () => {
    const store = make();
    const key = `race-${Math.random()}`;
    const results = await Promise.all(Array.from({ length: 20 }, () => store.checkAndStore(key, 60)));
    expect(results.filter(Boolean)).toHaveLength(1);
  });
});

it('RedisReplayStore keys live under the prefix with the TTL asked for', async () => {
  await new RedisReplayStore(redis, { prefix }).checkAndStore('ttl-check', 42);
  expect(await redis.ttl(`${prefix}ttl-check`)).toBeGreaterThan(40);
});

it('MemoryReplayStore refuses new proofs when full of live ones, instead of forgetting one that could be replayed', async () => {
  const store = new MemoryReplayStore({ maxEntries: 2 });
  expect(await store.checkAndStore('a', 60)).toBe(true);
  expect(await store.checkAndStore('b', 60)).toBe(true);
  expect(await store.checkAndStore('c', 60)).toBe(false);
  expect(await store.checkAndStore('a', 60)).toBe(false);
});
