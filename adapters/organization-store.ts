// Organizations (issue 18 part 2): users, agents, registered clients, resources and roles (migration 0017) each
// belong to exactly one; the `default` one (migration 0015) holds everything created without naming one. policy/organizations.ts decides
// what belonging means for tokens; this store keeps the organizations, and for each the other organizations
// whose principals may act for its users (cross-organization delegation, off unless the operator lists a pair),
// and the admin credentials its own operators hold (server/admin-scope.ts says what they may do).
import { randomBytes } from 'node:crypto';
import { sql, type Selectable, type Transaction } from 'kysely';
import { DomainError } from './domain-error.ts';
import type { Database, OrganizationsTable, Tables } from './database.ts';
import { decodeTextCursor, toPage, type Page, type PageRequest } from './pagination.ts';
import { hashId, isStorableText } from './storage-rules.ts';

/** The organization every row belongs to unless it names another (migration 0015 seeds it). */
export const DEFAULT_ORG = 'default';

export interface Organization {
  id: string;
  name: string;
  /** Organizations whose principals may act for this organization's users (token exchange, and the other grants' clients). */
  allowedActorOrgs: string[];
  createdAt: Date;
}

/** An organization operator's admin credential, as listed: never its token. */
export interface OrganizationCredential {
  id: string;
  orgId: string;
  createdAt: Date;
}

export interface OrganizationPatch {
  name?: string;
  /** Replaces the whole list. */
  allowedActorOrgs?: string[];
}

/** The tables whose rows belong to an organization: an organization with any of them is not deleted. */
const MEMBER_TABLES = ['users', 'agents', 'clients', 'resources', 'roles'] as const;

export class DuplicateOrganizationError extends DomainError {
  readonly code = 'ERR_DUPLICATE_ORGANIZATION';
  constructor(id: string) {
    super(`organization "${id}" already exists`, { field: 'id', detail: 'is already an organization' });
  }
}

/** A row was to join, or a policy to name, an organization that does not exist. */
export class UnknownOrganizationError extends DomainError {
  readonly code = 'ERR_UNKNOWN_ORGANIZATION';
  constructor(id: string, field = 'org_id') {
    super(`"${id}" is not an organization`, { field, detail: `"${id}" is not an organization` });
  }
}

export class OrganizationHasMembersError extends DomainError {
  readonly code = 'ERR_ORGANIZATION_HAS_MEMBERS';
  constructor(id: string, members: string[]) {
    const detail = `organization "${id}" still has ${members.join(', ')}; delete them or move them first`;
    super(detail, { field: 'id', detail, kind: 'conflict' });
  }
}

export class DefaultOrganizationError extends DomainError {
  readonly code = 'ERR_DEFAULT_ORGANIZATION';
  constructor() {
    const detail = `the "${DEFAULT_ORG}" organization holds everything created without an organization and cannot be deleted`;
    super(detail, { field: 'id', detail, kind: 'conflict' });
  }
}

/**
 * Whether a PostgreSQL error is an insert or update naming an organization that does not exist (or was deleted
 * meanwhile): the `<table>_org_id_fkey` constraints of migration 0015.
 */
export function namesUnknownOrganization(error: unknown): boolean {
  const { code, constraint } = error as { code?: string; constraint?: string };
  return code === '23503' && typeof constraint === 'string' && constraint.endsWith('_org_id_fkey');
}

