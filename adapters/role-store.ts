// Roles and who holds them (policy/roles.ts decides what they mean). Changes to the graph are serialized by a
// table lock so two concurrent edits cannot together close a cycle neither closes alone; each edit is checked
// against the graph as it is inside that lock. Reads on the token path go through read-through caches (the
// whole graph, and each principal's role names) that every write announces before it commits, as the other
// stores do (read-through-cache.ts), so a revoked role is gone on every instance when the admin call answers.
import { DomainError } from './domain-error.ts';
import { sql, type Selectable, type Transaction } from 'kysely';
import { cycleThrough, inheritorsOf, patternsOfRoles, roleGraph, type RoleGraph } from '../policy/roles.ts';
import type { Database, RolesTable, Tables } from './database.ts';
import { DEFAULT_ORG, namesUnknownOrganization, UnknownOrganizationError } from './organization-store.ts';
import { decodeTextCursor, toPage, type Page, type PageRequest } from './pagination.ts';
import type { ReadThroughCache } from './read-through-cache.ts';

export interface Role {
  name: string;
  description: string | null;
  /** Its own scope patterns (policy/scope-patterns.ts). */
  scopes: string[];
  /** The roles whose patterns it also grants, all of its organization. */
  inherits: string[];
  /** Its organization: only that organization's operator manages it, and only its members hold it. */
  orgId: string;
  createdAt: Date;
  updatedAt: Date;
}

export type RoleInput = Pick<Role, 'name' | 'description' | 'scopes' | 'inherits'>;

/** A new role: `default` unless it names its organization. */
export type NewRole = RoleInput & { orgId?: string };

export type PrincipalType = 'user' | 'client';

export interface Principal {
  type: PrincipalType;
  id: string;
}

export class DuplicateRoleError extends DomainError {
  readonly code = 'ERR_DUPLICATE_ROLE';
  constructor(name: string) {
    super(`a role "${name}" already exists`, { field: 'name', detail: 'is already a role' });
  }
}

export class UnknownInheritedRoleError extends DomainError {
  readonly code = 'ERR_UNKNOWN_INHERITED_ROLE';
  readonly missing: string[];
  constructor(missing: string[]) {
    const message = `inherits ${missing.map((name) => `"${name}"`).join(', ')}, which ${missing.length === 1 ? 'is not a role' : 'are not roles'}`;
    super(message, { field: 'inherits', detail: message });
    this.missing = missing;
  }
}

/** An organization's roles inherit only each other: another's would grant its patterns across the boundary. */
export class InheritedRoleOfAnotherOrganizationError extends DomainError {
  readonly code = 'ERR_INHERITED_ROLE_OF_ANOTHER_ORGANIZATION';
  constructor(names: string[], orgId: string) {
    const message = `inherits ${names.map((name) => `"${name}"`).join(', ')}, of another organization than the role's ("${orgId}")`;
    super(message, { field: 'inherits', detail: message });
  }
}

export class RoleCycleError extends DomainError {
  readonly code = 'ERR_ROLE_CYCLE';
  readonly path: string[];
  constructor(path: string[]) {
    const message = `would make roles inherit themselves: ${path.join(' → ')}`;
    super(message, { field: 'inherits', detail: message });
    this.path = path;
  }
}

export class RoleInheritedError extends DomainError {
  readonly code = 'ERR_ROLE_INHERITED';
  readonly inheritors: string[];
  constructor(name: string, inheritors: string[]) {
    const message = `role "${name}" is inherited by ${inheritors.map((inheritor) => `"${inheritor}"`).join(', ')}; change those first`;
    super(message, { field: 'name', detail: message, kind: 'conflict' });
    this.inheritors = inheritors;
  }
}

const GRAPH = 'graph';

export interface RoleCaches {
  graph: ReadThroughCache<Role[]>;
  /** By `<type>:<id>`: the names of the roles a principal holds. */
  held: ReadThroughCache<string[]>;
}

export class RoleStore {
  readonly #db: Database;
  readonly #caches: RoleCaches | undefined;

  constructor(db: Database, caches?: RoleCaches) {
    this.#db = db;
    this.#caches = caches;
  }

