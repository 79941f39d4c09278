// The kill switch between two instances' caches, on real PostgreSQL and Redis: a suspension is announced before
// it commits, and an instance that loads the agent in between waits for the commit instead of caching the row
// it is about to lose.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { AgentStore } from '../../adapters/agent-store.ts';
import { RedisChangeFeed, type ChangeFeed } from '../../adapters/change-feed.ts';
import { ReadThroughCache } from '../../adapters/read-through-cache.ts';
import { UserStore } from '../../adapters/user-store.ts';
import { openTestDatabase, type TestDatabase } from '../support/databases.ts';
import { connectTestRedis, dropRedisPrefix, uniqueRedisPrefix } from '../support/services.ts';

/**
 * A change feed whose announcements, once `hold()` was called, hold the announcing transaction open until
 * `release()` (creating an agent announces its id too, and must not be held).
 */
function heldAfterPublishing(feed: RedisChangeFeed): ChangeFeed & { hold(): void; release(): void } {
  let holding = false;
  let release!: () => void;
  const held = new Promise<void>((resolve) => { release = resolve; });
  return {
    get live() { return feed.live; },
    async publish(topic, key) {
      await feed.publish(topic, key);
      if (holding) await held;
    },
    subscribe: (topic, onChange, onReset) => feed.subscribe(topic, onChange, onReset),
    close: () => feed.close(),
    hold: () => { holding = true; },
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

    // B has looked the agent up before (cached as active): the suspension must reach it all the same.
    expect((await b.get(agent.id))!.status).toBe('active');
    heldFeed.hold();
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
  it('caches that an id is no agent, and an agent created under that id later is seen at once on every instance', async () => {
    const b = new AgentStore(database.db, new ReadThroughCache('agents', feedB));
    await feedB.ready(); // a new subscriber serves from memory once its subscription is confirmed
    const selects = vi.spyOn(database.db, 'selectFrom');
    expect(await b.get('a-registered-client')).toBeUndefined();
    const after = selects.mock.calls.length;
    expect(after).toBeGreaterThan(0);
    expect(await b.get('a-registered-client')).toBeUndefined();
    expect(selects.mock.calls.length).toBe(after); // the miss came from memory
    selects.mockRestore();
    // A new agent's id is announced as it is created, so a miss cached for it anywhere is dropped.
    const a = new AgentStore(database.db, new ReadThroughCache('agents', feedA));
    await feedA.ready();
    const { agent } = await a.create({ name: 'late', ownerId, scopes: [], defaultScopes: [], resources: null, accessTokenTtl: null, tokenEndpointAuthMethod: 'client_secret_basic' });
    expect(await b.get(agent.id)).toMatchObject({ id: agent.id, status: 'active' });
  });
});
