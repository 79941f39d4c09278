// The durable database: PostgreSQL when DATABASE_URL is set, otherwise embedded PostgreSQL (PGlite) on local
// disk. Both run the same migrations and return the same JavaScript values (timestamps as Date, jsonb parsed,
// bigint as string), so every store is written once against `Database`.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Kysely, PostgresDialect, sql, type ColumnType } from 'kysely';
import pg from 'pg';
import { lockDataDir } from './data-dir-lock.ts';
import { migrateToLatest } from './migrate.ts';

/** A column with a database default: optional on insert. */
type Timestamp = ColumnType<Date, Date | undefined, Date>;
type NullableTimestamp = ColumnType<Date | null, Date | null | undefined, Date | null>;
/**
 * jsonb is written as JSON text: node-postgres would turn a JS array parameter into a PostgreSQL array literal,
 * not JSON, so the stores always serialize themselves.
 */
type Json<T> = ColumnType<T, string, string>;
type NullableJson<T> = ColumnType<T | null, string | null | undefined, string | null>;

export type JsonObject = { [key: string]: unknown };

export interface ClientsTable {
  client_id: string;
  /** oidc-provider client metadata (snake_case), never the plaintext client_secret. */
  metadata: Json<JsonObject>;
  client_secret_hash: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface UsersTable {
  id: string;
  username: string;
  password_hash: string;
  email: string | null;
  name: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface ResourcesTable {
  identifier: string;
  /** Stable id for the resource's metadata URL (/resources/<id>/.well-known/oauth-protected-resource). */
  id: ColumnType<string, string | undefined, never>;
  dpop_required: ColumnType<boolean, boolean | undefined, boolean>;
  documentation_url: string | null;
  name: string | null;
  scopes: Json<string[]>;
  token_format: 'jwt' | 'opaque';
  access_token_ttl: number;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface SigningKeysTable {
  kid: string;
  alg: string;
  private_jwk: Json<JsonObject>;
  status: 'next' | 'active' | 'retired';
  created_at: Timestamp;
  promoted_at: NullableTimestamp;
  retired_at: NullableTimestamp;
}

export interface AuditEventsTable {
  /** bigint identity, returned as a string by both backends (it may outgrow Number.MAX_SAFE_INTEGER). */
  id: ColumnType<string, never, never>;
  at: Timestamp;
  event: string;
  client_id: string | null;
  subject: string | null;
  actor: NullableJson<JsonObject>;
  outcome: 'success' | 'failure';
  reason: string | null;
  request_id: string | null;
  source_ip: string | null;
  details: NullableJson<JsonObject>;
}

export type AgentStatus = 'active' | 'suspended' | 'revoked';
export type AgentAuthMethod = 'private_key_jwt' | 'client_secret_basic' | 'client_secret_post';

export interface AgentsTable {
  id: string;
  name: string;
  description: string | null;
  owner_id: string;
  status: AgentStatus;
  scopes: Json<string[]>;
  default_scopes: Json<string[]>;
  resources: NullableJson<string[]>;
  access_token_ttl: number | null;
  token_endpoint_auth_method: AgentAuthMethod;
  tokens_invalid_before: NullableTimestamp;
  /** Per-agent delegation policy overrides (grants/delegation-policy.ts), snake_case as stored. */
  delegation_policy: NullableJson<JsonObject>;
  /** RFC 8693 §4.4 statement put into the agent's tokens: who may act for it. */
  may_act: NullableJson<JsonObject>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface AgentCredentialsTable {
  id: string;
  agent_id: string;
  type: 'jwk' | 'secret';
  /** Public JWK only (a check constraint refuses private members). */
  public_jwk: NullableJson<JsonObject>;
  secret_hash: string | null;
  created_at: Timestamp;
  expires_at: NullableTimestamp;
}

export interface ServerSecretsTable {
  name: string;
  value: string;
  created_at: Timestamp;
}

export interface Tables {
  clients: ClientsTable;
  users: UsersTable;
  resources: ResourcesTable;
  signing_keys: SigningKeysTable;
  audit_events: AuditEventsTable;
  server_secrets: ServerSecretsTable;
  agents: AgentsTable;
  agent_credentials: AgentCredentialsTable;
}

export type Database = Kysely<Tables>;

export interface OpenDatabase {
  db: Database;
  mode: 'postgres' | 'embedded';
  /** Resolves when the database answers a query (readiness probe). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Opens PostgreSQL at `url`, or embedded PGlite under `${dataDir}/pglite`, and migrates it to the latest schema. */
export async function openDatabase(options: { url?: string; dataDir: string }): Promise<OpenDatabase> {
  const { db, mode, release } = options.url ? openPostgres(options.url) : await openEmbedded(options.dataDir);
  try {
    await migrateToLatest(db);
  } catch (error) {
    await db.destroy();
    await release?.();
    throw error;
  }
  let closing: Promise<void> | undefined;
  return {
    db,
    mode,
    async ping() {
      await sql`select 1`.execute(db);
    },
    close() {
      closing ??= db.destroy().then(() => release?.());
      return closing;
    },
  };
}

interface Opened {
  db: Database;
  mode: 'postgres' | 'embedded';
  /** Gives up the embedded data directory's lock. */
  release?: () => Promise<void>;
}

function openPostgres(url: string): Opened {
  const pool = new pg.Pool({ connectionString: url });
  // An idle pooled connection that the server drops (restart, failover) is reported here; without a listener
  // node-postgres rethrows it and the process dies. The pool replaces the connection on next use.
  pool.on('error', (error) => console.error(`PostgreSQL connection lost: ${error.message}`));
  return { db: new Kysely<Tables>({ dialect: new PostgresDialect({ pool }) }), mode: 'postgres' };
}

async function openEmbedded(dataDir: string): Promise<Opened> {
  const directory = join(dataDir, 'pglite');
  await mkdir(directory, { recursive: true });
  const release = await lockDataDir(dataDir);
  try {
    // Loaded only here: a server on PostgreSQL never carries the embedded database's WebAssembly build.
    const { PGlitePool, openPGlite } = await import('./pglite-pool.ts');
    const pglite = await openPGlite(directory);
    return { db: new Kysely<Tables>({ dialect: new PostgresDialect({ pool: new PGlitePool(pglite) }) }), mode: 'embedded', release };
  } catch (error) {
    await release();
    throw error;
  }
}