export class OrganizationStore {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  async create(input: { id: string; name: string; allowedActorOrgs?: string[] }): Promise<Organization> {
    return this.#db.transaction().execute(async (trx) => {
      const row = await trx.insertInto('organizations').values({ id: input.id, name: input.name })
        .onConflict((oc) => oc.column('id').doNothing()).returningAll().executeTakeFirst();
      if (!row) throw new DuplicateOrganizationError(input.id);
      await replaceActorOrgs(trx, input.id, input.allowedActorOrgs ?? []);
      return toOrganization(row, await this.#actorOrgs(trx, input.id));
    });
  }

  async get(id: string): Promise<Organization | undefined> {
    if (!isStorableText(id)) return undefined;
    const row = await this.#db.selectFrom('organizations').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toOrganization(row, await this.#actorOrgs(this.#db, id));
  }

  /** Organizations ordered by id. */
  async list({ limit, cursor }: PageRequest): Promise<Page<Organization>> {
    let query = this.#db.selectFrom('organizations').selectAll().orderBy('id').limit(limit + 1);
    if (cursor !== undefined) query = query.where('id', '>', decodeTextCursor(cursor));
    const page = toPage(await query.execute(), limit, (row) => row, (row) => row.id);
    const ids = page.items.map((row) => row.id);
    const pairs = ids.length
      ? await this.#db.selectFrom('organization_actor_orgs').select(['org_id', 'actor_org_id']).where('org_id', 'in', ids).orderBy('actor_org_id').execute()
      : [];
    return {
      items: page.items.map((row) => toOrganization(row, pairs.filter((pair) => pair.org_id === row.id).map((pair) => pair.actor_org_id))),
      nextCursor: page.nextCursor,
    };
  }

  /** The updated organization, or undefined when there is no such organization. */
  async update(id: string, patch: OrganizationPatch): Promise<Organization | undefined> {
    if (!isStorableText(id)) return undefined;
    return this.#db.transaction().execute(async (trx) => {
      const row = patch.name !== undefined
        ? await trx.updateTable('organizations').set({ name: patch.name }).where('id', '=', id).returningAll().executeTakeFirst()
        : await trx.selectFrom('organizations').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
      if (!row) return undefined;
      if (patch.allowedActorOrgs !== undefined) await replaceActorOrgs(trx, id, patch.allowedActorOrgs);
      return toOrganization(row, await this.#actorOrgs(trx, id));
    });
  }

  /** False when there was no such organization. Refused while anything still belongs to it, and for the default one. */
  async delete(id: string): Promise<boolean> {
    if (!isStorableText(id)) return false;
    if (id === DEFAULT_ORG) throw new DefaultOrganizationError();
    try {
      return await this.#db.transaction().execute(async (trx) => {
        // FOR UPDATE conflicts with the FOR KEY SHARE lock every insert naming this organization takes, so no new
        // member can arrive between the count and the delete.
        const row = await trx.selectFrom('organizations').select('id').where('id', '=', id).forUpdate().executeTakeFirst();
        if (!row) return false;
        const members: string[] = [];
        for (const table of MEMBER_TABLES) {
          const found = await trx.selectFrom(table).select(sql<number>`1`.as('one')).where('org_id', '=', id).limit(1).executeTakeFirst();
          if (found) members.push(table);
        }
        if (members.length > 0) throw new OrganizationHasMembersError(id, members);
        await trx.deleteFrom('organizations').where('id', '=', id).execute();
        return true;
      });
    } catch (error) {
      // 23001/23503: a member arrived by a path the lock above does not cover; the database's restriction holds.
      if (['23001', '23503'].includes((error as { code?: string }).code ?? '')) throw new OrganizationHasMembersError(id, ['members']);
      throw error;
    }
  }

  /**
   * Whether principals of `actorOrg` may act for the users (and other principals) of `subjectOrg`: always within
   * one organization, across two only where the operator listed the pair.
   */
  async allowsActor(subjectOrg: string, actorOrg: string): Promise<boolean> {
    if (subjectOrg === actorOrg) return true;
    const pair = await this.#db.selectFrom('organization_actor_orgs').select('actor_org_id')
      .where('org_id', '=', subjectOrg).where('actor_org_id', '=', actorOrg).executeTakeFirst();
    return pair !== undefined;
  }

  /** A new admin credential for the organization, and its bearer token (shown once, stored only as a hash); undefined when there is no such organization. */
  async issueCredential(orgId: string): Promise<{ credential: OrganizationCredential; token: string } | undefined> {
    if (!isStorableText(orgId)) return undefined;
    // 256 bits, so the hash needs no salt and a lookup by it reveals nothing through timing.
    const token = `oat_${randomBytes(32).toString('base64url')}`;
    const row = await this.#db.transaction().execute(async (trx) => {
      if (!(await trx.selectFrom('organizations').select('id').where('id', '=', orgId).forShare().executeTakeFirst())) return undefined;
      return trx.insertInto('organization_admin_credentials')
        .values({ id: `ocr_${randomBytes(12).toString('base64url')}`, org_id: orgId, token_hash: hashId(token) })
        .returning(['id', 'org_id', 'created_at']).executeTakeFirstOrThrow();
    });
    return row && { credential: { id: row.id, orgId: row.org_id, createdAt: row.created_at }, token };
  }

  async credentials(orgId: string): Promise<OrganizationCredential[]> {
    if (!isStorableText(orgId)) return [];
    const rows = await this.#db.selectFrom('organization_admin_credentials').select(['id', 'org_id', 'created_at']).where('org_id', '=', orgId).orderBy('created_at').orderBy('id').execute();
    return rows.map((row) => ({ id: row.id, orgId: row.org_id, createdAt: row.created_at }));
  }

  /** False when the organization has no such credential. */
  async revokeCredential(orgId: string, id: string): Promise<boolean> {
    if (!isStorableText(orgId) || !isStorableText(id)) return false;
    const result = await this.#db.deleteFrom('organization_admin_credentials').where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
    return result.numDeletedRows > 0n;
  }

  /** The credential a bearer token is, if it is one. */
  async credentialFor(token: string): Promise<OrganizationCredential | undefined> {
    const row = await this.#db.selectFrom('organization_admin_credentials').select(['id', 'org_id', 'created_at']).where('token_hash', '=', hashId(token)).executeTakeFirst();
    return row && { id: row.id, orgId: row.org_id, createdAt: row.created_at };
  }

  async #actorOrgs(db: Database | Transaction<Tables>, id: string): Promise<string[]> {
    const rows = await db.selectFrom('organization_actor_orgs').select('actor_org_id').where('org_id', '=', id).orderBy('actor_org_id').execute();
    return rows.map((row) => row.actor_org_id);
  }
}

async function replaceActorOrgs(trx: Transaction<Tables>, id: string, allowed: string[]): Promise<void> {
  const wanted = [...new Set(allowed)];
  if (wanted.length > 0) {
    const found = new Set((await trx.selectFrom('organizations').select('id').where('id', 'in', wanted).forShare().execute()).map((row) => row.id));
    const index = allowed.findIndex((org) => !found.has(org));
    if (index >= 0) throw new UnknownOrganizationError(allowed[index], `allowed_actor_orgs.${index}`);
  }
  await trx.deleteFrom('organization_actor_orgs').where('org_id', '=', id).execute();
  // An organization's own principals always act for its users; listing it changes nothing and is not stored.
  const pairs = wanted.filter((org) => org !== id).map((actor) => ({ org_id: id, actor_org_id: actor }));
  if (pairs.length > 0) await trx.insertInto('organization_actor_orgs').values(pairs).execute();
}

function toOrganization(row: Selectable<OrganizationsTable>, allowedActorOrgs: string[]): Organization {
  return { id: row.id, name: row.name, allowedActorOrgs: [...allowedActorOrgs].sort(), createdAt: row.created_at };
}
