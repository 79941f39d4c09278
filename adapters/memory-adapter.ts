// In-process storage for the embedded mode (one instance). Same semantics as the Redis adapter: hashed keys,
// atomic consume and replay detection, a grant index for revokeByGrantId.
import { createHash } from 'node:crypto';
import { errors, type Adapter, type AdapterPayload } from 'oidc-provider';

const CONSUMABLE = new Set(['AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest', 'PushedAuthorizationRequest', 'PreAuthorizedCode']);

interface Entry { payload: AdapterPayload; consumed?: number; expiresAt?: number }

const hash = (value: string) => createHash('sha256').update(value).digest('base64url');

export class MemoryAdapter implements Adapter {
  readonly #name: string;
  readonly #store: Map<string, Entry>;
  readonly #tolerance: number;

  constructor(name: string, store: Map<string, Entry>, options: { clockTolerance: number }) {
    this.#name = name;
    this.#store = store;
    this.#tolerance = options.clockTolerance;
  }

  #key(id: string) { return `${this.#name}:${hash(id)}`; }

  #get(key: string): Entry | undefined {
    const entry = this.#store.get(key);
    if (entry?.expiresAt !== undefined && entry.expiresAt <= Date.now()) {
      this.#store.delete(key);
      return undefined;
    }
    return entry;
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    const key = this.#key(id);
    const expiresAt = typeof expiresIn === 'number' ? Date.now() + (expiresIn + this.#tolerance) * 1000 : undefined;
    if (this.#name === 'ReplayDetection' && this.#get(key)) {
      throw new errors.InvalidDpopProof('DPoP proof JWT replay detected');
    }
    const { jti, ...rest } = payload;
    this.#store.set(key, { payload: jti === id ? rest : payload, expiresAt });
    if (payload.grantId) {
      const grantKey = `grant:${payload.grantId}`;
      const members = (this.#store.get(grantKey)?.payload.members as string[] | undefined) ?? [];
      this.#store.set(grantKey, { payload: { members: [...members, key] } });
    }
    if (payload.uid) this.#store.set(`${this.#name}:uid:${hash(payload.uid)}`, { payload: { id }, expiresAt });
    if (payload.userCode) this.#store.set(`${this.#name}:userCode:${hash(payload.userCode)}`, { payload: { id }, expiresAt });
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    if (this.#name === 'ReplayDetection') return undefined;
    const entry = this.#get(this.#key(id));
    if (!entry) return undefined;
    return { ...entry.payload, jti: entry.payload.jti ?? id, ...(entry.consumed ? { consumed: entry.consumed } : {}) };
  }

  async findByUid(uid: string) {
    const id = this.#get(`${this.#name}:uid:${hash(uid)}`)?.payload.id as string | undefined;
    return id ? this.find(id) : undefined;
  }

  async findByUserCode(userCode: string) {
    const id = this.#get(`${this.#name}:userCode:${hash(userCode)}`)?.payload.id as string | undefined;
    return id ? this.find(id) : undefined;
  }

  async consume(id: string): Promise<void> {
    const entry = this.#get(this.#key(id));
    if (!entry) return;
    if (entry.consumed && CONSUMABLE.has(this.#name)) {
      const error = new errors.InvalidGrant(`${this.#name} already consumed`);
      error.error_description = 'the grant was already used';
      throw error;
    }
    entry.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id: string): Promise<void> {
    this.#store.delete(this.#key(id));
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    const grantKey = `grant:${grantId}`;
    for (const key of (this.#store.get(grantKey)?.payload.members as string[] | undefined) ?? []) this.#store.delete(key);
    this.#store.delete(grantKey);
  }
}

export function memoryAdapterFactory(options: { clockTolerance: number }): (name: string) => MemoryAdapter {
  const store = new Map<string, Entry>();
  return (name) => new MemoryAdapter(name, store, options);
}
