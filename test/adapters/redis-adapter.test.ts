import { afterAll, describe, expect, it } from 'vitest';
import type { AdapterPayload } from 'oidc-provider';
import { redisAdapterFactory } from '../../adapters/redis-adapter.ts';
import { REPLAY_CLAIM_SECONDS, hashId } from '../../adapters/storage-rules.ts';
import { connectTestRedis, dropRedisPrefix, uniqueRedisPrefix } from '../support/services.ts';
import { describeAdapterContract } from './adapter-contract.ts';

const prefix = uniqueRedisPrefix('redis-adapter');
const redis = connectTestRedis();
afterAll(async () => {
  await dropRedisPrefix(redis, prefix);
  await redis.quit();
});

describeAdapterContract('RedisAdapter', async () => ({ factory: redisAdapterFactory(redis, { prefix, clockTolerance: 0 }), teardown: async () => {} }));

describe('RedisAdapter specifics', () => {
  const second = connectTestRedis();
  afterAll(() => second.quit());
  const one = redisAdapterFactory(redis, { prefix, clockTolerance: 15 });
  const two = redisAdapterFactory(second, { prefix, clockTolerance: 15 });

  it('never writes a token value into a key or a stored value', async () => {
    const token = `secret-token-value-${Date.now()}`;
    await one('AccessToken').upsert(token, { jti: token, kind: 'AccessToken', grantId: `g-${token.length}` } as AdapterPayload, 60);
    let cursor = '0';
    const keys: string[] = [];
    do {
      const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    expect(keys.some((key) => key.includes(token))).toBe(false);
    for (const key of keys) {
      const type = await redis.type(key);
      const value = type === 'hash' ? JSON.stringify(await redis.hgetall(key)) : type === 'set' ? JSON.stringify(await redis.smembers(key)) : String(await redis.get(key));
      expect(value.includes(token), key).toBe(false);
    }
  });

  it('sets the TTL to expiresIn + clockTolerance', async () => {
    const id = `ttl-${Date.now()}`;
    await one('AccessToken').upsert(id, { jti: id } as AdapterPayload, 100);
    const keys = await redis.keys(`${prefix}AccessToken:*`);
    const ttls = await Promise.all(keys.map((key) => redis.ttl(key)));
    expect(ttls).toContain(115);
  });

  it('replaces a record whole: a re-upserted record is no longer consumed, and one without expiresIn never expires', async () => {
    const id = `replace-${Date.now()}`;
    const adapter = one('RefreshToken');
    await adapter.upsert(id, { jti: id, kind: 'RefreshToken', scope: 'a' } as AdapterPayload, 60);
    await adapter.consume(id);
    await adapter.upsert(id, { jti: id, kind: 'RefreshToken', scope: 'b' } as AdapterPayload);
    const found = await adapter.find(id);
    expect(found).toMatchObject({ scope: 'b' });
    expect(found?.consumed).toBeUndefined();
    expect(await redis.ttl(`${prefix}RefreshToken:${hashId(id)}`)).toBe(-1);
  });

  it('keeps a grant index as long as its longest-lived member, and for good once a member never expires', async () => {
    const grantId = `grant-ttl-${Date.now()}`;
    const grantKey = `${prefix}grant:${grantId}`;
    await one('RefreshToken').upsert(`${grantId}-rt`, { jti: `${grantId}-rt`, grantId } as AdapterPayload, 600);
    await one('AccessToken').upsert(`${grantId}-at`, { jti: `${grantId}-at`, grantId } as AdapterPayload, 60);
    expect(await redis.ttl(grantKey)).toBe(615);
    expect(await redis.scard(grantKey)).toBe(2);
    await one('AuthorizationCode').upsert(`${grantId}-code`, { jti: `${grantId}-code`, grantId } as AdapterPayload);
    expect(await redis.ttl(grantKey)).toBe(-1);
  });

  it('holds a replay claim for the DPoP window from the first read, longer only for a longer-lived artifact', async () => {
    const proof = `claim-${Date.now()}`;
    const assertion = `${proof}-assertion`;
    expect(await one('ReplayDetection').find(proof)).toBeUndefined();
    await one('ReplayDetection').upsert(proof, { jti: proof } as AdapterPayload, 300);
    expect(await redis.ttl(`${prefix}ReplayDetection:${hashId(proof)}`)).toBe(REPLAY_CLAIM_SECONDS);
    expect(await one('ReplayDetection').find(assertion)).toBeUndefined();
    await one('ReplayDetection').upsert(assertion, { jti: assertion } as AdapterPayload, 3600);
    expect(await redis.ttl(`${prefix}ReplayDetection:${hashId(assertion)}`)).toBe(3615);
  });

  it('keeps writing after Redis forgets its scripts (restart, SCRIPT FLUSH, failover)', async () => {
    await redis.script('FLUSH');
    const id = `flushed-${Date.now()}`;
    await one('AccessToken').upsert(id, { jti: id, kind: 'AccessToken' } as AdapterPayload, 60);
    expect(await two('AccessToken').find(id)).toMatchObject({ jti: id });
  });

  it('shares records, consumption and replay detection between two connections (two instances)', async () => {
    const id = `shared-${Date.now()}`;
    await one('RefreshToken').upsert(id, { jti: id, kind: 'RefreshToken' } as AdapterPayload, 60);
    expect(await two('RefreshToken').find(id)).toMatchObject({ jti: id });
    await one('RefreshToken').consume(id);
    await expect(two('RefreshToken').consume(id)).rejects.toThrow();
    expect(await one('ReplayDetection').find(`proof-${id}`)).toBeUndefined();
    await expect(two('ReplayDetection').find(`proof-${id}`)).rejects.toMatchObject({ error: 'invalid_dpop_proof' });
  });
});
