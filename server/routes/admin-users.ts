// /admin/users: the people who sign in at the login page, each in one organization; the platform operator may
// move one to another organization, which ends the tokens issued for it so far. Every change is audited with the
// user's organization, so an organization's operator reads it on its own trail.
import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import type { AgentStore } from '../../adapters/agent-store.ts';
import type { AuditLog } from '../../adapters/audit-log.ts';
import type { JsonObject } from '../../adapters/database.ts';
import type { RoleStore } from '../../adapters/role-store.ts';
import type { User, UserStore } from '../../adapters/user-store.ts';
import { adminActor, checkMember, confinedOrganization, listedOrganization } from '../admin-scope.ts';
import { InvalidField, NotFound } from '../http-error.ts';
import { organizationId } from '../organization-id.ts';
import { readJson } from '../read-body.ts';
import { parseInput } from '../validation.ts';

const password = z.string().min(8, 'must be at least 8 characters').max(1024, 'must be at most 1024 characters');
const createUser = z.strictObject({
  username: z.string().min(1, 'is required').max(128, 'must be at most 128 characters').regex(/^[^\s]+$/, 'must not contain spaces'),
  password,
  email: z.email('must be an email address').max(320).optional(),
  name: z.string().min(1).max(256).optional(),
  // Absent: the default organization; one that does not exist is the store's refusal (400 naming org_id).
  org_id: organizationId.optional(),
});
const resetPassword = z.strictObject({ password });
const updateUser = z.strictObject({ org_id: organizationId });
const listQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(512).optional(),
});

export interface AdminUserDependencies {
  users: UserStore;
  /** What stays in the organization a user leaves: the agents it owns and the roles it holds. */
  agents: Pick<AgentStore, 'list'>;
  roles: Pick<RoleStore, 'heldBy'>;
  audit: AuditLog;
}

export function adminUserRoutes({ users, agents, roles, audit }: AdminUserDependencies): Router {
  const router = new Router({ prefix: '/admin/users' });

  // Never the password: only who changed which user, in which organization.
  function record(ctx: Context, event: string, user: User, details?: JsonObject): void {
    audit.record({
      event, outcome: 'success', subject: user.id, actor: adminActor(ctx), orgId: user.orgId,
      requestId: ctx.state.requestId, sourceIp: ctx.ip, ...(details ? { details } : {}),
    });
  }

  router.post('/', async (ctx) => {
    const input = parseInput(createUser, await readJson(ctx));
    const orgId = confinedOrganization(ctx, input.org_id);
    const user = await users.create({ username: input.username, password: input.password, email: input.email, name: input.name, orgId });
    record(ctx, 'user.created', user, { username: user.username });
    ctx.body = userJson(user);
    ctx.status = 201;
  });

  router.get('/', async (ctx) => {
    const query = parseInput(listQuery, ctx.query);
    const page = await users.list({ ...query, orgId: listedOrganization(ctx) });
    ctx.body = { items: page.items.map(userJson), next_cursor: page.nextCursor };
  });

  /** The user the path names, for this caller: 404 for nobody, 403 for another organization's. */
  async function existing(ctx: Context): Promise<User> {
    const user = await users.findById(ctx.params.id);
    if (!user) throw new NotFound('user');
    checkMember(ctx, 'user', user.orgId);
    return user;
  }

  router.get('/:id', async (ctx) => {
    ctx.body = userJson(await existing(ctx));
  });

  // A move: an organization's operator moves no one out of its organization (naming another is 403).
  router.patch('/:id', async (ctx) => {
    const input = parseInput(updateUser, await readJson(ctx));
    const current = await existing(ctx);
    const orgId = confinedOrganization(ctx, input.org_id)!;
    if (orgId === current.orgId) return void (ctx.body = userJson(current));
    // An agent's owner is of the agent's organization, and a role is held only in its own.
    const owned = await agents.list({ ownerId: current.id, limit: 5 });
    if (owned.items.length > 0) {
      throw new InvalidField('org_id', `the user owns agents of organization "${current.orgId}" (${owned.items.map((agent) => `"${agent.id}"`).join(', ')}${owned.nextCursor ? ', …' : ''}); give them another owner or move them first`);
    }
    const held = await roles.heldBy({ type: 'user', id: current.id });
    if (held.length > 0) throw new InvalidField('org_id', `the user holds roles of organization "${current.orgId}" (${held.map((name) => `"${name}"`).join(', ')}); revoke them first`);
    const moved = await users.move(current.id, orgId);
    if (!moved) throw new NotFound('user');
    record(ctx, 'user.moved', moved, { moved_from: current.orgId });
    ctx.body = userJson(moved);
  });

  router.delete('/:id', async (ctx) => {
    const user = await existing(ctx);
    if (!(await users.delete(ctx.params.id))) throw new NotFound('user');
    record(ctx, 'user.deleted', user, { username: user.username });
    ctx.status = 204;
  });

  router.post('/:id/password', async (ctx) => {
    const input = parseInput(resetPassword, await readJson(ctx));
    const user = await existing(ctx);
    if (!(await users.resetPassword(ctx.params.id, input.password))) throw new NotFound('user');
    record(ctx, 'user.password_reset', user);
    ctx.status = 204;
  });

  return router;
}

/** The admin API speaks snake_case JSON, like every other endpoint of an OAuth server. */
function userJson(user: User) {
  return { id: user.id, username: user.username, email: user.email, name: user.name, org_id: user.orgId, created_at: user.createdAt, updated_at: user.updatedAt };
}
