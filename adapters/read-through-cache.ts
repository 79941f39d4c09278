// An in-process cache of durable rows read on every token request (clients, resources): a PostgreSQL round
// trip per request would otherwise dominate the token endpoint. Entries never expire by time; every write
// drops the entry here and, through the change feed, at every other instance.
import type { ChangeFeed } from './change-feed.ts';

export class ReadThroughCache<T> {
  readonly #entries = new Map<string, T>();
  readonly #topic: string;
  readonly #feed: ChangeFeed;
  readonly #maxEntries: number;
  // Bumped by every invalidation, so a load that started before a change cannot store what it read.
  #epoch = 0;

  constructor(topic: string, feed: ChangeFeed, maxEntries = 10_000) {
    this.#topic = topic;
    this.#feed = feed;
    this.#maxEntries = maxEntries;
    feed.subscribe(topic, (key) => this.#forget(key), () => this.#forgetAll());
  }

  async get(key: string, load: () => Promise<T | undefined>): Promise<T | undefined> {
    const cached = this.#entries.get(key);
    if (cached !== undefined) {
      // Refresh recency: Map iteration order is insertion order, so the first key is the least recently used.
      this.#entries.delete(key);
      this.#entries.set(key, cached);
      return cached;
    }
    const epoch = this.#epoch;
    const loaded = await load();
    if (loaded !== undefined && epoch === this.#epoch) {
      if (this.#entries.size >= this.#maxEntries) this.#entries.delete(this.#entries.keys().next().value!);
      this.#entries.set(key, loaded);
    }
    return loaded;
  }

  /** Call after the row changed in the database. */
  async invalidate(key: string): Promise<void> {
    this.#forget(key);
    await this.#feed.publish(this.#topic, key);
  }

  #forget(key: string): void {
    this.#epoch += 1;
    this.#entries.delete(key);
  }

  #forgetAll(): void {
    this.#epoch += 1;
    this.#entries.clear();
  }
}
