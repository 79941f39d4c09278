// Agents in PostgreSQL: identities that hold their own credentials, act for an accountable owner (a user) and
// can be suspended, reactivated or revoked. An agent is an OAuth client (its id is its client_id); how the
// provider sees it is in adapters/client-adapter.ts.
import { DomainError } from './domain-error.ts';
import { isStorableText } from './storage-rules.ts';
import { randomBytes } from 'node:crypto';
import { sql, type Selectable, type Transaction } from 'kysely';
import { writeAnnounced, type ReadThroughCache } from './read-through-cache.ts';
import type {
  AgentAuthMethod, AgentCredentialsTable, AgentStatus, AgentsTable, Database, JsonObject, Tables,
} from './database.ts';
import { hashClientSecret } from './client-store.ts';
import { DEFAULT_ORG, namesUnknownOrganization, UnknownOrganizationError } from './organization-store.ts';
import { tokenCutOff, waitPast } from './token-cut-off.ts';
import { deepFrozen } from './deep-frozen.ts';
import { decodeTextCursor, toPage, type Page, type PageRequest } from './pagination.ts';

export type { AgentAuthMethod, AgentStatus };

/**
 * Agent ids are spelled with this prefix so people reading logs and audit records can tell them apart; no code
 * decides anything from it (where an id is found says what it is).
 */
export const AGENT_ID_PREFIX = 'agent_';

export interface AgentCredential {
  id: string;
  type: 'jwk' | 'secret';
  publicJwk: JsonObject | null;
  secretHash: string | null;
  createdAt: Date;
  /** null: until rotated away. */
  expiresAt: Date | null;
}

export interface Agent {
  id: string;
  name: string;
  description: string | null;
  ownerId: string;
  status: AgentStatus;
  /** Allowed scope patterns (policy/scope-patterns.ts). */
  scopes: string[];
  /** Granted when a token request names no scope. */
  defaultScopes: string[];
  /** Resource indicators the agent may get tokens for; null: any registered resource. */
  resources: string[] | null;
  accessTokenTtl: number | null;
  tokenEndpointAuthMethod: AgentAuthMethod;
  /** The kill switch: tokens issued before this instant are inactive, whatever their expiry. */
  tokensInvalidBefore: Date | null;
  /** Delegation policy overrides (policy/delegation-policy.ts), as stored (snake_case). */
  delegationPolicy: JsonObject | null;
  /** RFC 8693 §4.4 `may_act` put into the agent's tokens. */
  mayAct: JsonObject | null;
  credentials: AgentCredential[];
  /** The organization the agent belongs to (adapters/organization-store.ts). */
  orgId: string;
  createdAt: Date;
  updatedAt: Date;
}

export interface NewAgent {
  name: string;
  description?: string;
  ownerId: string;
  scopes: string[];
  defaultScopes: string[];
  resources: string[] | null;
  accessTokenTtl: number | null;
  tokenEndpointAuthMethod: AgentAuthMethod;
  delegationPolicy?: JsonObject | null;
  mayAct?: JsonObject | null;
  /** Public JWKs for private_key_jwt; absent for the secret methods, where the store generates the secret. */
  publicJwks?: JsonObject[];
  /** Absent: the default organization. */
  orgId?: string;
}

export interface AgentPatch {
  name?: string;
  description?: string | null;
  ownerId?: string;
  scopes?: string[];
  defaultScopes?: string[];
  resources?: string[] | null;
  accessTokenTtl?: number | null;
  delegationPolicy?: JsonObject | null;
  mayAct?: JsonObject | null;
  /**
   * Another organization: the agent moves, and every token it holds so far ends (the kill switch's cut-off),
   * as they carry the organization it left.
   */
  orgId?: string;
}

export interface AgentQuery extends PageRequest {
  ownerId?: string;
  status?: AgentStatus;
  orgId?: string;
}

/** The agent, and the secret it was just given (shown once, never stored in plaintext). */
export interface AgentWithSecret {
  agent: Agent;
  clientSecret?: string;
}

export class UnknownOwnerError extends DomainError {
  readonly code = 'ERR_UNKNOWN_OWNER';

