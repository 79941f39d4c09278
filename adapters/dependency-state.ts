// Whether Redis or PostgreSQL is reachable from this instance, as last observed, with one log line when that
// changes: an outage shows as one "unavailable" line and one "back" line per dependency, not one per failed
// request or reconnection attempt.
import type { RedisClient } from './redis-connection.ts';
import type { Dependency } from './dependency-faults.ts';

const NAMES: Record<Dependency, string> = { redis: 'Redis', database: 'PostgreSQL' };

export class DependencyState {
  readonly dependency: Dependency;
  readonly #log: (line: string) => void;
  // Optimistic until a failure is seen, so a normal start logs nothing.
  #available = true;
  readonly #failureListeners: (() => void)[] = [];

  constructor(dependency: Dependency, log: (line: string) => void) {
    this.dependency = dependency;
    this.#log = log;
  }

  get available(): boolean {
    return this.#available;
  }

  /** Called with every failure, including those while already down (metrics count them). */
  onFailure(listener: () => void): void {
    this.#failureListeners.push(listener);
  }

  down(reason: string): void {
    for (const listener of this.#failureListeners) listener();
    if (!this.#available) return;
    this.#available = false;
    this.#log(`${NAMES[this.dependency]} is unavailable (${reason}); requests that need it answer 503 temporarily_unavailable until it is back`);
  }

  up(): void {
    if (this.#available) return;
    this.#available = true;
    this.#log(`${NAMES[this.dependency]} is back; serving again`);
  }
}

/**
 * Follows a Redis connection's events until the returned function is called (before closing the connection on
 * purpose, which is no outage). The `error` listener also keeps ioredis from printing "[ioredis] Unhandled error
 * event" for every failed reconnection attempt.
 */
export function watchRedis(redis: RedisClient, state: DependencyState): () => void {
  let watching = true;
  redis.on('ready', () => watching && state.up());
  // A close is the outage starting; the failed reconnections after it each report an error of their own.
  redis.on('close', () => watching && state.available && state.down('connection closed'));
  redis.on('error', (error: Error) => watching && state.down(error.message));
  return () => {
    watching = false;
  };
}
