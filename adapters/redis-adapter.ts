// oidc-provider storage in Redis (ioredis), shared by every instance.
// - Keys hold SHA-256 hashes of ids, never live token values (see storage-rules.ts).
// - One-time use is atomic here, not in oidc-provider (whose check-then-set races): `consume` is a single-key
//   Lua HSETNX and a replay claim (DPoP proofs, client assertions) a SET NX, so concurrent redemptions across
//   instances succeed once. The loser of a redemption revokes the grant, as oidc-provider does for a reuse it sees.
// - Cluster-safe: every command and script touches one key, so no key needs a hash tag and records spread over
//   every master. A script that must touch several keys has to hash-tag them into one slot (CROSSSLOT otherwise).
// - An unreachable Redis is StorageUnavailable (503 temporarily_unavailable), thrown from every method.
import type { Adapter, AdapterPayload } from 'oidc-provider';
import { redisFailure } from './dependency-faults.ts';
import type { RedisClient } from './redis-connection.ts';
import { CONSUMABLE, GRANTABLE, REPLAY_CLAIM_SECONDS, alreadyConsumed, goneBeforeUse, hashId, replayedRecord } from './storage-rules.ts';

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

// -1: no such record; 1: this caller consumed it; otherwise someone already had, and the answer is the stored
// payload, whose grant the caller then revokes.
const CONSUME = `if redis.call('HEXISTS', KEYS[1], 'payload') == 0 then return -1 end
if redis.call('HSETNX', KEYS[1], 'consumed', ARGV[1]) == 1 then return 1 end
return redis.call('HGET', KEYS[1], 'payload')`;

export interface RedisAdapterOptions {
  prefix: string;
  /** Added to every TTL so records outlive `exp` by the provider's clock tolerance, as it expects. */
  clockTolerance: number;
}

/** Ends a grant: its record and every token and code issued under it (a reuse was detected). */
export type GrantRevoker = (grantId: string) => Promise<void>;

export class RedisAdapter implements Adapter {
  readonly #name: string;
  readonly #redis: RedisClient;
  readonly #prefix: string;
  readonly #tolerance: number;
  readonly #revokeGrant: GrantRevoker;

  constructor(name: string, redis: RedisClient, options: RedisAdapterOptions, revokeGrant: GrantRevoker) {
    this.#name = name;
    this.#redis = redis;
    this.#prefix = options.prefix;
    this.#tolerance = options.clockTolerance;
    this.#revokeGrant = revokeGrant;
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
        // The claim was taken by find(); this only lengthens it for an artifact that lives longer than a claim.
        if (ttl !== undefined && ttl > REPLAY_CLAIM_SECONDS) await this.#redis.set(key, '1', 'EX', ttl);
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
      // oidc-provider's ReplayDetection.unique() reads before it writes: the read is the atomic claim, so sequential
      // and concurrent replays are judged alike (storage-rules.ts).
      if (this.#name === 'ReplayDetection') {
        const claimed = await this.#redis.set(this.#key(id), '1', 'EX', REPLAY_CLAIM_SECONDS, 'NX');
        return claimed === null ? (replayedRecord(id) as AdapterPayload) : undefined;
      }
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
    let result: 1 | -1 | string;
    try {
      result = await (this.#redis as ScriptedRedis).agentauthConsume(this.#key(id), String(Math.floor(Date.now() / 1000)));
    } catch (error) {
      throw redisFailure(error);
    }
    if (result === 1 || !CONSUMABLE.has(this.#name)) return;
    if (result === -1) throw goneBeforeUse(this.#name);
    // RFC 6749 §4.1.2 and §10.4, OAuth 2.1 §4.3.1: a code or refresh token used twice ends its grant, whichever
    // request got there first; the winner's tokens go with it.
    const { grantId } = JSON.parse(result) as { grantId?: string };
    if (grantId) await this.#revokeGrant(grantId);
    throw alreadyConsumed(this.#name);
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

/**
 * The client with our scripts defined on it. ioredis sends EVALSHA and falls back to EVAL after a NOSCRIPT, on a
 * Cluster to the node owning the key, so a node that never saw the script (new, restarted, failed over) learns it.
 */
type ScriptedRedis = RedisClient & {
  agentauthPutRecord(key: string, payload: string, ttl: string): Promise<number>;
  agentauthIndexInGrant(grantKey: string, member: string, ttl: string): Promise<number>;
  agentauthConsume(key: string, now: string): Promise<1 | -1 | string>;
};

export function redisAdapterFactory(redis: RedisClient, options: RedisAdapterOptions): (name: string) => RedisAdapter {
  if (!('agentauthPutRecord' in redis)) {
    redis.defineCommand('agentauthPutRecord', { numberOfKeys: 1, lua: PUT_RECORD });
    redis.defineCommand('agentauthIndexInGrant', { numberOfKeys: 1, lua: INDEX_IN_GRANT });
    redis.defineCommand('agentauthConsume', { numberOfKeys: 1, lua: CONSUME });
  }
  const adapters = new Map<string, RedisAdapter>();
  const adapter = (name: string): RedisAdapter => {
    let found = adapters.get(name);
    if (!found) adapters.set(name, (found = new RedisAdapter(name, redis, options, revokeGrant)));
    return found;
  };
  // The grant index holds every grantable model's records, so one revokeByGrantId ends them all.
  const revokeGrant: GrantRevoker = async (grantId) => {
    await Promise.all([adapter('Grant').destroy(grantId), adapter('AccessToken').revokeByGrantId(grantId)]);
  };
  return adapter;
}