  constructor(ownerId: string) {
    super(`owner "${ownerId}" is not a user of this server`, { field: 'owner', detail: 'is not a user of this server' });
  }
}

export class AgentRevokedError extends DomainError {
  readonly code = 'ERR_AGENT_REVOKED';

  constructor(id: string) {
    super(`agent "${id}" is revoked, which is permanent`, { field: 'status', detail: 'the agent is revoked, which is permanent' });
  }
}

const newId = (prefix: string) => `${prefix}${randomBytes(16).toString('base64url')}`;
const newSecret = () => randomBytes(32).toString('base64url');

/** The cached answer for an id no agent has. */
const NOT_AN_AGENT = 'not an agent';

export class AgentStore {
  readonly #db: Database;
  readonly #cache: ReadThroughCache<Agent | typeof NOT_AN_AGENT> | undefined;

  /** With a cache, `get` (on every token request of an agent) is served from memory on every instance. */
  constructor(db: Database, cache?: ReadThroughCache<Agent | typeof NOT_AN_AGENT>) {
    this.#db = db;
    this.#cache = cache;
  }

  async create(input: NewAgent): Promise<AgentWithSecret> {
    const id = newId(AGENT_ID_PREFIX);
    const clientSecret = input.tokenEndpointAuthMethod === 'private_key_jwt' ? undefined : newSecret();
    try {
      await this.#db.transaction().execute(async (trx) => {
        await trx.insertInto('agents').values({
          id,
          name: input.name,
          description: input.description ?? null,
          owner_id: input.ownerId,
          status: 'active',
          scopes: JSON.stringify(input.scopes),
          default_scopes: JSON.stringify(input.defaultScopes),
          resources: input.resources === null ? null : JSON.stringify(input.resources),
          access_token_ttl: input.accessTokenTtl,
          token_endpoint_auth_method: input.tokenEndpointAuthMethod,
          delegation_policy: jsonOrNull(input.delegationPolicy),
          may_act: jsonOrNull(input.mayAct),
          ...(input.orgId !== undefined ? { org_id: input.orgId } : {}),
        }).execute();
        await insertCredentials(trx, id, input.publicJwks ?? [], clientSecret);
        // Misses are cached (see get), so the new id is announced before it commits, as every write is.
        await this.#cache?.invalidate(id);
      });
    } catch (error) {
      // The organization was deleted after the admin route checked it.
      if (namesUnknownOrganization(error)) throw new UnknownOrganizationError(input.orgId!);
      // 23503: the owner does not exist (foreign key on users).
      if ((error as { code?: string }).code === '23503') throw new UnknownOwnerError(input.ownerId);
      throw error;
    }
    return { agent: (await this.#load(id))!, clientSecret };
  }

  async get(id: string): Promise<Agent | undefined> {
    if (!this.#cache) return this.#load(id);
    // Every caller shares one cached agent, frozen (adapters/deep-frozen.ts): a token request of an agent reads
    // it several times (the provider's client lookup, the secret comparison, the pipeline's rules, the
    // organization), and a JSON copy for each read was parsed and its dates revived every time. A miss is cached
    // too, as NOT_AN_AGENT: whether a client or token holder is an agent is asked of this store on every token
    // request and introspection of a registered client or a user, which must not reach the database each time
    // (nor fail while it is down, when the caches keep the token path working).
    const found = await this.#cache.get(id, async () => {
      const agent = await this.#load(id);
      return agent ? deepFrozen(agent) : NOT_AN_AGENT;
    });
    return found === undefined || found === NOT_AN_AGENT ? undefined : found;
  }

  /** FOR SHARE: waits for a change in progress to commit (read-through-cache.ts says why). */
  async #load(id: string): Promise<Agent | undefined> {
    if (!isStorableText(id)) return undefined;
    const row = await this.#db.selectFrom('agents').selectAll().where('id', '=', id).forShare().executeTakeFirst();
    if (!row) return undefined;
    const credentials = await this.#db.selectFrom('agent_credentials').selectAll().where('agent_id', '=', id).orderBy('created_at').orderBy('id').execute();
    return toAgent(row, credentials.map(toCredential));
  }

  /** Agents ordered by id, optionally only one owner's, one organization's or only those in one status. */
  /** Ids of up to `limit` agents outside organization `outsideOrg` whose `resources` list the resource. */
  async idsLimitedTo(identifier: string, { outsideOrg, limit }: { outsideOrg: string; limit: number }): Promise<string[]> {
    if (!isStorableText(identifier)) return [];
    const rows = await this.#db.selectFrom('agents').select('id').where('org_id', '<>', outsideOrg)
      .where('resources', '@>', sql<string[]>`${JSON.stringify([identifier])}::jsonb`).orderBy('id').limit(limit).execute();
    return rows.map((row) => row.id);
  }

  async list({ ownerId, status, orgId, limit, cursor }: AgentQuery): Promise<Page<Agent>> {
    // Byte order (COLLATE "C"), whatever the database's collation: /admin/clients merges this list with the
    // registered clients' in the same order (server/routes/admin-clients.ts).
    let query = this.#db.selectFrom('agents').selectAll().orderBy(sql`id collate "C"`).limit(limit + 1);
    if (orgId !== undefined) query = query.where('org_id', '=', orgId);
    if (ownerId !== undefined) query = query.where('owner_id', '=', ownerId);
    if (status !== undefined) query = query.where('status', '=', status);
    if (cursor !== undefined) query = query.where(sql`id collate "C"`, '>', decodeTextCursor(cursor));
    const page = toPage(await query.execute(), limit, (row) => row, (row) => row.id);
    const ids = page.items.map((row) => row.id);
    const credentials = ids.length
      ? await this.#db.selectFrom('agent_credentials').selectAll().where('agent_id', 'in', ids).orderBy('created_at').orderBy('id').execute()
      : [];
    return {
      items: page.items.map((row) => toAgent(row, credentials.filter((credential) => credential.agent_id === row.id).map(toCredential))),
      nextCursor: page.nextCursor,
    };
  }

  async update(id: string, patch: AgentPatch): Promise<Agent | undefined> {
    if (!isStorableText(id)) return undefined;
    const cutOff = patch.orgId !== undefined ? tokenCutOff() : undefined;
    const result = await writeAnnounced(this.#db, this.#cache, id, (trx) => trx
      .updateTable('agents')
      .set({
        ...(patch.ownerId !== undefined ? { owner_id: patch.ownerId } : {}),
        ...(patch.name !== undefined ? { name: patch.name } : {}),
        ...(patch.description !== undefined ? { description: patch.description } : {}),
        ...(patch.scopes !== undefined ? { scopes: JSON.stringify(patch.scopes) } : {}),
        ...(patch.defaultScopes !== undefined ? { default_scopes: JSON.stringify(patch.defaultScopes) } : {}),
        ...(patch.resources !== undefined ? { resources: patch.resources === null ? null : JSON.stringify(patch.resources) } : {}),
        ...(patch.accessTokenTtl !== undefined ? { access_token_ttl: patch.accessTokenTtl } : {}),
        ...(patch.delegationPolicy !== undefined ? { delegation_policy: jsonOrNull(patch.delegationPolicy) } : {}),
        ...(patch.mayAct !== undefined ? { may_act: jsonOrNull(patch.mayAct) } : {}),
        ...(cutOff ? { org_id: patch.orgId, tokens_invalid_before: cutOff } : {}),
        updated_at: sql<Date>`now()`,
      })
      .where('id', '=', id)
      .executeTakeFirst())
      .catch((error: unknown) => {
        if (namesUnknownOrganization(error)) throw new UnknownOrganizationError(patch.orgId!);
        if ((error as { code?: string }).code === '23503') throw new UnknownOwnerError(patch.ownerId!);
        throw error;
      });
    if (result.numUpdatedRows === 0n) return undefined;
    await waitPast(cutOff);
    return this.#load(id);
  }

  /**
   * Moves the agent to `status`. Suspending or revoking kills every token issued so far; reactivating does not
   * bring them back. Revoked is final: AgentRevokedError for any other change.
   */
  async setStatus(id: string, status: AgentStatus): Promise<Agent | undefined> {
    const current = await this.#load(id);
    if (!current) return undefined;
    if (current.status === 'revoked' && status !== 'revoked') throw new AgentRevokedError(id);
    if (status === 'active') await waitPast(current.tokensInvalidBefore);
    const cutOff = status === 'active' ? {} : { tokens_invalid_before: tokenCutOff() };
    await writeAnnounced(this.#db, this.#cache, id, (trx) => trx
      .updateTable('agents')
      .set({ status, ...cutOff, updated_at: sql<Date>`now()` })
      .where('id', '=', id)
      .execute());
    return this.#load(id);
  }

  /**
   * Adds a credential (the given public keys, or a new secret for secret agents). The credentials in use keep
   * working for `graceSeconds`, then stop; ones already expired are removed.
   */
  async rotateCredentials(id: string, publicJwks: JsonObject[] | undefined, graceSeconds: number): Promise<AgentWithSecret | undefined> {
    const current = await this.#load(id);
    if (!current) return undefined;
    if (current.status === 'revoked') throw new AgentRevokedError(id);
    const clientSecret = current.tokenEndpointAuthMethod === 'private_key_jwt' ? undefined : newSecret();
    const graceEnds = new Date(Date.now() + graceSeconds * 1000);
    await writeAnnounced(this.#db, this.#cache, id, async (trx) => {
      // The agent's row first: locking it makes a concurrent load wait for this change (see #load).
      await trx.updateTable('agents').set({ updated_at: sql<Date>`now()` }).where('id', '=', id).execute();
      await trx.deleteFrom('agent_credentials').where('agent_id', '=', id).where('expires_at', '<=', new Date()).execute();
      await trx
        .updateTable('agent_credentials')
        .set({ expires_at: graceEnds })
        .where('agent_id', '=', id)
        .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', graceEnds)]))
        .execute();
      await insertCredentials(trx, id, publicJwks ?? [], clientSecret);
    });
    return { agent: (await this.#load(id))!, clientSecret };
  }

  /** False when there was no such agent. */
  async delete(id: string): Promise<boolean> {
    if (!isStorableText(id)) return false;
    const result = await writeAnnounced(this.#db, this.#cache, id, (trx) => trx.deleteFrom('agents').where('id', '=', id).executeTakeFirst());
    return result.numDeletedRows > 0n;
  }
}

/** The credentials an agent can authenticate with at `now`. */
export function validCredentials(agent: Agent, now = Date.now()): AgentCredential[] {
  return agent.credentials.filter((credential) => credential.expiresAt === null || credential.expiresAt.getTime() > now);
}

async function insertCredentials(trx: Transaction<Tables>, agentId: string, publicJwks: JsonObject[], secret: string | undefined): Promise<void> {
  const rows = [
    ...publicJwks.map((jwk) => ({ id: newId('cred_'), agent_id: agentId, type: 'jwk' as const, public_jwk: JSON.stringify(jwk), secret_hash: null })),
    ...(secret ? [{ id: newId('cred_'), agent_id: agentId, type: 'secret' as const, public_jwk: null, secret_hash: hashClientSecret(secret) }] : []),
  ];
  if (rows.length) await trx.insertInto('agent_credentials').values(rows).execute();
}

function jsonOrNull(value: JsonObject | null | undefined): string | null {
  return value ? JSON.stringify(value) : null;
}

function toAgent(row: Selectable<AgentsTable>, credentials: AgentCredential[]): Agent {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    ownerId: row.owner_id,
    status: row.status,
    scopes: row.scopes,
    defaultScopes: row.default_scopes,
    resources: row.resources,
    accessTokenTtl: row.access_token_ttl,
    tokenEndpointAuthMethod: row.token_endpoint_auth_method,
    tokensInvalidBefore: row.tokens_invalid_before,
    delegationPolicy: row.delegation_policy,
    mayAct: row.may_act,
    credentials,
    orgId: row.org_id,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function toCredential(row: Selectable<AgentCredentialsTable>): AgentCredential {
  return {
    id: row.id,
    type: row.type,
    publicJwk: row.public_jwk,
    secretHash: row.secret_hash,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
  };
}
