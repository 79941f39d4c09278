// /admin/roles: roles (policy/roles.ts) and who holds them. A role is a name, scope patterns and the roles it
// inherits; users and clients (agents included) hold roles, and what they may be granted is their own patterns
// plus their roles', transitively. Every change is audited.
import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import type { AuditLog } from '../../adapters/audit-log.ts';
import type { JsonObject } from '../../adapters/database.ts';
import {
  type Principal, type Role, type RoleStore,
} from '../../adapters/role-store.ts';
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
const createRole = body.extend({ name: roleName });
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
  /** Whether a principal exists: roles are held only by users and operator-registered clients that do. */
  principalExists: (principal: Principal) => Promise<boolean>;
}

export function adminRoleRoutes({ roles, audit, principalExists }: AdminRoleDependencies): Router {
  const router = new Router({ prefix: '/admin/roles' });

  function record(ctx: Context, event: string, role: string, details: JsonObject = {}, principal?: Principal): void {
    audit.record({
      event,
      outcome: 'success',
      actor: { admin: true },
      requestId: ctx.state.requestId,
      sourceIp: ctx.ip,
      ...(principal?.type === 'client' ? { clientId: principal.id } : {}),
      ...(principal ? { subject: principal.id } : {}),
      details: { role, ...details },
    });
  }

  async function view(role: Role) {
    const { graph } = await roles.graph();
    return {
      name: role.name,
      description: role.description,
      scopes: role.scopes,
      inherits: role.inherits,
      // What holding it grants: the role and every one it inherits, and their patterns.
      effective_roles: expandRoles(graph, [role.name]),
      effective_scopes: patternsOfRoles(graph, [role.name]),
      created_at: role.createdAt,
      updated_at: role.updatedAt,
    };
  }

  router.post('/', async (ctx) => {
    const input = parseInput(createRole, await readJson(ctx));
    const role = await roles.create(input);
    record(ctx, 'role.created', role.name, { scopes: role.scopes, inherits: role.inherits });
    ctx.body = await view(role);
    ctx.status = 201;
  });

  router.get('/', async (ctx) => {
    const query = parseInput(listQuery, ctx.query);
    if (query.user_id !== undefined && query.client_id !== undefined) throw new InvalidField('client_id', 'give user_id or client_id, not both');
    const principal: Principal | undefined = query.user_id !== undefined ? { type: 'user', id: query.user_id } : query.client_id !== undefined ? { type: 'client', id: query.client_id } : undefined;
    if (principal) {
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
    const found = await roles.list({ limit: query.limit, cursor: query.cursor });
    ctx.body = { items: await Promise.all(found.items.map(view)), next_cursor: found.nextCursor };
  });

  router.get('/:name', async (ctx) => {
    const role = await roles.get(ctx.params.name);
    if (!role) throw new NotFound('role');
    ctx.body = await view(role);
  });

  router.put('/:name', async (ctx) => {
    const input = parseInput(body, await readJson(ctx));
    const role = await roles.replace({ ...input, name: ctx.params.name });
    if (!role) throw new NotFound('role');
    record(ctx, 'role.updated', role.name, { scopes: role.scopes, inherits: role.inherits });
    ctx.body = await view(role);
  });

  router.delete('/:name', async (ctx) => {
    const holders = await roles.delete(ctx.params.name);
    if (!holders) throw new NotFound('role');
    record(ctx, 'role.deleted', ctx.params.name, { holders: holders.length });
    ctx.status = 204;
  });

  router.get('/:name/holders', async (ctx) => {
    const query = parseInput(holdersQuery, ctx.query);
    if (!(await roles.get(ctx.params.name))) throw new NotFound('role');
    const found = await roles.holders(ctx.params.name, query);
    ctx.body = { items: found.items.map((item) => ({ [item.type === 'user' ? 'user_id' : 'client_id']: item.id, since: item.since })), next_cursor: found.nextCursor };
  });

  // Granting is idempotent: 201 when the principal did not hold the role, 200 when it already did.
  router.post('/:name/holders', async (ctx) => {
    const input = parseInput(holder, await readJson(ctx));
    const principal: Principal = 'user_id' in input ? { type: 'user', id: input.user_id } : { type: 'client', id: input.client_id };
    if (!(await principalExists(principal))) throw new InvalidField(principal.type === 'user' ? 'user_id' : 'client_id', `no such ${principal.type}`);
    const granted = await roles.assign(ctx.params.name, principal);
    if (granted === undefined) throw new NotFound('role');
    if (granted) record(ctx, 'role.granted', ctx.params.name, {}, principal);
    ctx.status = granted ? 201 : 200;
    ctx.body = { role: ctx.params.name, [principal.type === 'user' ? 'user_id' : 'client_id']: principal.id };
  });

  router.delete('/:name/holders/:type/:id', async (ctx) => {
    const type = principalTypes[ctx.params.type as keyof typeof principalTypes];
    if (!type) throw new NotFound('holder');
    const principal: Principal = { type, id: ctx.params.id };
    if (!(await roles.unassign(ctx.params.name, principal))) throw new NotFound(`${type} holding the role`);
    record(ctx, 'role.revoked', ctx.params.name, {}, principal);
    ctx.status = 204;
  });

  return router;
}
