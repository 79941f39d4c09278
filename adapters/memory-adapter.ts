// In-process storage for the embedded mode (a single instance). The same rules as the Redis adapter
// (storage-rules.ts): hashed keys, one-time use and replay detection that cannot race, a grant index.
import type { Adapter, AdapterPayload } from 'oidc-provider';
import { CONSUMABLE, GRANTABLE, REPLAY_CLAIM_SECONDS, alreadyConsumed, goneBeforeUse, hashId, replayedRecord } from './storage-rules.ts';

// Payloads are kept as JSON text, as Redis keeps them: callers get copies and can never alter what is stored.
interface Entry { payload: string; consumed?: number; expiresAt?: number }
interface Store { records: Map<string, Entry>; grants: Map<string, Set<string>>; indexes: Map<string, { id: string; expiresAt?: number }> }

const SWEEP_INTERVAL_MS = 60_000;

const recordKey = (model: string, id: string): string => `${model}:${hashId(id)}`;

export class MemoryAdapter implements Adapter {
  readonly #name: string;
  readonly #store: Store;
  readonly #tolerance: number;

  constructor(name: string, store: Store, options: { clockTolerance: number }) {
    this.#name = name;
    this.#store = store;
    this.#tolerance = options.clockTolerance;
  }

  #key(id: string): string {
    return recordKey(this.#name, id);
  }

  #live(key: string): Entry | undefined {
    const entry = this.#store.records.get(key);
    if (entry?.expiresAt !== undefined && entry.expiresAt <= Date.now()) {
      this.#store.records.delete(key);
      return undefined;
    }
    return entry;
  }

  // JavaScript runs one callback at a time, so check-and-set without an await in between cannot race.
  async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    const key = this.#key(id);
    const expiresAt = typeof expiresIn === 'number' ? Date.now() + (expiresIn + this.#tolerance) * 1000 : undefined;
    if (this.#name === 'ReplayDetection') {
      // The claim was taken by find(); this only lengthens it for an artifact that lives longer than a claim.
      if (expiresAt !== undefined && expiresAt > (this.#live(key)?.expiresAt ?? 0)) this.#store.records.set(key, { payload: '{}', expiresAt });
      return;
    }
    if (GRANTABLE.has(this.#name) && payload.grantId) {
      const members = this.#store.grants.get(payload.grantId) ?? new Set<string>();
      members.add(key);
      this.#store.grants.set(payload.grantId, members);
    }
    const { jti, ...rest } = payload;
    this.#store.records.set(key, { payload: JSON.stringify(jti === id ? rest : payload), expiresAt });
    if (payload.uid) this.#store.indexes.set(`${this.#name}:uid:${hashId(payload.uid)}`, { id, expiresAt });
    if (payload.userCode) this.#store.indexes.set(`${this.#name}:userCode:${hashId(payload.userCode)}`, { id, expiresAt });
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    // As in the Redis adapter: the read is the atomic claim (storage-rules.ts).
    if (this.#name === 'ReplayDetection') {
      const key = this.#key(id);
      if (this.#live(key)) return replayedRecord(id) as AdapterPayload;
      this.#store.records.set(key, { payload: '{}', expiresAt: Date.now() + REPLAY_CLAIM_SECONDS * 1000 });
      return undefined;
    }
    const entry = this.#live(this.#key(id));
    if (!entry) return undefined;
    const payload = JSON.parse(entry.payload) as AdapterPayload;
    return { ...payload, jti: payload.jti ?? id, ...(entry.consumed ? { consumed: entry.consumed } : {}) };
  }

  #findIndexed(key: string): Promise<AdapterPayload | undefined> {
    const index = this.#store.indexes.get(key);
    if (!index || (index.expiresAt !== undefined && index.expiresAt <= Date.now())) return Promise.resolve(undefined);
    return this.find(index.id);
  }

  findByUid(uid: string): Promise<AdapterPayload | undefined> {
    return this.#findIndexed(`${this.#name}:uid:${hashId(uid)}`);
  }

  findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    return this.#findIndexed(`${this.#name}:userCode:${hashId(userCode)}`);
  }

  async consume(id: string): Promise<void> {
    const entry = this.#live(this.#key(id));
    const oneTime = CONSUMABLE.has(this.#name);
    if (!entry) {
      if (oneTime) throw goneBeforeUse(this.#name);
      return;
    }
    if (!entry.consumed) {
      entry.consumed = Math.floor(Date.now() / 1000);
      return;
    }
    if (!oneTime) return;
    // As in the Redis adapter: a second use ends the grant, the first use's tokens included.
    const { grantId } = JSON.parse(entry.payload) as { grantId?: string };
    if (grantId) {
      this.#store.records.delete(recordKey('Grant', grantId));
      await this.revokeByGrantId(grantId);
    }
    throw alreadyConsumed(this.#name);
  }

  async destroy(id: string): Promise<void> {
    this.#store.records.delete(this.#key(id));
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    for (const key of this.#store.grants.get(grantId) ?? []) this.#store.records.delete(key);
    this.#store.grants.delete(grantId);
  }
}

/** Each call owns a store of its own, so two providers in one process never share data. */
export function memoryAdapterFactory(options: { clockTolerance: number }): (name: string) => MemoryAdapter {
  const store: Store = { records: new Map(), grants: new Map(), indexes: new Map() };
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [key, entry] of store.records) if (entry.expiresAt !== undefined && entry.expiresAt <= now) store.records.delete(key);
    for (const [key, index] of store.indexes) if (index.expiresAt !== undefined && index.expiresAt <= now) store.indexes.delete(key);
    for (const [grantId, members] of store.grants) {
      for (const key of members) if (!store.records.has(key)) members.delete(key);
      if (!members.size) store.grants.delete(grantId);
    }
  }, SWEEP_INTERVAL_MS);
  sweep.unref();
  const adapters = new Map<string, MemoryAdapter>();
  return (name) => {
    let adapter = adapters.get(name);
    if (!adapter) adapters.set(name, (adapter = new MemoryAdapter(name, store, options)));
    return adapter;
  };
}
