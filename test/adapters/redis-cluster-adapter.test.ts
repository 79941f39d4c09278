// The Redis adapter, the change feed and lineage on a 3-master Redis Cluster this file starts on loopback:
// the adapter contract as on one Redis, with records spread over every master (so a script or transaction
// touching keys of two slots would fail with CROSSSLOT here).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cluster } from 'ioredis';
import type { AdapterPayload } from 'oidc-provider';
import { RedisChangeFeed } from '../../adapters/change-feed.ts';
import { redisAdapterFactory } from '../../adapters/redis-adapter.ts';
import { connectRedis } from '../../adapters/redis-connection.ts';
import { TokenLineage } from '../../adapters/token-lineage.ts';
import { parseRedisUrl } from '../../config/redis-url.ts';
import { startRedisCluster, type RedisClusterDeployment } from '../support/redis-servers.ts';
import { dropRedisPrefix, scanKeys, uniqueRedisPrefix } from '../support/services.ts';
import { describeAdapterContract } from './adapter-contract.ts';

const prefix = uniqueRedisPrefix('redis-cluster-adapter');
let cluster: RedisClusterDeployment;
let one: Cluster;
let two: Cluster;

const connect = () => connectRedis(parseRedisUrl(cluster.url), { maxRetriesPerRequest: 2, enableAutoPipelining: true }) as Cluster;

beforeAll(async () => {
  cluster = await startRedisCluster();
  one = connect();
  two = connect();
});
afterAll(async () => {
  await one?.quit();
  await two?.quit();
  await cluster?.stop();
});

describeAdapterContract('RedisAdapter on a Redis Cluster', async () => ({ factory: redisAdapterFactory(one, { prefix, clockTolerance: 0 }), teardown: async () => {} }));

describe('RedisAdapter on a Redis Cluster', () => {
  const adapters = () => [redisAdapterFactory(one, { prefix, clockTolerance: 15 }), redisAdapterFactory(two, { prefix, clockTolerance: 15 })];

  it('spreads records over every master, and a grant revocation reaches them on all', async () => {
    const [first, second] = adapters();
    const grantId = `spread-${Date.now()}`;
    const ids = Array.from({ length: 30 }, (_, i) => `${grantId}-${i}`);
    await Promise.all(ids.map((id, i) => first(i % 2 ? 'AccessToken' : 'RefreshToken').upsert(id, { jti: id, grantId } as AdapterPayload, 60)));
    const perMaster = await Promise.all(one.nodes('master').map(async (node) => (await node.keys(`${prefix}*Token:*`)).length));
    expect(perMaster).toHaveLength(3);
    for (const count of perMaster) expect(count).toBeGreaterThan(0);

    await second('RefreshToken').revokeByGrantId(grantId);
    const found = await Promise.all(ids.map((id, i) => first(i % 2 ? 'AccessToken' : 'RefreshToken').find(id)));
    expect(found.filter(Boolean)).toHaveLength(0);
  });

  it('keeps running its scripts after every master forgets them (EVALSHA falls back to EVAL on the owning node)', async () => {
    const [first, second] = adapters();
    await Promise.all(one.nodes('master').map((node) => node.script('FLUSH')));
    expect(await cachedScripts()).toEqual([0, 0, 0]);
    const ids = Array.from({ length: 12 }, (_, i) => `flushed-${Date.now()}-${i}`);
    await Promise.all(ids.map((id) => first('RefreshToken').upsert(id, { jti: id, grantId: `g-${id}` } as AdapterPayload, 60)));
    for (const id of ids) expect(await second('RefreshToken').find(id)).toMatchObject({ jti: id, grantId: `g-${id}` });
    // Each master relearnt the scripts from the EVAL that followed its NOSCRIPT.
    for (const count of await cachedScripts()) expect(count).toBeGreaterThan(0);
  });

  it('records and finds lineage across connections', async () => {
    const [first, second] = adapters();
    const lineage = { ancestors: [{ kind: 'AccessToken' as const, id: `root-${Date.now()}` }], rootIsPerson: true, rootClientId: 'app' };
    await new TokenLineage(first('TokenLineage')).record('child-token', lineage, 60);
    expect(await new TokenLineage(second('TokenLineage')).find('child-token')).toEqual(lineage);
  });

  it('delivers change announcements between two Cluster clients', async () => {
    const feedOne = new RedisChangeFeed(one, prefix);
    const feedTwo = new RedisChangeFeed(two, prefix);
    try {
      const heard: string[] = [];
      feedTwo.subscribe('agents', (key) => heard.push(key), () => undefined);
      feedOne.subscribe('agents', () => heard.push('echo'), () => undefined);
      await Promise.all([feedOne.ready(), feedTwo.ready()]);
      await feedOne.publish('agents', 'agent-1');
      await expect.poll(() => heard, { timeout: 2000 }).toEqual(['agent-1']);
    } finally {
      await feedOne.close();
      await feedTwo.close();
    }
  });

  it('drops every key under the prefix from every master', async () => {
    const scratch = `${prefix}scratch:`;
    await Promise.all(Array.from({ length: 30 }, (_, i) => one.set(`${scratch}${i}`, '1')));
    expect(await scanKeys(one, scratch)).toHaveLength(30);
    await dropRedisPrefix(one, scratch);
    expect(await scanKeys(one, scratch)).toHaveLength(0);
  });
});

/** How many scripts each master holds. */
async function cachedScripts(): Promise<number[]> {
  return Promise.all(one.nodes('master').map(async (node) => Number(/number_of_cached_scripts:(\d+)/.exec(await node.info('memory'))?.[1])));
}
