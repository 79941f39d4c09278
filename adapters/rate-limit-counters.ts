// Counters for the abuse limits, kept by rate-limiter-flexible: in Redis when the server has one (so every
// instance counts against the same limit), in process memory otherwise (embedded mode is one instance). A Redis
// that cannot be reached is not a reason to refuse or to stop counting: the same counter then runs in memory
// (the library's insurance limiter) until Redis is back, and the request goes on to meet the outage, if at all,
// where it matters.
import { createHash } from 'node:crypto';
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
      ? new RateLimiterRedis({ ...options, storeClient: store.redis, rejectIfRedisNotReady: true, insuranceLimiter: new RateLimiterMemory(options) })
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

function hashed(key: string): string {
  return createHash('sha256').update(key).digest('base64url');
}
