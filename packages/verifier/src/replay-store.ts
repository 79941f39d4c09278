// Where DPoP proof identifiers are remembered for as long as the proof could still be accepted (RFC 9449 §11.1),
// so a captured proof cannot be sent again. In memory for one process; `RedisReplayStore` for several.
import { ExpiringMap } from './expiring-map.ts';

export interface ReplayStore {
  /**
   * Remembers `key` for `ttlSeconds` and answers `true` if it was not already remembered; `false` means a replay.
   * Must be atomic: two concurrent calls with the same key never both get `true`.
   */
  checkAndStore(key: string, ttlSeconds: number): Promise<boolean>;
}

export interface MemoryReplayStoreOptions {
  /**
   * Proofs remembered at once (default 100 000). Size it for requests per second × the proof window: when it is
   * full of live proofs, new proofs are refused rather than old ones forgotten, since forgetting one would let it
   * be replayed.
   */
  maxEntries?: number;
}

/** The default store: correct for a single process only, since other instances cannot see its entries. */
export class MemoryReplayStore implements ReplayStore {
  readonly #seen: ExpiringMap<true>;
  // `checkAndStore` is synchronous inside, hence atomic on one event loop.
  constructor(options: MemoryReplayStoreOptions = {}) {
    this.#seen = new ExpiringMap({ maxEntries: options.maxEntries ?? 100_000, whenFull: 'refuse' });
  }

  async checkAndStore(key: string, ttlSeconds: number): Promise<boolean> {
    if (this.#seen.get(key)) return false;
    return this.#seen.set(key, true, ttlSeconds * 1000);
  }
}
