// The people who sign in at the login page. Passwords are stored only as scrypt hashes: people reuse passwords,
// so a stolen table must be expensive to brute-force offline (memory-hard to resist GPU/ASIC cracking).
import { isStorableText } from './storage-rules.ts';
import { DomainError } from './domain-error.ts';
import { randomBytes, randomUUID, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { sql, type Selectable, type Transaction } from 'kysely';
import type { Database, Tables, UsersTable } from './database.ts';
import { writeAnnounced, type ReadThroughCache } from './read-through-cache.ts';
import { tokenCutOff, waitPast } from './token-cut-off.ts';
import { scryptGate } from './scrypt-gate.ts';
import { scryptInWorker } from './scrypt-worker.ts';
import { namesUnknownOrganization, UnknownOrganizationError } from './organization-store.ts';
import { decodeTextCursor, toPage, type Page, type PageRequest } from './pagination.ts';

/** A user as the rest of the server sees it: never the password hash. */
export interface User {
  id: string;
  username: string;
  email: string | null;
  name: string | null;
  /** The organization the user belongs to (adapters/organization-store.ts). */
  orgId: string;
  createdAt: Date;
  updatedAt: Date;
}

export interface NewUser {
  username: string;
  password: string;
  email?: string;
  name?: string;
  /** Absent: the default organization. */
  orgId?: string;
}

export class DuplicateUsernameError extends DomainError {
  readonly code = 'ERR_DUPLICATE_USERNAME';
  readonly username: string;

  constructor(username: string) {
    super(`username "${username}" is already taken`, { field: 'username', detail: 'is already taken' });
    this.username = username;
  }
}

export class UserOwnsAgentsError extends DomainError {
  readonly code = 'ERR_USER_OWNS_AGENTS';

  constructor(id: string) {
    super(`user "${id}" owns agents or clients`, { field: 'id', detail: 'the user owns agents or registered clients; delete them or give them another owner first', kind: 'conflict' });
  }
}

const PUBLIC_COLUMNS = ['id', 'username', 'email', 'name', 'org_id', 'created_at', 'updated_at'] as const;

export class UserStore {
  readonly #db: Database;
  /** By user id: its token cut-off as an ISO time, '' for none; read at every introspection of a user's token. */
  readonly #cutOffs: ReadThroughCache<string> | undefined;

  constructor(db: Database, cutOffs?: ReadThroughCache<string>) {
    this.#db = db;
    this.#cutOffs = cutOffs;
  }

  /**
   * Moves the user to another organization; undefined when there is no such user. Every token issued for the user
   * so far ends (the cut-off, rounded up to a whole second as token `iat` is), on every instance before this
   * answers, and it answers once that second has passed, so tokens issued after the move live.
   */
  async move(id: string, orgId: string): Promise<User | undefined> {
    if (!isStorableText(id)) return undefined;
    const cutOff = tokenCutOff();
    const change = (trx: Transaction<Tables>) => trx.updateTable('users')
      .set({ org_id: orgId, tokens_invalid_before: cutOff, updated_at: sql<Date>`now()` }).where('id', '=', id).executeTakeFirst();
    const result = await (this.#cutOffs ? writeAnnounced(this.#db, this.#cutOffs, id, change) : this.#db.transaction().execute(change))
      .catch((error: unknown) => {
        if (namesUnknownOrganization(error)) throw new UnknownOrganizationError(orgId);
        throw error;
      });
    if (result.numUpdatedRows === 0n) return undefined;
    await waitPast(cutOff);
    return this.findById(id);
  }

  /** Before when the user's tokens are inactive; undefined for none, and for an id that is no user of ours. */
  async tokensInvalidBefore(id: string): Promise<Date | undefined> {
    if (!isStorableText(id)) return undefined;
    const load = async () => {
      // FOR SHARE: a load racing a move waits for it and reads the new cut-off (read-through-cache.ts).
      const row = await this.#db.selectFrom('users').select('tokens_invalid_before').where('id', '=', id).forShare().executeTakeFirst();
      return row?.tokens_invalid_before?.toISOString() ?? '';
    };
    const cached = this.#cutOffs ? await this.#cutOffs.get(id, load) : await load();
    return cached ? new Date(cached) : undefined;
  }

  async create(input: NewUser): Promise<User> {
    const row = await this.#db
      .insertInto('users')
      .values({
        id: randomUUID(),
        username: input.username,
        password_hash: await hashPassword(input.password),
        email: input.email ?? null,
        name: input.name ?? null,
        ...(input.orgId !== undefined ? { org_id: input.orgId } : {}),
      })
      .onConflict((oc) => oc.column('username').doNothing())
      .returning(PUBLIC_COLUMNS)
      .executeTakeFirst()
      .catch((error: unknown) => {
        // The organization was deleted after the admin route checked it.
        if (namesUnknownOrganization(error)) throw new UnknownOrganizationError(input.orgId!);
        throw error;
      });
    if (!row) throw new DuplicateUsernameError(input.username);
    return toUser(row);
  }

  async findById(id: string): Promise<User | undefined> {
    if (!isStorableText(id)) return undefined;
    const row = await this.#db.selectFrom('users').select(PUBLIC_COLUMNS).where('id', '=', id).executeTakeFirst();
    return row && toUser(row);
  }

  async findByUsername(username: string): Promise<User | undefined> {
    if (!isStorableText(username)) return undefined;
    const row = await this.#db.selectFrom('users').select(PUBLIC_COLUMNS).where('username', '=', username).executeTakeFirst();
    return row && toUser(row);
  }

  /**
   * The users with this email address, compared case-insensitively; at most `limit` (a caller that needs exactly
   * one asks for two, to tell "one" from "several" without reading them all).
   */
  async findByEmail(email: string, limit = 2): Promise<User[]> {
    if (!isStorableText(email)) return [];
    const rows = await this.#db.selectFrom('users').select(PUBLIC_COLUMNS)
      .where(sql<string>`lower(email)`, '=', email.toLowerCase()).orderBy('created_at').orderBy('id').limit(limit).execute();
    return rows.map(toUser);
  }

  /** Users ordered by username, optionally only one organization's. */
  async list({ limit, cursor, orgId }: PageRequest & { orgId?: string }): Promise<Page<User>> {
    let query = this.#db.selectFrom('users').select(PUBLIC_COLUMNS).orderBy('username').limit(limit + 1);
    if (orgId !== undefined) query = query.where('org_id', '=', orgId);
    if (cursor !== undefined) query = query.where('username', '>', decodeTextCursor(cursor));
    return toPage(await query.execute(), limit, toUser, (row) => row.username);
  }

  /** False when there was no such user. */
  async delete(id: string): Promise<boolean> {
    if (!isStorableText(id)) return false;
    try {
      return await this.#db.transaction().execute(async (trx) => {
        // A registered client may name the user as its owner in its metadata, where no foreign key reaches. The
        // row lock waits for a registration holding the user FOR SHARE (adapters/client-store.ts) to commit, and
        // the check after it, a statement of its own, then sees that client; a registration after the lock waits
        // for the delete and finds no user.
        const user = await trx.selectFrom('users').select('id').where('id', '=', id).forUpdate().executeTakeFirst();
        if (!user) return false;
        const owned = await trx.selectFrom('clients').select('client_id').where(sql<string>`metadata->>'owner'`, '=', id).limit(1).executeTakeFirst();
        if (owned) throw new UserOwnsAgentsError(id);
        await trx.deleteFrom('users').where('id', '=', id).execute();
        return true;
      });
    } catch (error) {
      // 23001/23503: agents still name this user as their owner (adapters/migrations/0002_agents.ts).
      if (['23001', '23503'].includes((error as { code?: string }).code ?? '')) throw new UserOwnsAgentsError(id);
      throw error;
    }
  }

  /** False when there was no such user. */
  async resetPassword(id: string, password: string): Promise<boolean> {
    if (!isStorableText(id)) return false;
    const result = await this.#db
      .updateTable('users')
      .set({ password_hash: await hashPassword(password), updated_at: sql<Date>`now()` })
      .where('id', '=', id)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /** The user if the password is theirs; undefined for a wrong password or an unknown username alike. */
  async verifyPassword(username: string, password: string): Promise<User | undefined> {
    if (!isStorableText(username)) return undefined;
    const row = await this.#db
      .selectFrom('users')
      .select([...PUBLIC_COLUMNS, 'password_hash'])
      .where('username', '=', username)
      .executeTakeFirst();
    if (!row) {
      // Spend the same scrypt work as for a real user, so response time does not reveal which usernames exist.
      await passwordMatches(UNKNOWN_USER_HASH, password);
      return undefined;
    }
    return (await passwordMatches(row.password_hash, password)) ? toUser(row) : undefined;
  }
}

type PublicRow = Pick<Selectable<UsersTable>, (typeof PUBLIC_COLUMNS)[number]>;

function toUser(row: PublicRow): User {
  return { id: row.id, username: row.username, email: row.email, name: row.name, orgId: row.org_id, createdAt: row.created_at, updatedAt: row.updated_at };
}

// scrypt cost (RFC 7914): N = 2^15, r = 8, p = 1 needs 32 MiB and tens of milliseconds per guess. The parameters
// are stored with every hash (`scrypt$N$r$p$salt$hash`) so they can be raised later without breaking old hashes.
interface ScryptParameters {
  N: number;
  r: number;
  p: number;
}
const CURRENT: ScryptParameters = { N: 2 ** 15, r: 8, p: 1 };
const SALT_BYTES = 16;
const KEY_BYTES = 32;

async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  return formatHash(CURRENT, salt, await deriveKey(password, salt, CURRENT, KEY_BYTES));
}