  async create(input: NewRole): Promise<Role> {
    try {
      return await this.#changeGraph(async (trx, graph, stored) => {
        if (graph.has(input.name)) throw new DuplicateRoleError(input.name);
        const orgId = input.orgId ?? DEFAULT_ORG;
        checkAgainst(graph, stored, input, orgId);
        const row = await trx.insertInto('roles').values({ ...toRow(input), org_id: orgId }).returningAll().executeTakeFirstOrThrow();
        return toRole(row);
      });
    } catch (error) {
      if (namesUnknownOrganization(error)) throw new UnknownOrganizationError(input.orgId!);
      throw error;
    }
  }

  /** Replaces a role's description, scopes and inherited roles; undefined when there is no such role. */
  async replace(input: RoleInput): Promise<Role | undefined> {
    return this.#changeGraph(async (trx, graph, stored) => {
      const current = stored.get(input.name);
      if (!current) return undefined;
      checkAgainst(graph, stored, input, current.orgId);
      const { name: _name, ...values } = toRow(input);
      const row = await trx.updateTable('roles').set({ ...values, updated_at: sql<Date>`now()` }).where('name', '=', input.name).returningAll().executeTakeFirstOrThrow();
      return toRole(row);
    });
  }

  /**
   * Deletes a role and its assignments; returns the principals that held it (whose tokens the caller cuts off),
   * or undefined when there is no such role. Refused while another role inherits it.
   */
  async delete(name: string): Promise<Principal[] | undefined> {
    if (name.includes('\u0000')) return undefined;
    return this.#changeGraph(async (trx, graph) => {
      if (!graph.has(name)) return undefined;
      const inheritors = inheritorsOf(graph, name);
      if (inheritors.length > 0) throw new RoleInheritedError(name, inheritors);
      const holders = await trx.selectFrom('role_assignments').select(['principal_type', 'principal_id']).where('role_name', '=', name).execute();
      for (const holder of holders) await this.#caches?.held.invalidate(heldKey({ type: holder.principal_type, id: holder.principal_id }));
      await trx.deleteFrom('roles').where('name', '=', name).execute();
      return holders.map((holder) => ({ type: holder.principal_type, id: holder.principal_id }));
    });
  }

  async get(name: string): Promise<Role | undefined> {
    if (name.includes('\u0000')) return undefined;
    return (await this.graph()).roles.get(name);
  }

  /** A page of roles, of one organization when `orgId` is given. */
  async list({ limit, cursor, orgId }: PageRequest & { orgId?: string }): Promise<Page<Role>> {
    let query = this.#db.selectFrom('roles').selectAll().orderBy('name').limit(limit + 1);
    if (orgId !== undefined) query = query.where('org_id', '=', orgId);
    if (cursor !== undefined) query = query.where('name', '>', decodeTextCursor(cursor));
    return toPage(await query.execute(), limit, toRole, (row) => row.name);
  }

  /** Every role, as a graph and by name (roles are few: the whole set is what inheritance needs). */
  async graph(): Promise<{ graph: RoleGraph; roles: ReadonlyMap<string, Role> }> {
    const all = (this.#caches ? await this.#caches.graph.get(GRAPH, () => this.#loadAll(this.#db)) : undefined) ?? (await this.#loadAll(this.#db));
    return { graph: roleGraph(all), roles: new Map(all.map((role) => [role.name, role])) };
  }

  /** Gives `principal` the role; false when it already held it, undefined when there is no such role. */
  async assign(role: string, principal: Principal): Promise<boolean | undefined> {
    if (role.includes('\u0000') || principal.id.includes('\u0000')) return undefined;
    return this.#db.transaction().execute(async (trx) => {
      // FOR SHARE: a concurrent delete of the role waits for this assignment (and then removes it) or wins first.
      if (!(await trx.selectFrom('roles').select('name').where('name', '=', role).forShare().executeTakeFirst())) return undefined;
      const inserted = await trx.insertInto('role_assignments')
        .values({ role_name: role, principal_type: principal.type, principal_id: principal.id })
        .onConflict((oc) => oc.columns(['principal_type', 'principal_id', 'role_name']).doNothing())
        .returning('role_name').executeTakeFirst();
      if (inserted) await this.#caches?.held.invalidate(heldKey(principal));
      return inserted !== undefined;
    });
  }

  /** Takes the role from `principal`; false when it did not hold it. */
  async unassign(role: string, principal: Principal): Promise<boolean> {
    return this.#db.transaction().execute(async (trx) => {
      const deleted = await trx.deleteFrom('role_assignments')
        .where('role_name', '=', role).where('principal_type', '=', principal.type).where('principal_id', '=', principal.id)
        .executeTakeFirst();
      if (deleted.numDeletedRows === 0n) return false;
      await this.#caches?.held.invalidate(heldKey(principal));
      return true;
    });
  }

  /** The names of the roles `principal` holds directly, sorted. */
  async heldBy(principal: Principal): Promise<string[]> {
    if (principal.id.includes('\u0000')) return [];
    const load = () => this.#db.selectFrom('role_assignments').select('role_name').where('principal_type', '=', principal.type)
      .where('principal_id', '=', principal.id).orderBy('role_name').execute().then((rows) => rows.map((row) => row.role_name));
    return [...((this.#caches ? await this.#caches.held.get(heldKey(principal), load) : undefined) ?? (await load()))];
  }

  /** What `principal`'s roles give it: the names it holds (for a token's `roles`) and their patterns, inherited ones included. */
  async grantsOf(principal: Principal): Promise<{ roles: string[]; patterns: string[] }> {
    const held = await this.heldBy(principal);
    if (held.length === 0) return { roles: [], patterns: [] };
    const { graph } = await this.graph();
    return { roles: held.filter((name) => graph.has(name)), patterns: patternsOfRoles(graph, held) };
  }

  /** Who holds `role` directly, a page at a time (cursor: `<type>:<id>`). */
  async holders(role: string, { limit, cursor }: PageRequest): Promise<Page<Principal & { since: Date }>> {
    let query = this.#db.selectFrom('role_assignments').select(['principal_type', 'principal_id', 'created_at']).where('role_name', '=', role)
      .orderBy('principal_type').orderBy('principal_id').limit(limit + 1);
    if (cursor !== undefined) {
      const decoded = decodeTextCursor(cursor);
      const at = decoded.indexOf(':');
      const [type, id] = [decoded.slice(0, at), decoded.slice(at + 1)];
      query = query.where((eb) => eb.or([eb('principal_type', '>', type as PrincipalType), eb.and([eb('principal_type', '=', type as PrincipalType), eb('principal_id', '>', id)])]));
    }
    return toPage(await query.execute(), limit, (row) => ({ type: row.principal_type, id: row.principal_id, since: row.created_at }), (row) => `${row.principal_type}:${row.principal_id}`);
  }

  /** Forgets a principal's roles (it was deleted); returns the names it held. */
  async forget(principal: Principal): Promise<string[]> {
    return this.#db.transaction().execute(async (trx) => {
      const rows = await trx.deleteFrom('role_assignments').where('principal_type', '=', principal.type).where('principal_id', '=', principal.id).returning('role_name').execute();
      if (rows.length > 0) await this.#caches?.held.invalidate(heldKey(principal));
      return rows.map((row) => row.role_name);
    });
  }

  /** Runs a graph change with every other graph change shut out, announcing it before it commits. */
  #changeGraph<R>(change: (trx: Transaction<Tables>, graph: RoleGraph, stored: ReadonlyMap<string, Role>) => Promise<R>): Promise<R> {
    return this.#db.transaction().execute(async (trx) => {
      // SHARE ROW EXCLUSIVE conflicts with itself and with row writes, not with reads: graph edits run one at a
      // time, token requests keep reading.
      await sql`lock table roles in share row exclusive mode`.execute(trx);
      const all = await this.#loadAll(trx);
      const result = await change(trx, roleGraph(all), new Map(all.map((role) => [role.name, role])));
      await this.#caches?.graph.invalidate(GRAPH);
      return result;
    });
  }

  async #loadAll(db: Database | Transaction<Tables>): Promise<Role[]> {
    return (await db.selectFrom('roles').selectAll().orderBy('name').execute()).map(toRole);
  }
}

function checkAgainst(graph: RoleGraph, stored: ReadonlyMap<string, Role>, input: RoleInput, orgId: string): void {
  const missing = input.inherits.filter((name) => name !== input.name && !graph.has(name));
  if (missing.length > 0) throw new UnknownInheritedRoleError(missing);
  const foreign = input.inherits.filter((name) => name !== input.name && stored.get(name)!.orgId !== orgId);
  if (foreign.length > 0) throw new InheritedRoleOfAnotherOrganizationError(foreign, orgId);
  const cycle = cycleThrough(graph, input);
  if (cycle) throw new RoleCycleError(cycle);
}

const heldKey = (principal: Principal) => `${principal.type}:${principal.id}`;

function toRow(input: RoleInput) {
  return { name: input.name, description: input.description, scopes: JSON.stringify(input.scopes), inherits: JSON.stringify(input.inherits) };
}

function toRole(row: Selectable<RolesTable>): Role {
  return { name: row.name, description: row.description, scopes: row.scopes, inherits: row.inherits, orgId: row.org_id, createdAt: row.created_at, updatedAt: row.updated_at };
}
