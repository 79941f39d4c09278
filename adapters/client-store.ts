// Registered clients (agents included) in PostgreSQL, behind oidc-provider's adapter interface for the `Client`
// model. oidc-provider hands the adapter the plaintext client_secret (lib/helpers/add_client.js); we keep only a
// hash, so a leaked database or backup does not hand out working client credentials.
import { DomainError } from './domain-error.ts';
import { isStorableText } from './storage-rules.ts';
import { hash, randomBytes, timingSafeEqual } from 'node:crypto';
import { sql, type Transaction } from 'kysely';
import { errors, type Adapter, type AdapterPayload } from 'oidc-provider';
import { writeAnnounced, type ReadThroughCache } from './read-through-cache.ts';
import type { AgentStatus, Database, JsonObject, PreviousSecret, Tables } from './database.ts';
import { tokenCutOff, waitPast } from './token-cut-off.ts';
import { decodeTextCursor, toPage, type Page, type PageRequest } from './pagination.ts';
import { DEFAULT_ORG, namesUnknownOrganization, UnknownOrganizationError } from './organization-store.ts';
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

export class OwnerOfAnotherOrganizationError extends DomainError {
  readonly code = 'ERR_OWNER_OF_ANOTHER_ORGANIZATION';

  constructor(owner: string, ownerOrg: string, orgId: string) {
    super(`the owner of the client belongs to organization "${ownerOrg}"`, {
      field: 'owner', detail: `the client's owner "${owner}" belongs to organization "${ownerOrg}", not "${orgId}"; a client moves only to its owner's organization`,
    });
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

/**
 * A registered client's `owner` (policy/client-record.ts) is a user of the client's organization, as an agent's
 * is. FOR SHARE holds the user until the client is written, so a concurrent delete of the user waits and then
 * sees the client that names it (adapters/user-store.ts refuses to delete an owner).
 */
async function checkOwner(trx: Transaction<Tables>, owner: string, orgId: string): Promise<void> {
  const ownerOrg = await ownerOrganization(trx, owner);
  if (ownerOrg === undefined) throw new errors.InvalidClientMetadata(`owner: "${owner}" is not a user`);
  if (ownerOrg !== orgId) throw new errors.InvalidClientMetadata(`owner: user "${owner}" belongs to organization "${ownerOrg}", not the client's ("${orgId}")`);
}

/** The owner's organization, the user held FOR SHARE until the transaction ends; undefined when there is no such user. */
async function ownerOrganization(trx: Transaction<Tables>, owner: string): Promise<string | undefined> {
  if (!isStorableText(owner)) return undefined;
  return (await trx.selectFrom('users').select('org_id').where('id', '=', owner).forShare().executeTakeFirst())?.org_id;
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
    await writeAnnounced(this.#db, this.#cache, id, async (trx) => {
      if (typeof metadata.owner === 'string') await checkOwner(trx, metadata.owner, typeof metadata.org_id === 'string' ? metadata.org_id : DEFAULT_ORG);
      await trx
        .insertInto('clients')
        .values({ client_id: id, ...values })
        .onConflict((oc) => oc.column('client_id').doUpdateSet({ ...values, updated_at: sql<Date>`now()` }))
        .execute();
    })
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

  /** Ids of up to `limit` registered clients outside organization `outsideOrg` whose `allowed_resources` list the resource. */
  async idsLimitedTo(identifier: string, { outsideOrg, limit }: { outsideOrg: string; limit: number }): Promise<string[]> {
    if (!isStorableText(identifier)) return [];
    const rows = await this.#db.selectFrom('clients').select('client_id').where('org_id', '<>', outsideOrg)
      .where(sql`metadata -> 'allowed_resources'`, '@>', sql`${JSON.stringify([identifier])}::jsonb`).orderBy('client_id').limit(limit).execute();
    return rows.map((row) => row.client_id);
  }

  /** A page of registered clients in id order, optionally only those in one status or of one organization. */
  async list({ status, orgId, limit, cursor }: PageRequest & { status?: AgentStatus; orgId?: string }): Promise<Page<StoredClient>> {
    // Byte order (COLLATE "C"), as the agents' list: /admin/clients merges the two.
    let query = this.#db.selectFrom('clients').select('client_id').orderBy(sql`client_id collate "C"`).limit(limit + 1);
    if (status !== undefined) query = query.where('status', '=', status);
    if (orgId !== undefined) query = query.where('org_id', '=', orgId);
    if (cursor !== undefined) query = query.where(sql`client_id collate "C"`, '>', decodeTextCursor(cursor));
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
    if (status === 'active') await waitPast(current.tokensInvalidBefore);
    const cutOff = status === 'active' ? {} : { tokens_invalid_before: tokenCutOff() };
    await writeAnnounced(this.#db, this.#cache, id, (trx) => trx
      .updateTable('clients')
      .set({ status, ...cutOff, updated_at: sql<Date>`now()` })
      .where('client_id', '=', id)
      .execute());
    return this.#load(id);
  }

  /**
   * Moves the client to another organization, in its column and its metadata (which the grants read); undefined
   * when there is no such client. Its `owner` must be a user of that organization (held FOR SHARE until the move
   * commits, so a concurrent move of the owner waits). Every token issued to it so far ends by the kill switch's
   * cut-off, on every instance before this answers, and it answers once that second has passed, so tokens issued
   * after the move live.
   */
  async move(id: string, orgId: string): Promise<StoredClient | undefined> {
    if (!isStorableText(id)) return undefined;
    const cutOff = tokenCutOff();
    const moved = await writeAnnounced(this.#db, this.#cache, id, async (trx) => {
      const row = await trx.selectFrom('clients').select('metadata').where('client_id', '=', id).forUpdate().executeTakeFirst();
      if (!row) return false;
      const owner = row.metadata.owner;
      if (typeof owner === 'string') {
        const ownerOrg = await ownerOrganization(trx, owner);
        if (ownerOrg !== undefined && ownerOrg !== orgId) throw new OwnerOfAnotherOrganizationError(owner, ownerOrg, orgId);
      }
      await trx.updateTable('clients')
        .set({ org_id: orgId, metadata: JSON.stringify({ ...row.metadata, org_id: orgId }), tokens_invalid_before: cutOff, updated_at: sql<Date>`now()` })
        .where('client_id', '=', id)
        .execute();
      return true;
    }).catch((error: unknown) => {
      if (namesUnknownOrganization(error)) throw new UnknownOrganizationError(orgId);
      throw error;
    });
    if (!moved) return undefined;
    await waitPast(cutOff);
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
