// The kill switch between two instances' caches, on real PostgreSQL and Redis: a suspension is announced before
// it commits, and an instance that loads the agent in between waits for the commit instead of caching the row
// it is about to lose.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentStore } from '../../adapters/agent-store.ts';
import { RedisChangeFeed, type ChangeFeed } from '../../adapters/change-feed.ts';
import { ReadThroughCache } from '../../adapters/read-through-cache.ts';
import { UserStore } from '../../adapters/user-store.ts';
import { openTestDatabase, type TestDatabase } from '../support/databases.ts';
import { connectTestRedis, dropRedisPrefix, uniqueRedisPrefix } from '../support/services.ts';

/** A change feed whose announcements, once made, hold the announcing transaction open until `release()`. */
function heldAfterPublishing(feed: RedisChangeFeed): ChangeFeed & { release(): void } {
  let release!: () => void;
  const held = new Promise<void>((resolve) => { release = resolve; });
  return {
    get live() { return feed.live; },
    async publish(topic, key) {
      await feed.publish(topic, key);
      await held;
    },
    subscribe: (topic, onChange, onReset) => feed.subscribe(topic, onChange, onReset),
    close: () => feed.close(),
    release: () => release(),
  };
}

describe('AgentStore across two instances', () => {
  const prefix = uniqueRedisPrefix('agent-store');
  const redisA = connectTestRedis();
  const redisB = connectTestRedis();
  const feedA = new RedisChangeFeed(redisA, prefix);
  const feedB = new RedisChangeFeed(redisB, prefix);
  const heldFeed = heldAfterPublishing(feedA);
  let database: TestDatabase;
  let ownerId: string;

  beforeAll(async () => {
    database = await openTestDatabase('postgres', 'agent-store');
    ownerId = (await new UserStore(database.db).create({ username: 'owner', password: 'correct horse battery staple' })).id;
  });
  afterAll(async () => {
    heldFeed.release(); // also when the test failed while holding its transaction open
    await feedA.close();
    await feedB.close();
    await dropRedisPrefix(redisA, prefix);
    await redisA.quit();
    await redisB.quit();
    await database?.dispose();
  });

  it('a load during an announced, uncommitted suspension waits for it and caches the suspended agent', async () => {
    const a = new AgentStore(database.db, new ReadThroughCache('agents', heldFeed));
    const b = new AgentStore(database.db, new ReadThroughCache('agents', feedB));
    await Promise.all([feedA.ready(), feedB.ready()]);
    const { agent } = await a.create({ name: 'worker', ownerId, scopes: [], defaultScopes: [], resources: null, accessTokenTtl: null, tokenEndpointAuthMethod: 'client_secret_basic' });

    const suspending = a.setStatus(agent.id, 'suspended');
    await new Promise((resolve) => setTimeout(resolve, 100)); // announced to B, not committed
    let settled = false;
    const loading = b.get(agent.id).then((loaded) => { settled = true; return loaded; });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(settled).toBe(false);

    heldFeed.release();
    expect((await suspending)!.status).toBe('suspended');
    expect((await loading)!.status).toBe('suspended');
    expect((await b.get(agent.id))!.status).toBe('suspended');
  });
});
