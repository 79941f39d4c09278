// /admin/organizations: the organizations users, agents, registered clients and resources belong to
// (adapters/organization-store.ts), and for each which other organizations may act for its users
// (`allowed_actor_orgs`, cross-organization delegation; policy/organizations.ts), and the admin credentials of its
// own operators (server/admin-scope.ts). Only ADMIN_TOKEN reaches these routes. Every change is audited.
import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import type { AuditLog } from '../../adapters/audit-log.ts';
import type { JsonObject } from '../../adapters/database.ts';
import type { Organization, OrganizationCredential, OrganizationStore } from '../../adapters/organization-store.ts';
import { NotFound } from '../http-error.ts';
import { organizationId } from '../organization-id.ts';
import { readJson } from '../read-body.ts';
import { parseInput } from '../validation.ts';

const name = z.string().trim().min(1, 'is required').max(256);
const allowedActorOrgs = z.array(organizationId).max(100);
const createOrganization = z.strictObject({ id: organizationId, name, allowed_actor_orgs: allowedActorOrgs.default([]) });
const updateOrganization = z.strictObject({ name: name.optional(), allowed_actor_orgs: allowedActorOrgs.optional() });
const listQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(512).optional(),
});

export interface AdminOrganizationDependencies {
  organizations: OrganizationStore;
  audit: AuditLog;
}

export function adminOrganizationRoutes({ organizations, audit }: AdminOrganizationDependencies): Router {
  const router = new Router({ prefix: '/admin/organizations' });

  function record(ctx: Context, event: string, id: string, details: JsonObject = {}): void {
    audit.record({
      event,
      outcome: 'success',
      actor: { admin: true },
      requestId: ctx.state.requestId,
      sourceIp: ctx.ip,
      orgId: id,
      details: { organization: id, ...details },
    });
  }

  router.post('/', async (ctx) => {
    const input = parseInput(createOrganization, await readJson(ctx));
    const organization = await organizations.create({ id: input.id, name: input.name, allowedActorOrgs: input.allowed_actor_orgs });
    record(ctx, 'organization.created', organization.id, { name: organization.name, allowed_actor_orgs: organization.allowedActorOrgs });
    ctx.body = organizationJson(organization);
    ctx.status = 201;
  });

  router.get('/', async (ctx) => {
    const page = await organizations.list(parseInput(listQuery, ctx.query));
    ctx.body = { items: page.items.map(organizationJson), next_cursor: page.nextCursor };
  });

  router.get('/:id', async (ctx) => {
    const organization = await organizations.get(ctx.params.id);
    if (!organization) throw new NotFound('organization');
    ctx.body = organizationJson(organization);
  });

  router.patch('/:id', async (ctx) => {
    const input = parseInput(updateOrganization, await readJson(ctx));
    const organization = await organizations.update(ctx.params.id, { name: input.name, allowedActorOrgs: input.allowed_actor_orgs });
    if (!organization) throw new NotFound('organization');
    record(ctx, 'organization.updated', organization.id, { changed: Object.keys(input), allowed_actor_orgs: organization.allowedActorOrgs });
    ctx.body = organizationJson(organization);
  });

  router.delete('/:id', async (ctx) => {
    if (!(await organizations.delete(ctx.params.id))) throw new NotFound('organization');
    record(ctx, 'organization.deleted', ctx.params.id);
    ctx.status = 204;
  });

  // The token is in the answer once and stored only as its hash: a lost one is revoked and another issued.
  router.post('/:id/credentials', async (ctx) => {
    const issued = await organizations.issueCredential(ctx.params.id);
    if (!issued) throw new NotFound('organization');
    record(ctx, 'organization.credential_issued', ctx.params.id, { credential: issued.credential.id });
    ctx.body = { ...credentialJson(issued.credential), token: issued.token };
    ctx.status = 201;
  });

  router.get('/:id/credentials', async (ctx) => {
    if (!(await organizations.get(ctx.params.id))) throw new NotFound('organization');
    ctx.body = { items: (await organizations.credentials(ctx.params.id)).map(credentialJson) };
  });

  router.delete('/:id/credentials/:credential', async (ctx) => {
    if (!(await organizations.revokeCredential(ctx.params.id, ctx.params.credential))) throw new NotFound('credential');
    record(ctx, 'organization.credential_revoked', ctx.params.id, { credential: ctx.params.credential });
    ctx.status = 204;
  });

  return router;
}

function credentialJson(credential: OrganizationCredential) {
  return { id: credential.id, org_id: credential.orgId, created_at: credential.createdAt };
}

function organizationJson(organization: Organization) {
  return {
    id: organization.id,
    name: organization.name,
    // Organizations whose users, agents and clients may act for this organization's users.
    allowed_actor_orgs: organization.allowedActorOrgs,
    created_at: organization.createdAt,
  };
}
