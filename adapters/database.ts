// The durable database: PostgreSQL when DATABASE_URL is set, otherwise embedded PostgreSQL (PGlite) on local
// disk. Both run the same migrations and return the same JavaScript values (timestamps as Date, jsonb parsed,
// bigint as string), so every store is written once against `Database`.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Kysely, PostgresDialect, sql, type ColumnType, type PostgresCursor, type PostgresPool, type PostgresPoolClient, type PostgresQueryResult } from 'kysely';
import pg from 'pg';
import { lockDataDir } from './data-dir-lock.ts';
import { postgresFailure, postgresFaultOptions, StorageUnavailable } from './dependency-faults.ts';
import type { DependencyState } from './dependency-state.ts';
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

/** The organization a row belongs to (migration 0015); `default` when the insert names none. */
type OrgId = ColumnType<string, string | undefined, string>;

export interface ClientsTable {
  client_id: string;
  /** oidc-provider client metadata (snake_case), never the plaintext client_secret. */
  metadata: Json<JsonObject>;
  client_secret_hash: string | null;
  /** The lifecycle agents have (migration 0014). */
  status: ColumnType<AgentStatus, AgentStatus | undefined, AgentStatus>;
  tokens_invalid_before: ColumnType<Date | null, Date | null | undefined, Date | null>;
  previous_secret_hashes: ColumnType<PreviousSecret[], string | undefined, string>;
  org_id: OrgId;
  created_at: Timestamp;
  updated_at: Timestamp;
}

/** A secret a rotation replaced, valid until `expires_at` (ISO instant). */
export interface PreviousSecret {
  hash: string;
  expires_at: string;
}

