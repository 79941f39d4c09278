// connectRedis against deployments this file starts on loopback: one password-protected server with a chosen
// database, and a Sentinel-watched master with a replica that fails over while a client keeps writing.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import type { AdapterPayload } from 'oidc-provider';
import { redisAdapterFactory } from '../../adapters/redis-adapter.ts';
import { connectRedis, type RedisClient } from '../../adapters/redis-connection.ts';
import { parseRedisUrl } from '../../config/redis-url.ts';
import { freePorts, startRedisSentinel, startRedisServer, type RedisDeployment, type RedisSentinelDeployment } from '../support/redis-servers.ts';
import { loopbackCertificate, type LoopbackCertificate } from '../support/tls.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('connectRedis to one server', () => {
  let server: RedisDeployment & { port: number };
  const clients: RedisClient[] = [];
  beforeAll(async () => { server = await startRedisServer(['--requirepass', 'data/pw@1'], 'data/pw@1'); });
  afterAll(async () => {
    for (const client of clients) client.disconnect();
    await server?.stop();
  });

  it('authenticates with the percent-encoded password and selects the database in the path', async () => {
    const client = connectRedis(parseRedisUrl(`redis://:${encodeURIComponent('data/pw@1')}@127.0.0.1:${server.port}/3`));
    clients.push(client);
    await client.set('where', 'db3');
    const direct = new Redis({ port: server.port, host: '127.0.0.1', password: 'data/pw@1', db: 3 });
    clients.push(direct);
    expect(await direct.get('where')).toBe('db3');
  });

  it('fails on a wrong password rather than running unauthenticated', async () => {
    const client = connectRedis(parseRedisUrl(`redis://:wrong@127.0.0.1:${server.port}`), { maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on('error', () => undefined);
    clients.push(client);
    await expect(client.ping()).rejects.toThrow();
  });
});

describe('connectRedis over TLS (rediss://)', () => {
  let certificate: LoopbackCertificate;
  let files: string;
  let server: RedisDeployment;
  let tlsPort: number;
  const clients: RedisClient[] = [];
  beforeAll(async () => {
    certificate = await loopbackCertificate();
    files = await mkdtemp(join(tmpdir(), 'agentauth-redis-tls-'));
    await writeFile(join(files, 'server.key'), certificate.key);
    await writeFile(join(files, 'server.pem'), certificate.cert);
    [tlsPort] = await freePorts(1, false);
    // The plain port stays open too, for the helper's readiness probe.
    server = await startRedisServer(['--tls-port', String(tlsPort), '--tls-cert-file', join(files, 'server.pem'), '--tls-key-file', join(files, 'server.key'),
      '--tls-ca-cert-file', certificate.caFile, '--tls-auth-clients', 'no']);
  });
  afterAll(async () => {
    for (const client of clients) client.disconnect();
    await server?.stop();
    await certificate?.dispose();
    if (files) await rm(files, { recursive: true, force: true });
  });

  const attempt = (url: string, options: Parameters<typeof connectRedis>[1] = {}) => {
    const client = connectRedis(parseRedisUrl(url), { maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1000, ...options });
    client.on('error', () => undefined);
    clients.push(client);
    return client.ping();
  };

  it('speaks TLS to a server whose certificate the given CA signed', async () => {
    expect(await attempt(`rediss://127.0.0.1:${tlsPort}`, { tls: { ca: await readFile(certificate.caFile) } })).toBe('PONG');
  });

  it('verifies the certificate (an unknown CA is refused) and never falls back to plain text', async () => {
    await expect(attempt(`rediss://127.0.0.1:${tlsPort}`)).rejects.toThrow();
    await expect(attempt(`redis://127.0.0.1:${tlsPort}`, { tls: { ca: await readFile(certificate.caFile) } })).rejects.toThrow();
  });
});

describe('connectRedis through Sentinel', () => {
  const DATA_PASSWORD = 'data-secret';
  const SENTINEL_PASSWORD = 'sentinel-secret';
  let deployment: RedisSentinelDeployment;
  let client: RedisClient;

  beforeAll(async () => {
    deployment = await startRedisSentinel({ data: DATA_PASSWORD, sentinel: SENTINEL_PASSWORD });
    const port = deployment.sentinelPort;
    client = connectRedis(parseRedisUrl(`redis+sentinel://:${DATA_PASSWORD}@127.0.0.1:${port}/${deployment.masterName}?sentinel_password=${SENTINEL_PASSWORD}`), {
      maxRetriesPerRequest: 2, enableAutoPipelining: true,
    });
  });
  afterAll(async () => {
    client?.disconnect();
    await deployment?.stop();
  });

  const masterPort = async () => Number(((await deployment.sentinel.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', deployment.masterName)) as string[])[1]);

  it('finds the master through the sentinel (the data password for the master, the sentinel password for the sentinel)', async () => {
    const [master] = deployment.dataPorts;
    expect(await masterPort()).toBe(master);
    const adapter = redisAdapterFactory(client, { prefix: 'sentinel:', clockTolerance: 0 })('AccessToken');
    await adapter.upsert('through-sentinel', { jti: 'through-sentinel' } as AdapterPayload, 60);
    expect(await adapter.find('through-sentinel')).toMatchObject({ jti: 'through-sentinel' });
    expect(((await client.call('ROLE')) as unknown[])[0]).toBe('master');
  });

  it('writes and reads on the new master within 5 s of SENTINEL FAILOVER', async () => {
    const [, replica] = deployment.dataPorts;
    const writes: { at: number; ok: boolean; key: string }[] = [];
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing; i += 1) {
        const key = `failover:${i}`;
        const ok = await client.set(key, String(i)).then(async () => (await client.get(key)) === String(i), () => false);
        writes.push({ at: Date.now(), ok, key });
        await sleep(20);
      }
    })();
    await sleep(300);
    const failoverAt = Date.now();
    expect(await deployment.sentinel.call('SENTINEL', 'FAILOVER', deployment.masterName)).toBe('OK');
    await expect.poll(masterPort, { timeout: 10_000, interval: 50 }).toBe(replica);
    await sleep(1500);
    writing = false;
    await writer;

    // Which writes the promoted replica holds: those before the failover (replicated), none of those the old
    // master took between the promotion and the switch (Redis replication is asynchronous: Sentinel cannot
    // keep them), and every one since the client moved.
    const promoted = new Redis({ port: replica, host: '127.0.0.1', password: DATA_PASSWORD });
    try {
      expect(((await promoted.call('ROLE')) as unknown[])[0]).toBe('master');
      const held = await promoted.mget(writes.map((w) => w.key));
      const lastMissing = held.findLastIndex((value, i) => value !== writes[i].key.split(':')[1] || !writes[i].ok);
      expect(lastMissing).toBeLessThan(writes.length - 25);
      const movedAt = lastMissing === -1 ? failoverAt : writes[lastMissing].at;
      const during = writes.filter((w) => w.at >= failoverAt && w.at <= movedAt);
      console.info(`sentinel failover: ${writes.length} writes; ${during.filter((w) => !w.ok).length} failed and ${during.filter((w) => w.ok).length} went to the old master in the ${movedAt - failoverAt} ms before the client moved; ${writes.length - lastMissing - 1} since, all on the new master`);
      expect(movedAt - failoverAt).toBeLessThan(5000);
      expect(((await client.call('ROLE')) as unknown[])[0]).toBe('master');
      expect(await client.get(writes.at(-1)!.key)).toBe(writes.at(-1)!.key.split(':')[1]);
    } finally {
      promoted.disconnect();
    }
  });
});
