// Registered clients (agents included) in PostgreSQL, behind oidc-provider's adapter interface for the `Client`
// model. oidc-provider hands the adapter the plaintext client_secret (lib/helpers/add_client.js); we keep only a
// hash, so a leaked database or backup does not hand out working client credentials.
import { DomainError } from './domain-error.ts';
import { isStorableText } from './storage-rules.ts';
import { hash, randomBytes, timingSafeEqual } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { errors, type Adapter, type AdapterPayload } from 'oidc-provider';
import { writeAnnounced, type ReadThroughCache } from './read-through-cache.ts';
import type { AgentStatus, Database, JsonObject, PreviousSecret } from './database.ts';
import { decodeTextCursor, toPage, type Page, type PageRequest } from './pagination.ts';
import { namesUnknownOrganization } from './organization-store.ts';
import { deepFrozen } from './deep-frozen.ts';

const HASH_PREFIX = 'sha256$';
const HASHED_SECRET = /^sha256\$[A-Za-z0-9_-]{43}$/;

/**
 * Client secrets come from oidc-provider's secretFactory (≥ 256 bits of randomness), so a single SHA-256 already
 * makes guessing hopeless; a slow KDF would only add latency to every token request without adding security.
 */
export function hashClientSecret(secret: string): string {
  return `${HASH_PREFIX}${hash('sha256', secret, 'base64url')}`;
}

export function isHashedClientSecret(value: string): boolean {
  return HASHED_SECRET.test(value);
}

/** Constant-time comparison of a presented secret with a stored `sha256$…` hash (for `compareClientSecret`). */
export async function clientSecretMatches(storedHash: string, presented: string): Promise<boolean> {
  if (!isHashedClientSecret(storedHash)) return false;
  const expected = Buffer.from(storedHash.slice(HASH_PREFIX.length), 'base64url');
  const actual = hash('sha256', presented, 'buffer');
  return timingSafeEqual(expected, actual);
}

/** A registered client as stored: oidc-provider's metadata plus the lifecycle the operator controls. */
export interface StoredClient {
  id: string;
  metadata: JsonObject;
  secretHash: string | null;
  status: AgentStatus;
  /** Tokens issued before this instant are inactive (the kill switch). */
  tokensInvalidBefore: Date | null;
  previousSecrets: PreviousSecret[];
  /** The organization the client belongs to (adapters/organization-store.ts); registration puts it in the default one. */
  orgId: string;
  createdAt: Date;
  updatedAt: Date;
}

export class ClientRevokedError extends DomainError {
  readonly code = 'ERR_CLIENT_REVOKED';

  constructor(id: string) {
    super(`client "${id}" is revoked, which is permanent`, { field: 'status', detail: 'the client is revoked, which is permanent' });
  }
}

export class NoSecretError extends DomainError {
  readonly code = 'ERR_NO_SECRET';

  constructor(id: string) {
    super(`client "${id}" does not authenticate with a secret`, {
      field: 'id', detail: 'names a client that does not authenticate with a secret; update its keys through RFC 7592',
    });
  }
}

/** Hashes of every secret the client may authenticate with at `now` (the current one and any in grace). */
export function storedClientSecretHashes(client: StoredClient, now = Date.now()): string[] {
  if (client.status !== 'active') return [];
  return [
    ...(client.secretHash ? [client.secretHash] : []),
    ...client.previousSecrets.filter((previous) => Date.parse(previous.expires_at) > now).map((previous) => previous.hash),
  ];
}

/** What the cache holds for a client: the record every reader shares, and its metadata as JSON for copies. */
export interface CachedClient {
  record: StoredClient;
  metadataJson: string;
}

export class PostgresClientAdapter implements Adapter {
  readonly #db: Database;
  readonly #cache: ReadThroughCache<CachedClient> | undefined;

  /** With a cache, reads are served from memory and every write invalidates it on all instances. */
  constructor(db: Database, cache?: ReadThroughCache<CachedClient>) {
    this.#db = db;
    this.#cache = cache;
  }

  async upsert(id: string, payload: AdapterPayload): Promise<void> {
    const { client_secret: secret, ...metadata } = payload as JsonObject;
    // A client update (RFC 7592) writes back the secret it read through find(), which is already the hash.
    const hash = typeof secret === 'string' ? (isHashedClientSecret(secret) ? secret : hashClientSecret(secret)) : null;
    // The operator's `org_id` (only an admin registration may set it, server/provider.ts) stays in the metadata, so
    // the client reads it back, and goes into the column the foreign key and the isolation rules read.
    const orgId = typeof metadata.org_id === 'string' ? { org_id: metadata.org_id } : {};
    const values = { metadata: JSON.stringify(metadata), client_secret_hash: hash, ...orgId };
    await writeAnnounced(this.#db, this.#cache, id, (trx) => trx
      .insertInto('clients')
      .values({ client_id: id, ...values })
      .onConflict((oc) => oc.column('client_id').doUpdateSet({ ...values, updated_at: sql<Date>`now()` }))
      .execute())
      .catch((error: unknown) => {
        // RFC 7591 §3.2.2: registration metadata the server will not accept.
        if (namesUnknownOrganization(error)) throw new errors.InvalidClientMetadata(`org_id: "${String(metadata.org_id)}" is not an organization`);
        throw error;
      });
  }

