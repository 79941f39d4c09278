// /admin/roles: roles (policy/roles.ts) and who holds them. A role is a name, scope patterns and the roles it
// inherits; users and clients (agents included) hold roles, and what they may be granted is their own patterns
// plus their roles', transitively. Every change is audited. Each role belongs to one organization (migration
// 0017): it inherits only that organization's roles, only its users and clients hold it, and an organization's
// operator (server/admin-scope.ts) sees and changes only its own.
import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import type { AuditLog } from '../../adapters/audit-log.ts';
import type { JsonObject } from '../../adapters/database.ts';
import {
  type Principal, type Role, type RoleStore,
} from '../../adapters/role-store.ts';
import { DEFAULT_ORG, type OrganizationStore, UnknownOrganizationError } from '../../adapters/organization-store.ts';
import { adminActor, checkMember, confinedOrganization, listedOrganization } from '../admin-scope.ts';
import { organizationId } from '../organization-id.ts';
import { isScopePattern } from '../../policy/scope-patterns.ts';
import { expandRoles, patternsOfRoles } from '../../policy/roles.ts';
import { InvalidField, NotFound } from '../http-error.ts';
import { readJson } from '../read-body.ts';
import { parseInput } from '../validation.ts';

// Names go into tokens (`roles`) and URLs: a conservative alphabet, no spaces.
const roleName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, 'must be 1–128 letters, digits, ".", "_", ":" or "-", starting with a letter or digit');
const pattern = z.string().max(256).refine(isScopePattern, 'must be a scope or a scope pattern (resource:action with * or **)');
const body = z.strictObject({
  description: z.string().min(1).max(1024).nullable().default(null),
  scopes: z.array(pattern).max(500).default([]),
  inherits: z.array(roleName).max(50).default([]),
});
const createRole = body.extend({ name: roleName, org_id: organizationId.optional() });
const holder = z.union([
  z.strictObject({ user_id: z.string().min(1).max(512) }),
  z.strictObject({ client_id: z.string().min(1).max(512) }),
], { error: 'must be {"user_id": …} or {"client_id": …}' });
const page = { limit: z.coerce.number().int().min(1).max(200).default(50), cursor: z.string().max(2048).optional() };
const listQuery = z.object({ ...page, user_id: z.string().min(1).max(512).optional(), client_id: z.string().min(1).max(512).optional() });
const holdersQuery = z.object(page);
const principalTypes = { users: 'user', clients: 'client' } as const;

export interface AdminRoleDependencies {
  roles: RoleStore;
  audit: AuditLog;
  /**
   * The organization of a user or operator-registered client, undefined when there is no such principal: roles
   * are held only by those that exist, and only by their organization's roles.
   */
  principalOrganization: (principal: Principal) => Promise<string | undefined>;
  organizations: Pick<OrganizationStore, 'get'>;
}