export interface UsersTable {
  id: string;
  username: string;
  password_hash: string;
  email: string | null;
  name: string | null;
  org_id: OrgId;
  /** Tokens for the user issued before this are inactive (it moved to another organization, migration 0018). */
  tokens_invalid_before: NullableTimestamp;
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
  /** JWS algorithm of its JWT access tokens; NULL for the server's default. */
  signing_alg: ColumnType<string | null, string | null | undefined, string | null>;
  org_id: OrgId;
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
  /** The organization the event is about (migration 0015); null for events of none in particular. */
  org_id: ColumnType<string | null, string | null | undefined, never>;
  /** Set for events relayed from the Redis audit stream: the id they were recorded with (idempotent relay). */
  event_id: ColumnType<string | null, string | null | undefined, never>;
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
  /** Per-agent delegation policy overrides (policy/delegation-policy.ts), snake_case as stored. */
  delegation_policy: NullableJson<JsonObject>;
  /** RFC 8693 §4.4 statement put into the agent's tokens: who may act for it. */
  may_act: NullableJson<JsonObject>;
  org_id: OrgId;
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

export interface IdJagAudiencesTable {
  issuer: string;
  name: string | null;
  resources: Json<string[]>;
  /** Our client_id → the client_id the audience knows the client by. */
  clients: Json<Record<string, string>>;
  /** Null: any scope of the resources. */
  scopes: NullableJson<string[]>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface RolesTable {
  name: string;
  description: string | null;
  scopes: Json<string[]>;
  inherits: Json<string[]>;
  org_id: OrgId;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface RoleAssignmentsTable {
  role_name: string;
  principal_type: 'user' | 'client';
  principal_id: string;
  created_at: Timestamp;
}

export interface ApprovalPoliciesTable {
  client_id: string;
  policy: Json<JsonObject>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export type ApprovalStatus = 'pending' | 'approved' | 'denied' | 'expired';

export interface ApprovalsTable {
  id: string;
  auth_req_id: string;
  client_id: string;
  user_id: string;
  scope: string;
  authorization_details: NullableJson<JsonObject[]>;
  binding_message: string | null;
  tier: 'soft' | 'strong';
  reasons: Json<JsonObject[]>;
  status: ApprovalStatus;
  expires_at: Date;
  created_at: Timestamp;
  decided_at: NullableTimestamp;
  decided_by: NullableJson<JsonObject>;
  second_approvers: NullableJson<string[]>;
  first_approved_by: NullableJson<JsonObject>;
  first_approved_at: NullableTimestamp;
  /** The organization of the client that asked, when it asked (migration 0019). */
  org_id: OrgId;
}

export interface OrganizationsTable {
  id: string;
  name: string;
  created_at: Timestamp;
}

/** Cross-organization delegation: principals of `actor_org_id` may act for users of `org_id`. */
export interface OrganizationActorOrgsTable {
  org_id: string;
  actor_org_id: string;
  created_at: Timestamp;
}

/** An organization operator's admin credential (server/admin-scope.ts), as the sha256 of its token. */
export interface OrganizationAdminCredentialsTable {
  id: string;
  org_id: string;
  token_hash: string;
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
  id_jag_audiences: IdJagAudiencesTable;
  roles: RolesTable;
  role_assignments: RoleAssignmentsTable;
  approval_policies: ApprovalPoliciesTable;
  approvals: ApprovalsTable;
  organizations: OrganizationsTable;
  organization_actor_orgs: OrganizationActorOrgsTable;
  organization_admin_credentials: OrganizationAdminCredentialsTable;
}

export type Database = Kysely<Tables>;

export interface OpenDatabase {
  db: Database;
  mode: 'postgres' | 'embedded';
  /** Resolves when the database answers a query (readiness probe). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  url?: string;
  dataDir: string;
  /** How long connecting to PostgreSQL and each query may take before the database counts as unavailable. */
  timeoutMs?: number;
  /** Told about every outage and recovery of PostgreSQL (the embedded database cannot become unreachable). */
  state?: DependencyState;
  /** Where problems with the embedded data directory's lock (and, without `state`, lost connections) are reported; default stderr. */
  log?: (line: string) => void;
}

/** Opens PostgreSQL at `url`, or embedded PGlite under `${dataDir}/pglite`, and migrates it to the latest schema. */
export async function openDatabase(options: DatabaseOptions): Promise<OpenDatabase> {
  const { db, mode, afterMigrations, release } = options.url ? openPostgres(options.url, options) : await openEmbedded(options.dataDir, options.log);
  try {
    await migrateToLatest(db);
    afterMigrations?.();
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
  /** Runs once the schema is migrated. */
  afterMigrations?: () => void;
  /** Gives up the embedded data directory's lock. */
  release?: () => Promise<void>;
}

function openPostgres(url: string, options: DatabaseOptions): Opened {
  const timeouts = options.timeoutMs ? postgresFaultOptions(options.timeoutMs) : {};
  const pool = new pg.Pool({ connectionString: url, connectionTimeoutMillis: timeouts.connectionTimeoutMillis });
  // An idle pooled connection that the server drops (restart, failover) is reported here; without a listener
  // node-postgres rethrows it and the process dies. The pool replaces the connection on next use.
  pool.on('error', (error) => (options.state ? options.state.down(error.message) : (options.log ?? console.error)(`PostgreSQL connection lost: ${error.message}`)));
  const outageAware = new OutageAwarePool(pool, options.state);
  return {
    db: new Kysely<Tables>({ dialect: new PostgresDialect({ pool: outageAware }) }),
    mode: 'postgres',
    // Migrations run without a query timeout: an instance starting beside another waits on the migration lock
    // for as long as the other takes to migrate.
    afterMigrations: () => outageAware.limitQueries(timeouts.query_timeout),
  };
}

/**
 * node-postgres's pool, with every connection or query failure that means "the database is unreachable" turned
 * into StorageUnavailable where it happens, so each store needs no handling of its own; and a connection that
 * failed that way is discarded rather than handed to the next query.
 */
class OutageAwarePool implements PostgresPool {
  readonly #pool: pg.Pool;
  readonly #state: DependencyState | undefined;
  #queryTimeoutMs: number | undefined;

  constructor(pool: pg.Pool, state: DependencyState | undefined) {
    this.#pool = pool;
    this.#state = state;
  }

  /** From now on every query gets at most `timeoutMs` (undefined: no limit). */
  limitQueries(timeoutMs: number | undefined): void {
    this.#queryTimeoutMs = timeoutMs;
  }

  get options(): object {
    return this.#pool.options;
  }

  async connect(): Promise<PostgresPoolClient> {
    try {
      return new OutageAwareClient(await this.#pool.connect(), this.#state, this.#queryTimeoutMs);
    } catch (error) {
      throw observed(error, this.#state);
    }
  }

  end(): Promise<void> {
    return this.#pool.end();
  }
}

class OutageAwareClient implements PostgresPoolClient {
  readonly #client: pg.PoolClient;
  readonly #state: DependencyState | undefined;
  readonly #queryTimeoutMs: number | undefined;
  #broken = false;

  constructor(client: pg.PoolClient, state: DependencyState | undefined, queryTimeoutMs: number | undefined) {
    this.#client = client;
    this.#state = state;
    this.#queryTimeoutMs = queryTimeoutMs;
  }

  query<R>(sql: string, parameters: ReadonlyArray<unknown>): Promise<PostgresQueryResult<R>>;
  query<R>(cursor: PostgresCursor<R>): PostgresCursor<R>;
  query<R>(sqlOrCursor: string | PostgresCursor<R>, parameters?: ReadonlyArray<unknown>): Promise<PostgresQueryResult<R>> | PostgresCursor<R> {
    if (typeof sqlOrCursor !== 'string') return this.#client.query(sqlOrCursor as never) as PostgresCursor<R>;
    return this.#run<R>(sqlOrCursor, parameters ?? []);
  }

  async #run<R>(text: string, parameters: ReadonlyArray<unknown>): Promise<PostgresQueryResult<R>> {
    try {
      // Per query rather than for the pool, since migrations run without one; pg honours it, its types omit it.
      const result = await this.#client.query({ text, values: [...parameters], query_timeout: this.#queryTimeoutMs } as pg.QueryConfig);
      this.#state?.up();
      return result as unknown as PostgresQueryResult<R>;
    } catch (error) {
      const failure = observed(error, this.#state);
      if (failure instanceof StorageUnavailable) this.#broken = true;
      throw failure;
    }
  }

  release(): void {
    this.#client.release(this.#broken);
  }
}

function observed(error: unknown, state: DependencyState | undefined): unknown {
  const failure = postgresFailure(error);
  if (failure instanceof StorageUnavailable) state?.down((error as Error).message);
  return failure;
}

async function openEmbedded(dataDir: string, log?: (line: string) => void): Promise<Opened> {
  const directory = join(dataDir, 'pglite');
  await mkdir(directory, { recursive: true });
  const release = await lockDataDir(dataDir, log);
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
