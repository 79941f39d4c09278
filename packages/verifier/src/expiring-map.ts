// A bounded in-memory map whose entries expire: the introspection cache and the in-memory DPoP replay store.
// Bounded because both are filled by requests, i.e. by whoever sends them.

export interface ExpiringMapOptions {
  maxEntries: number;
  /**
   * What `set` does when the map is full of live entries: `evict-oldest` suits a cache (losing an entry costs one
   * lookup); `refuse` suits a replay store, where forgetting a live entry would let it be replayed.
   */
  whenFull: 'evict-oldest' | 'refuse';
  now?: () => number;
}

export class ExpiringMap<V> {
  readonly #entries = new Map<string, { value: V; expiresAt: number }>();
  readonly #options: ExpiringMapOptions;
  readonly #now: () => number;
  #lastSweep = 0;

  constructor(options: ExpiringMapOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  get(key: string): V | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt > this.#now()) return entry.value;
    this.#entries.delete(key);
    return undefined;
  }

  /** Stores `value` for `ttlMs`; `false` when the map is full and refuses new entries. */
  set(key: string, value: V, ttlMs: number): boolean {
    if (!this.#entries.has(key) && this.#entries.size >= this.#options.maxEntries) {
      this.#sweep();
      if (this.#entries.size >= this.#options.maxEntries) {
        if (this.#options.whenFull === 'refuse') return false;
        this.#entries.delete(this.#entries.keys().next().value!);
      }
    }
    this.#entries.delete(key);
    this.#entries.set(key, { value, expiresAt: this.#now() + ttlMs });
    return true;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Drops expired entries, at most once a second so a full map does not cost a full scan per request. */
  #sweep(): void {
    const now = this.#now();
    if (now - this.#lastSweep < 1_000) return;
    this.#lastSweep = now;
    for (const [key, entry] of this.#entries) if (entry.expiresAt <= now) this.#entries.delete(key);
  }
}