export function adminRoleRoutes({ roles, audit, principalOrganization, organizations }: AdminRoleDependencies): Router {
  const router = new Router({ prefix: '/admin/roles' });

  function record(ctx: Context, event: string, role: Pick<Role, 'name' | 'orgId'>, details: JsonObject = {}, principal?: Principal): void {
    audit.record({
      event,
      outcome: 'success',
      actor: adminActor(ctx),
      orgId: role.orgId,
      requestId: ctx.state.requestId,
      sourceIp: ctx.ip,
      ...(principal?.type === 'client' ? { clientId: principal.id } : {}),
      ...(principal ? { subject: principal.id } : {}),
      details: { role: role.name, ...details },
    });
  }

  async function view(role: Role) {
    const { graph } = await roles.graph();
    return {
      name: role.name,
      description: role.description,
      scopes: role.scopes,
      inherits: role.inherits,
      org_id: role.orgId,
      // What holding it grants: the role and every one it inherits, and their patterns.
      effective_roles: expandRoles(graph, [role.name]),
      effective_scopes: patternsOfRoles(graph, [role.name]),
      created_at: role.createdAt,
      updated_at: role.updatedAt,
    };
  }

  /** The role the path names, for this caller: 404 for none, 403 for another organization's. */
  async function existing(ctx: Context): Promise<Role> {
    const role = await roles.get(ctx.params.name);
    if (!role) throw new NotFound('role');
    checkMember(ctx, 'role', role.orgId);
    return role;
  }

  /** The holder's organization must be the role's: a role carries its organization's permissions to no other. */
  async function checkHolder(principal: Principal, role: Role): Promise<void> {
    const field = principal.type === 'user' ? 'user_id' : 'client_id';
    const orgId = await principalOrganization(principal);
    if (orgId === undefined) throw new InvalidField(field, `no such ${principal.type}`);
    if (orgId !== role.orgId) throw new InvalidField(field, `belongs to organization "${orgId}", not the role's "${role.orgId}"`);
  }

  router.post('/', async (ctx) => {
    const { org_id: requested, ...input } = parseInput(createRole, await readJson(ctx));
    const orgId = confinedOrganization(ctx, requested) ?? DEFAULT_ORG;
    // Said before any other refusal: "inherits a role of another organization" would mislead about one that does not exist.
    if (!(await organizations.get(orgId))) throw new UnknownOrganizationError(orgId);
    const role = await roles.create({ ...input, orgId });
    record(ctx, 'role.created', role, { scopes: role.scopes, inherits: role.inherits });
    ctx.body = await view(role);
    ctx.status = 201;
  });

  router.get('/', async (ctx) => {
    const query = parseInput(listQuery, ctx.query);
    if (query.user_id !== undefined && query.client_id !== undefined) throw new InvalidField('client_id', 'give user_id or client_id, not both');
    const principal: Principal | undefined = query.user_id !== undefined ? { type: 'user', id: query.user_id } : query.client_id !== undefined ? { type: 'client', id: query.client_id } : undefined;
    if (principal) {
      const orgId = await principalOrganization(principal);
      if (orgId !== undefined) checkMember(ctx, principal.type === 'user' ? 'user' : 'client', orgId);
      // The roles one principal holds, with what they grant together; few enough for one page.
      const held = await roles.heldBy(principal);
      const { graph, roles: all } = await roles.graph();
      ctx.body = {
        items: await Promise.all(held.map((name) => all.get(name)).filter((role) => role !== undefined).map(view)),
        effective_roles: expandRoles(graph, held),
        effective_scopes: patternsOfRoles(graph, held),
        next_cursor: null,
      };
      return;
    }
    const found = await roles.list({ limit: query.limit, cursor: query.cursor, orgId: listedOrganization(ctx) });
    ctx.body = { items: await Promise.all(found.items.map(view)), next_cursor: found.nextCursor };
  });

  router.get('/:name', async (ctx) => {
    ctx.body = await view(await existing(ctx));
  });

  router.put('/:name', async (ctx) => {
    const input = parseInput(body, await readJson(ctx));
    await existing(ctx);
    const role = await roles.replace({ ...input, name: ctx.params.name });
    if (!role) throw new NotFound('role');
    record(ctx, 'role.updated', role, { scopes: role.scopes, inherits: role.inherits });
    ctx.body = await view(role);
  });

  router.delete('/:name', async (ctx) => {
    const role = await existing(ctx);
    const holders = await roles.delete(role.name);
    if (!holders) throw new NotFound('role');
    record(ctx, 'role.deleted', role, { holders: holders.length });
    ctx.status = 204;
  });

  router.get('/:name/holders', async (ctx) => {
    const query = parseInput(holdersQuery, ctx.query);
    await existing(ctx);
    const found = await roles.holders(ctx.params.name, query);
    ctx.body = { items: found.items.map((item) => ({ [item.type === 'user' ? 'user_id' : 'client_id']: item.id, since: item.since })), next_cursor: found.nextCursor };
  });

  // Granting is idempotent: 201 when the principal did not hold the role, 200 when it already did.
  router.post('/:name/holders', async (ctx) => {
    const input = parseInput(holder, await readJson(ctx));
    const principal: Principal = 'user_id' in input ? { type: 'user', id: input.user_id } : { type: 'client', id: input.client_id };
    const role = await existing(ctx);
    await checkHolder(principal, role);
    const granted = await roles.assign(role.name, principal);
    if (granted === undefined) throw new NotFound('role');
    if (granted) record(ctx, 'role.granted', role, {}, principal);
    ctx.status = granted ? 201 : 200;
    ctx.body = { role: ctx.params.name, [principal.type === 'user' ? 'user_id' : 'client_id']: principal.id };
  });

  router.delete('/:name/holders/:type/:id', async (ctx) => {
    const type = principalTypes[ctx.params.type as keyof typeof principalTypes];
    if (!type) throw new NotFound('holder');
    const principal: Principal = { type, id: ctx.params.id };
    const role = await existing(ctx);
    if (!(await roles.unassign(role.name, principal))) throw new NotFound(`${type} holding the role`);
    record(ctx, 'role.revoked', role, {}, principal);
    ctx.status = 204;
  });

  return router;
}
