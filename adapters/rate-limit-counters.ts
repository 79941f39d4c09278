// Counters for the abuse limits, kept by rate-limiter-flexible: in Redis when the server has one (so every
// instance counts against the same limit), in process memory otherwise (embedded mode is one instance). A Redis
// that cannot be reached is not a reason to refuse or to stop counting: the same counter then runs in memory
// (the library's insurance limiter) until Redis is back, and the request goes on to meet the outage, if at all,
// where it matters.
import { hash } from 'node:crypto';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract, type IRateLimiterOptions } from 'rate-limiter-flexible';
import type { RateLimit } from '../config/rate-limits.ts';
import type { RedisClient } from './redis-connection.ts';

export interface CounterStore {
  /** Undefined: process memory. */
  redis?: RedisClient;
  /** Key prefix (REDIS_KEY_PREFIX); counters live under `<prefix>rl:<name>:`. */
  prefix: string;
}

/** What a consume found: `refusedMs` 0 when allowed; `crossed` when this attempt is the one that went over. */
export interface Consumed {
  refusedMs: number;
  crossed: boolean;
  consumed: number;
}

/**
 * When attempts are counted: `before` each attempt is made (the count decides whether it may be), or `after` it
 * was made and turned out to count (a failed authentication). Either way `limit.points` attempts get through:
 * counted after, the last one allowed is the one that starts the block, so the library's limit is one less.
 */
export type Counting = 'before' | 'after';

/** One limit's counters, keyed by any string (hashed, so usernames of any length or content make short keys). */
export class RateCounter {
  readonly limit: RateLimit;
  readonly #limiter: RateLimiterAbstract;
  readonly #libraryPoints: number;

  constructor(name: string, limit: RateLimit, store: CounterStore, counting: Counting = 'before') {
    this.limit = limit;
    this.#libraryPoints = counting === 'after' ? limit.points - 1 : limit.points;
    const options: IRateLimiterOptions = { keyPrefix: `${store.prefix}rl:${name}`, points: this.#libraryPoints, duration: limit.window, blockDuration: limit.block };
    this.#limiter = store.redis
      ? new ScriptedRateLimiterRedis({ ...options, storeClient: withCounterScript(store.redis), rejectIfRedisNotReady: true, insuranceLimiter: new RateLimiterMemory(options) })
      : new RateLimiterMemory(options);
  }

  /** Milliseconds until `key` is allowed again; 0 when it is allowed now. Counts nothing. */
  async refusedFor(key: string): Promise<number> {
    const state = await this.#limiter.get(hashed(key));
    return state && state.consumedPoints > this.#libraryPoints ? Math.max(1, state.msBeforeNext) : 0;
  }

  /** Counts one attempt. */
  async consume(key: string): Promise<Consumed> {
    try {
      const state = await this.#limiter.consume(hashed(key));
      return { refusedMs: 0, crossed: false, consumed: state.consumedPoints };
    } catch (refusal) {
      if (!(refusal instanceof RateLimiterRes)) throw refusal;
      return { refusedMs: Math.max(1, refusal.msBeforeNext), crossed: refusal.consumedPoints === this.#libraryPoints + 1, consumed: refusal.consumedPoints };
    }
  }

  /** Takes one counted attempt back (one that turned out to be legitimate). */
  async refund(key: string): Promise<void> {
    await this.#limiter.reward(hashed(key), 1);
  }

  /** Refuses `key` for `seconds` from now. */
  async block(key: string, seconds: number): Promise<void> {
    await this.#limiter.block(hashed(key), seconds);
  }

  async reset(key: string): Promise<void> {
    await this.#limiter.delete(hashed(key));
  }
}

// A counter's points and the milliseconds left in its window, read atomically; nil when there is no counter.
const READ_COUNTER = `local points = redis.call('GET', KEYS[1])
if not points then return false end
return {points, redis.call('PTTL', KEYS[1])}`;

type CounterScriptRedis = RedisClient & { agentauthReadCounter(key: string): Promise<[string, number] | null> };

/** The client with READ_COUNTER defined on it (once per client, however many counters share it). */
function withCounterScript(redis: RedisClient): CounterScriptRedis {
  if (!('agentauthReadCounter' in redis)) redis.defineCommand('agentauthReadCounter', { numberOfKeys: 1, lua: READ_COUNTER });
  return redis as CounterScriptRedis;
}

/**
 * rate-limiter-flexible reads a counter with MULTI, GET, PTTL, EXEC: a transaction ioredis cannot pipeline with
 * anything else, so every read is a write(2) of its own, and the token endpoint reads two counters per request
 * (both tiers of client authentication). The profile of the token endpoint put these reads at ~70 µs of CPU and
 * ~30 KB of garbage per request. One script call per counter reads the same two values, as atomically, as one
 * command that auto-pipelining sends together with the request's other commands. Everything else (what a read
 * means, the insurance limiter when Redis fails) stays the library's.
 */
class ScriptedRateLimiterRedis extends RateLimiterRedis {
  async _get(rlKey: string): Promise<[string, number] | null> {
    const self = this as unknown as { client: CounterScriptRedis; _isRedisReady(key: string, readOnly: boolean): boolean };
    if (!self._isRedisReady(rlKey, true)) throw new Error('Redis connection is not ready');
    return self.client.agentauthReadCounter(rlKey);
  }
}

// crypto.hash, one call into OpenSSL: createHash().update().digest() builds a Hash object per key, and two keys
// per token request made it ~8 µs of the request in the profile.
function hashed(key: string): string {
  return hash('sha256', key, 'base64url');
}