function formatHash({ N, r, p }: ScryptParameters, salt: Buffer, key: Buffer): string {
  return ['scrypt', N, r, p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

async function passwordMatches(stored: string, password: string): Promise<boolean> {
  const parsed = parseHash(stored);
  if (!parsed) return false;
  const key = await deriveKey(password, parsed.salt, parsed.parameters, parsed.key.length);
  return timingSafeEqual(key, parsed.key);
}

function parseHash(stored: string): { parameters: ScryptParameters; salt: Buffer; key: Buffer } | undefined {
  const [scheme, N, r, p, salt, key, ...rest] = stored.split('$');
  if (scheme !== 'scrypt' || rest.length || !salt || !key) return undefined;
  const parameters = { N: Number(N), r: Number(r), p: Number(p) };
  const derived = Buffer.from(key, 'base64url');
  // Bounds keep a corrupted row from demanding gigabytes of memory or matching a trivially short key.
  const sane = derived.length >= 16 && derived.length <= 64
    && Number.isInteger(Math.log2(parameters.N)) && parameters.N >= 2 && parameters.N <= 2 ** 20
    && Number.isInteger(parameters.r) && parameters.r >= 1 && parameters.r <= 32
    && Number.isInteger(parameters.p) && parameters.p >= 1 && parameters.p <= 16;
  return sane ? { parameters, salt: Buffer.from(salt, 'base64url'), key: derived } : undefined;
}

// NFKC first (NIST SP 800-63B §5.1.1.2): the same password typed on another keyboard or OS may arrive as a
// different sequence of code points.
function deriveKey(password: string, salt: Buffer, { N, r, p }: ScryptParameters, length: number): Promise<Buffer> {
  // Node refuses scrypt above `maxmem` (default 32 MiB, exactly what N = 2^15, r = 8 needs): allow twice that.
  const options: ScryptOptions = { N, r, p, maxmem: 2 * 128 * N * r * p };
  return scryptGate.run(() => scryptInWorker(password.normalize('NFKC'), salt, length, options));
}

/** Matches no password; verifying against it costs exactly what verifying a real user's password costs. */
const UNKNOWN_USER_HASH = formatHash(CURRENT, randomBytes(SALT_BYTES), randomBytes(KEY_BYTES));
