// An in-process cache of durable rows read on every token request (clients, agents, resources): a PostgreSQL
// round trip per request would otherwise dominate the token endpoint. Entries never expire by time; every
// write drops the entry here and, through the change feed, at every other instance.
//
// The kill switch (suspending, revoking or deleting an agent or client) must hold at every instance before the
// admin call answers, or not happen at all. So the rules are:
// - a write changes its row, announces the change, and only then commits, in one transaction
//   (`writeAnnounced`): when the announcement cannot be made, the transaction rolls back and nothing changed;
// - `load` functions read with FOR SHARE, so a load that starts while such a transaction is open waits for
//   its commit and reads the new row, instead of the old one it could then keep;
// - the cache serves from memory only while its change feed is live (see change-feed.ts), so an instance
//   that could miss announcements reads the database instead.
import type { Transaction } from 'kysely';
import type { ChangeFeed } from './change-feed.ts';
import type { Database, Tables } from './database.ts';

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
    if (!this.#feed.live) return load();
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

  /**
   * Call after the row changed in the database, before that change commits (`writeAnnounced` does both).
   * Throws StorageUnavailable when the other instances cannot be told.
   */
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

/**
 * Runs `write` (which must change, and so lock, the row cached under `key`) in a transaction that announces
 * the change before committing it: every instance has dropped the row before the change can be read, and
 * when they cannot be told the change rolls back (StorageUnavailable: 503, nothing changed).
 */
export function writeAnnounced<R>(
  db: Database,
  cache: ReadThroughCache<unknown> | undefined,
  key: string,
  write: (trx: Transaction<Tables>) => Promise<R>,
): Promise<R> {
  return db.transaction().execute(async (trx) => {
    const result = await write(trx);
    await cache?.invalidate(key);
    return result;
  });
}