  /**
   * The stored metadata, with `client_secret` set to the stored hash: oidc-provider's client schema requires a
   * secret for secret-based authentication methods, and compareClientSecret checks presented secrets against it.
   * A suspended or revoked client is unknown to oidc-provider: `invalid_client` at every endpoint, as for agents.
   */
  async find(id: string): Promise<AdapterPayload | undefined> {
    const cached = this.#cache ? await this.#cached(id) : undefined;
    const stored = this.#cache ? cached?.record : await this.#load(id);
    if (!stored || stored.status !== 'active') return undefined;
    // oidc-provider gets metadata of its own to build its Client from, never the shared cached record.
    const metadata = cached ? (JSON.parse(cached.metadataJson) as JsonObject) : stored.metadata;
    return (stored.secretHash === null ? metadata : { ...metadata, client_secret: stored.secretHash }) as AdapterPayload;
  }

  /**
   * The whole stored client, whatever its status (the admin API and the token liveness rules read this). With a
   * cache, every caller shares one frozen record: the token endpoint reads the same client three times per
   * request (the provider's lookup, the secret comparison, the organization), and parsing a JSON copy each time
   * was ~15 µs of the request in the profile.
   */
  async record(id: string): Promise<StoredClient | undefined> {
    if (!this.#cache) return this.#load(id);
    return (await this.#cached(id))?.record;
  }

  #cached(id: string): Promise<CachedClient | undefined> {
    return this.#cache!.get(id, async () => {
      const stored = await this.#load(id);
      return stored && { record: deepFrozen(stored), metadataJson: JSON.stringify(stored.metadata) };
    });
  }

  /** FOR SHARE: waits for a change in progress to commit (read-through-cache.ts says why). */
  async #load(id: string): Promise<StoredClient | undefined> {
    if (!isStorableText(id)) return undefined;
    const row = await this.#db
      .selectFrom('clients')
      .selectAll()
      .where('client_id', '=', id)
      .forShare()
      .executeTakeFirst();
    if (!row) return undefined;
    return {
      id: row.client_id,
      metadata: row.metadata,
      secretHash: row.client_secret_hash,
      status: row.status,
      tokensInvalidBefore: row.tokens_invalid_before,
      previousSecrets: row.previous_secret_hashes,
      orgId: row.org_id,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    };
  }

  /** Clients ordered by id, optionally only those in one status. */
  async list({ status, limit, cursor }: PageRequest & { status?: AgentStatus }): Promise<Page<StoredClient>> {
    let query = this.#db.selectFrom('clients').select('client_id').orderBy('client_id').limit(limit + 1);
    if (status !== undefined) query = query.where('status', '=', status);
    if (cursor !== undefined) query = query.where('client_id', '>', decodeTextCursor(cursor));
    const page = toPage(await query.execute(), limit, (row) => row.client_id, (id) => id);
    const items = await Promise.all(page.items.map((id) => this.#load(id)));
    return { items: items.filter((item) => item !== undefined), nextCursor: page.nextCursor };
  }

  /**
   * The same rules as AgentStore.setStatus: suspending or revoking ends every token issued so far (the cut-off
   * rounded up to a whole second, as token `iat` is); reactivating does not bring them back; revoked is final.
   */
  async setStatus(id: string, status: AgentStatus): Promise<StoredClient | undefined> {
    const current = await this.#load(id);
    if (!current) return undefined;
    if (current.status === 'revoked' && status !== 'revoked') throw new ClientRevokedError(id);
    if (status === 'active' && current.tokensInvalidBefore) {
      const wait = current.tokensInvalidBefore.getTime() - Date.now();
      if (wait > 0) await sleep(wait);
    }
    const cutOff = status === 'active' ? {} : { tokens_invalid_before: new Date(Math.ceil((Date.now() + 1) / 1000) * 1000) };
    await writeAnnounced(this.#db, this.#cache, id, (trx) => trx
      .updateTable('clients')
      .set({ status, ...cutOff, updated_at: sql<Date>`now()` })
      .where('client_id', '=', id)
      .execute());
    return this.#load(id);
  }

  /**
   * A new secret for a secret client; the one in use keeps working for `graceSeconds`. Undefined when there is
   * no such client; NoSecretError for a client that authenticates otherwise (its keys are in its metadata).
   */
  async rotateSecret(id: string, graceSeconds: number): Promise<{ client: StoredClient; clientSecret: string } | undefined> {
    const current = await this.#load(id);
    if (!current) return undefined;
    if (current.status === 'revoked') throw new ClientRevokedError(id);
    if (current.secretHash === null) throw new NoSecretError(id);
    const now = Date.now();
    const graceEnds = new Date(now + graceSeconds * 1000).toISOString();
    const kept = current.previousSecrets
      .filter((previous) => Date.parse(previous.expires_at) > now)
      .map((previous) => (previous.expires_at > graceEnds ? { ...previous, expires_at: graceEnds } : previous));
    const previous = graceSeconds > 0 ? [...kept, { hash: current.secretHash, expires_at: graceEnds }] : kept;
    const clientSecret = randomBytes(32).toString('base64url');
    await writeAnnounced(this.#db, this.#cache, id, (trx) => trx
      .updateTable('clients')
      .set({ client_secret_hash: hashClientSecret(clientSecret), previous_secret_hashes: JSON.stringify(previous), updated_at: sql<Date>`now()` })
      .where('client_id', '=', id)
      .execute());
    return { client: (await this.#load(id))!, clientSecret };
  }

  async destroy(id: string): Promise<void> {
    if (!isStorableText(id)) return;
    await writeAnnounced(this.#db, this.#cache, id, (trx) => trx.deleteFrom('clients').where('client_id', '=', id).execute());
  }

  // oidc-provider never calls these for the Client model; refusing loudly beats pretending to succeed.
  async findByUid(): Promise<never> {
    throw new Error('client records have no uid');
  }

  async findByUserCode(): Promise<never> {
    throw new Error('client records have no user code');
  }

  async consume(): Promise<never> {
    throw new Error('client records cannot be consumed');
  }

  async revokeByGrantId(): Promise<never> {
    throw new Error('client records do not belong to grants');
  }
}
