// The replay store for several resource-server instances: one `SET key 1 EX ttl NX` per proof, atomic in Redis,
// so a proof accepted by one instance is refused by every other.
import type { ReplayStore } from './replay-store.ts';

/**
 * The one Redis command used, typed structurally so this module imports nothing: an ioredis `Redis` or `Cluster`
 * fits, and users without ioredis are not made to install it.
 */
export interface RedisSetNx {
  set(key: string, value: string, expiry: 'EX', seconds: number, mode: 'NX'): Promise<'OK' | null>;
}

export interface RedisReplayStoreOptions {
  /** Prefix of every key (default `dpop-jti:`), so one Redis can be shared. */
  prefix?: string;
}

export class RedisReplayStore implements ReplayStore {
  readonly #redis: RedisSetNx;
  readonly #prefix: string;

  constructor(redis: RedisSetNx, options: RedisReplayStoreOptions = {}) {
    this.#redis = redis;
    this.#prefix = options.prefix ?? 'dpop-jti:';
  }

  async checkAndStore(key: string, ttlSeconds: number): Promise<boolean> {
    return (await this.#redis.set(`${this.#prefix}${key}`, '1', 'EX', Math.max(1, Math.ceil(ttlSeconds)), 'NX')) === 'OK';
  }
}
