// A Redis Cluster with a replica per master, one master killed: the replica takes over, the adapter reads and
// writes every slot again, and the change feed tells its caches to start over (announcements may have been
// lost meanwhile) and then carries announcements again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cluster } from 'ioredis';
import type { AdapterPayload } from 'oidc-provider';
import { RedisChangeFeed } from '../../adapters/change-feed.ts';
import { redisAdapterFactory } from '../../adapters/redis-adapter.ts';
import { connectRedis } from '../../adapters/redis-connection.ts';
import { parseRedisUrl } from '../../config/redis-url.ts';
import { startRedisCluster, type RedisClusterDeployment } from '../support/redis-servers.ts';
import { uniqueRedisPrefix } from '../support/services.ts';

const prefix = uniqueRedisPrefix('redis-cluster-failover');
let cluster: RedisClusterDeployment;
let publisher: Cluster;
let subscriber: Cluster;

beforeAll(async () => {
  cluster = await startRedisCluster({ replicas: 1 });
  const connect = () => connectRedis(parseRedisUrl(cluster.url), { maxRetriesPerRequest: 2, enableAutoPipelining: true }) as Cluster;
  publisher = connect();
  subscriber = connect();
});
afterAll(async () => {
  publisher?.disconnect();
  subscriber?.disconnect();
  await cluster?.stop();
});

describe('a Redis Cluster losing a master', () => {
  it('serves every slot again from the promoted replica; the change feed resets, then carries announcements', async () => {
    const adapter = redisAdapterFactory(publisher, { prefix, clockTolerance: 0 })('RefreshToken');
    const ids = Array.from({ length: 30 }, (_, i) => `before-${i}`);
    await Promise.all(ids.map((id) => adapter.upsert(id, { jti: id, kind: 'RefreshToken' } as AdapterPayload, 600)));
    // Replication is asynchronous: make sure the replicas have what their masters took.
    await Promise.all(publisher.nodes('master').map((node) => node.call('WAIT', '1', '2000')));

    const sending = new RedisChangeFeed(publisher, prefix);
    const listening = new RedisChangeFeed(subscriber, prefix);
    let resets = 0;
    const heard: string[] = [];
    listening.subscribe('agents', (key) => heard.push(key), () => { resets += 1; });
    await listening.ready();
    try {
      const masters = await cluster.masterPorts();
      const killedAt = Date.now();
      await cluster.kill(masters[0]);
      await expect.poll(async () => (await cluster.masterPorts()).length, { timeout: 15_000, interval: 100 }).toBe(3);
      await cluster.clusterOk();
      const promotedAfter = Date.now() - killedAt;

      // Every record, the killed master's included, is back, and new ones land in every slot.
      await expect.poll(async () => (await Promise.all(ids.map((id) => adapter.find(id).catch(() => undefined)))).filter(Boolean).length, { timeout: 10_000, interval: 200 }).toBe(30);
      await Promise.all(ids.map((id) => adapter.upsert(`after-${id}`, { jti: id } as AdapterPayload, 600)));
      await expect.poll(() => resets, { timeout: 10_000, interval: 100 }).toBeGreaterThan(0);
      const resetAfter = Date.now() - killedAt;

      await expect.poll(async () => {
        await sending.publish('agents', 'after-failover');
        return heard.includes('after-failover');
      }, { timeout: 10_000, interval: 200 }).toBe(true);
      console.info(`cluster failover: replica promoted ${promotedAfter} ms after the kill; change feed reset after ${resetAfter} ms; announcements delivered after ${Date.now() - killedAt} ms`);
    } finally {
      await sending.close();
      await listening.close();
    }
  });
});
