// oidc-provider storage in Redis (ioredis), shared by every instance.
// - Keys hold SHA-256 hashes of ids, never live token values (see storage-rules.ts).
// - One-time use is atomic here, not in oidc-provider (whose check-then-set races): `consume` is a single-key
//   Lua HSETNX and DPoP replay detection a SET NX, so concurrent redemptions across instances succeed once.
// - Cluster-safe: every command and script touches one key.
// - An unreachable Redis is StorageUnavailable (503 temporarily_unavailable), thrown from every method.
import type { Redis } from 'ioredis';
import type { Adapter, AdapterPayload } from 'oidc-provider';
import { redisFailure } from './dependency-faults.ts';
import { CONSUMABLE, GRANTABLE, alreadyConsumed, hashId, replayDetected } from './storage-rules.ts';

// Replaces a record (dropping a stale `consumed` mark) and sets its TTL, atomically. One script instead of a
// MULTI/DEL/HSET/EXPIRE/EXEC transaction: ioredis spends ~25 µs of CPU on that transaction against ~7 µs on
// one EVALSHA, and this runs for every token issued. ARGV[2] is the TTL in seconds, or '' for none.
const PUT_RECORD = `redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'payload', ARGV[1])
if ARGV[2] ~= '' then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return 1`;

// Adds a record to its grant's index, which lives as long as its longest-lived member (forever if one has no TTL).
const INDEX_IN_GRANT = `redis.call('SADD', KEYS[1], ARGV[1])
if ARGV[2] == '' then redis.call('PERSIST', KEYS[1]) else
  redis.call('EXPIRE', KEYS[1], ARGV[2], 'NX')
  redis.call('EXPIRE', KEYS[1], ARGV[2], 'GT')
end
return 1`;

// -1: no such record; 1: this caller consumed it; 0: someone already had.
const CONSUME = `if redis.call('HEXISTS', KEYS[1], 'payload') == 0 then return -1 end
return redis.call('HSETNX', KEYS[1], 'consumed', ARGV[1])`;

export interface RedisAdapterOptions {
  prefix: string;
  /** Added to every TTL so records outlive `exp` by the provider's clock tolerance, as it expects. */
  clockTolerance: number;
}

export class RedisAdapter implements Adapter {
  readonly #name: string;
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #tolerance: number;

  constructor(name: string, redis: Redis, options: RedisAdapterOptions) {
    this.#name = name;
    this.#redis = redis;
    this.#prefix = options.prefix;
    this.#tolerance = options.clockTolerance;
  }

  #key(id: string): string {
    return `${this.#prefix}${this.#name}:${hashId(id)}`;
  }

  #indexKey(kind: 'uid' | 'userCode', value: string): string {
    return `${this.#prefix}${this.#name}:${kind}:${hashId(value)}`;
  }

  #grantKey(grantId: string): string {
    return `${this.#prefix}grant:${grantId}`;
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    try {
      const key = this.#key(id);
      const ttl = typeof expiresIn === 'number' ? Math.max(1, Math.ceil(expiresIn + this.#tolerance)) : undefined;

      if (this.#name === 'ReplayDetection') {
        const stored = await this.#redis.set(key, '1', 'EX', ttl ?? 300, 'NX');
        if (stored === null) throw replayDetected();
        return;
      }

      // Index first, so a token is never stored without being reachable from its grant.
      if (GRANTABLE.has(this.#name) && payload.grantId) {
        await (this.#redis as ScriptedRedis).agentauthIndexInGrant(this.#grantKey(payload.grantId), key, ttl ? String(ttl) : '');
      }

      const { jti, ...rest } = payload;
      await (this.#redis as ScriptedRedis).agentauthPutRecord(key, JSON.stringify(jti === id ? rest : payload), ttl ? String(ttl) : '');

      // The session uid index has to give back the session id itself: oidc-provider looks sessions up by uid
      // and then uses the returned id (jti) as the session. It is a value, never a key.
      const indexes: Promise<unknown>[] = [];
      if (payload.uid) indexes.push(this.#setIndex(this.#indexKey('uid', payload.uid), id, ttl));
      if (payload.userCode) indexes.push(this.#setIndex(this.#indexKey('userCode', payload.userCode), id, ttl));
      await Promise.all(indexes);
    } catch (error) {
      throw redisFailure(error);
    }
  }

  #setIndex(key: string, id: string, ttl: number | undefined) {
    return ttl ? this.#redis.set(key, id, 'EX', ttl) : this.#redis.set(key, id);
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    try {
      // oidc-provider's ReplayDetection.unique() reads before it writes; answering "never seen" makes the atomic
      // SET NX in upsert the only judge, so sequential and concurrent replays get the same error.
      if (this.#name === 'ReplayDetection') return undefined;
      const stored = await this.#redis.hmget(this.#key(id), 'payload', 'consumed');
      const [payload, consumed] = stored;
      if (!payload) return undefined;
      const parsed = JSON.parse(payload) as AdapterPayload;
      return { ...parsed, jti: parsed.jti ?? id, ...(consumed ? { consumed: Number(consumed) } : {}) };
    } catch (error) {
      throw redisFailure(error);
    }
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    try {
      const id = await this.#redis.get(this.#indexKey('uid', uid));
      return id ? this.find(id) : undefined;
    } catch (error) {
      throw redisFailure(error);
    }
  }

  async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    try {
      const id = await this.#redis.get(this.#indexKey('userCode', userCode));
      return id ? this.find(id) : undefined;
    } catch (error) {
      throw redisFailure(error);
    }
  }

  async consume(id: string): Promise<void> {
    try {
      const result = await this.#redis.eval(CONSUME, 1, this.#key(id), Math.floor(Date.now() / 1000));
      if (result === 0 && CONSUMABLE.has(this.#name)) throw alreadyConsumed(this.#name);
    } catch (error) {
      throw redisFailure(error);
    }
  }

  async destroy(id: string): Promise<void> {
    try {
      await this.#redis.del(this.#key(id));
    } catch (error) {
      throw redisFailure(error);
    }
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    try {
      const grantKey = this.#grantKey(grantId);
      const members = await this.#redis.smembers(grantKey);
      // One DEL per key: members live in different cluster slots.
      await Promise.all([...members.map((member) => this.#redis.del(member)), this.#redis.del(grantKey)]);
    } catch (error) {
      throw redisFailure(error);
    }
  }
}

/** The client with our scripts defined on it (ioredis sends EVALSHA and falls back to EVAL after a NOSCRIPT). */
type ScriptedRedis = Redis & {
  agentauthPutRecord(key: string, payload: string, ttl: string): Promise<number>;
  agentauthIndexInGrant(grantKey: string, member: string, ttl: string): Promise<number>;
};

export function redisAdapterFactory(redis: Redis, options: RedisAdapterOptions): (name: string) => RedisAdapter {
  if (!('agentauthPutRecord' in redis)) {
    redis.defineCommand('agentauthPutRecord', { numberOfKeys: 1, lua: PUT_RECORD });
    redis.defineCommand('agentauthIndexInGrant', { numberOfKeys: 1, lua: INDEX_IN_GRANT });
  }
  const adapters = new Map<string, RedisAdapter>();
  return (name) => {
    let adapter = adapters.get(name);
    if (!adapter) adapters.set(name, (adapter = new RedisAdapter(name, redis, options)));
    return adapter;
  };
}
