import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalChangeFeed, RedisChangeFeed } from '../../adapters/change-feed.ts';
import { ReadThroughCache } from '../../adapters/read-through-cache.ts';
import { connectTestRedis, TEST_REDIS_URL, uniqueRedisPrefix } from '../support/services.ts';

describe('ReadThroughCache', () => {
  it('loads once, then serves from memory until invalidated', async () => {
    const cache = new ReadThroughCache<string>('t', new LocalChangeFeed());
    let loads = 0;
    const load = async () => { loads += 1; return `v${loads}`; };
    expect(await cache.get('k', load)).toBe('v1');
    expect(await cache.get('k', load)).toBe('v1');
    await cache.invalidate('k');
    expect(await cache.get('k', load)).toBe('v2');
    expect(loads).toBe(2);
  });

  it('does not cache misses, and never stores a value read before an invalidation', async () => {
    const cache = new ReadThroughCache<string>('t', new LocalChangeFeed());
    expect(await cache.get('missing', async () => undefined)).toBeUndefined();
    let release!: () => void;
    const slow = cache.get('k', () => new Promise((resolve) => { release = () => resolve('stale'); }));
    await cache.invalidate('k');
    release();
    expect(await slow).toBe('stale');
    expect(await cache.get('k', async () => 'fresh')).toBe('fresh');
  });

  it('evicts the least recently used entry beyond its bound', async () => {
    const cache = new ReadThroughCache<string>('t', new LocalChangeFeed(), 2);
    await cache.get('a', async () => 'a');
    await cache.get('b', async () => 'b');
    await cache.get('a', async () => 'a2'); // touch a
    await cache.get('c', async () => 'c'); // evicts b
    expect(await cache.get('a', async () => 'reloaded')).toBe('a');
    expect(await cache.get('b', async () => 'reloaded')).toBe('reloaded');
  });

  describe('across instances through Redis', () => {
    const redisA = connectTestRedis();
    const redisB = connectTestRedis();
    const feeds: RedisChangeFeed[] = [];
    afterAll(async () => {
      for (const feed of feeds) await feed.close();
      await redisA.quit();
      await redisB.quit();
    });

    it('drops an entry at every instance when one of them invalidates it', async () => {
      const prefix = uniqueRedisPrefix('cache');
      const feedA = new RedisChangeFeed(redisA, prefix);
      const feedB = new RedisChangeFeed(redisB, prefix);
      feeds.push(feedA, feedB);
      const cacheA = new ReadThroughCache<string>('clients', feedA);
      const cacheB = new ReadThroughCache<string>('clients', feedB);
      await Promise.all([feedA.ready(), feedB.ready()]);
      expect(await cacheB.get('client-1', async () => 'old')).toBe('old');
      await cacheA.invalidate('client-1');
      await new Promise((resolve) => setTimeout(resolve, 50)); // pub/sub delivery is asynchronous
      expect(await cacheB.get('client-1', async () => 'new')).toBe('new');
    });

    it('serves from memory only while subscribed: drops everything when the subscription drops, reads through until it is back', async () => {
      const name = uniqueRedisPrefix('sub').replace(/:/g, '');
      const redis = new Redis(TEST_REDIS_URL, { connectionName: name, maxRetriesPerRequest: 1, retryStrategy: () => 20 });
      const feed = new RedisChangeFeed(redis, uniqueRedisPrefix('cache'));
      const cache = new ReadThroughCache<string>('agents', feed);
      await feed.ready();
      let loads = 0;
      const load = async () => `v${(loads += 1)}`;
      expect(await cache.get('agent-1', load)).toBe('v1');
      expect(await cache.get('agent-1', load)).toBe('v1');

      // Redis drops the subscriber connection (as in a restart or failover): announcements could be missed now.
      const clients = await redisA.client('LIST') as string;
      const id = /id=(\d+) .*name=(\S+) .*cmd=subscribe/.exec(clients.split('\n').find((line) => line.includes(`name=${name}`) && line.includes('cmd=subscribe'))!)![1];
      await redisA.client('KILL', 'ID', id);
      await new Promise((resolve) => setTimeout(resolve, 5));
      expect(feed.live).toBe(false);
      expect(await cache.get('agent-1', load)).toBe('v2');
      expect(await cache.get('agent-1', load)).toBe('v3');

      await feed.ready();
      expect(await cache.get('agent-1', load)).toBe('v4');
      expect(await cache.get('agent-1', load)).toBe('v4');
      await feed.close();
      await redis.quit();
    });
  });
});
