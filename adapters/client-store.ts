// Registered clients (agents included) in PostgreSQL, behind oidc-provider's adapter interface for the `Client`
// model. oidc-provider hands the adapter the plaintext client_secret (lib/helpers/add_client.js); we keep only a
// hash, so a leaked database or backup does not hand out working client credentials.
import { hash, timingSafeEqual } from 'node:crypto';
import { sql } from 'kysely';
import type { Adapter, AdapterPayload } from 'oidc-provider';
import { writeAnnounced, type ReadThroughCache } from './read-through-cache.ts';
import type { Database, JsonObject } from './database.ts';

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

export class PostgresClientAdapter implements Adapter {
  readonly #db: Database;
  readonly #cache: ReadThroughCache<string> | undefined;

  /** With a cache, reads are served from memory and every write invalidates it on all instances. */
  constructor(db: Database, cache?: ReadThroughCache<string>) {
    this.#db = db;
    this.#cache = cache;
  }

  async upsert(id: string, payload: AdapterPayload): Promise<void> {
    const { client_secret: secret, ...metadata } = payload as JsonObject;
    // A client update (RFC 7592) writes back the secret it read through find(), which is already the hash.
    const hash = typeof secret === 'string' ? (isHashedClientSecret(secret) ? secret : hashClientSecret(secret)) : null;
    const values = { metadata: JSON.stringify(metadata), client_secret_hash: hash };
    await writeAnnounced(this.#db, this.#cache, id, (trx) => trx
      .insertInto('clients')
      .values({ client_id: id, ...values })
      .onConflict((oc) => oc.column('client_id').doUpdateSet({ ...values, updated_at: sql<Date>`now()` }))
      .execute());
  }

  /**
   * The stored metadata, with `client_secret` set to the stored hash: oidc-provider's client schema requires a
   * secret for secret-based authentication methods, and compareClientSecret checks presented secrets against it.
   */
  async find(id: string): Promise<AdapterPayload | undefined> {
    if (!this.#cache) return this.#load(id);
    // Cached as JSON text, so every caller gets its own copy and none can alter the cached entry
    // (parsing is several times cheaper than structuredClone on the token endpoint's hot path).
    const found = await this.#cache.get(id, async () => {
      const metadata = await this.#load(id);
      return metadata && JSON.stringify(metadata);
    });
    return found === undefined ? undefined : (JSON.parse(found) as AdapterPayload);
  }

  /** FOR SHARE: waits for a change in progress to commit (read-through-cache.ts says why). */
  async #load(id: string): Promise<AdapterPayload | undefined> {
    const row = await this.#db
      .selectFrom('clients')
      .select(['metadata', 'client_secret_hash'])
      .where('client_id', '=', id)
      .forShare()
      .executeTakeFirst();
    if (!row) return undefined;
    return (row.client_secret_hash === null ? row.metadata : { ...row.metadata, client_secret: row.client_secret_hash }) as AdapterPayload;
  }

  async destroy(id: string): Promise<void> {
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
