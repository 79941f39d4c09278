// /admin/resources: the resource servers tokens may be issued for (RFC 8707 resource indicators). A token
// requested for a resource not registered here is refused with invalid_target. Every change is audited with the
// resource's organization.
import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import type { AuditLog } from '../../adapters/audit-log.ts';
import type { JsonObject } from '../../adapters/database.ts';
import type { Resource, ResourceStore } from '../../adapters/resource-store.ts';
import type { SigningAlg } from '../../keys/signing-keys.ts';
import { isLoopbackUrl } from '../client-policy.ts';
import { resourceMetadataUrl } from './protected-resource-metadata.ts';
import { adminActor, checkMember, confinedOrganization, listedOrganization } from '../admin-scope.ts';
import { InvalidField, NotFound } from '../http-error.ts';
import { organizationId } from '../organization-id.ts';
import { readJson } from '../read-body.ts';
import { parseInput } from '../validation.ts';

// RFC 8707 §2: an absolute URI without a fragment; https, or http on loopback for local development.
const identifier = z.string().max(2048).refine((value) => {
  try {
    const url = new URL(value);
    return !url.hash && !value.includes('#') && (url.protocol === 'https:' || isLoopbackUrl(url));
  } catch {
    return false;
  }
}, 'must be an absolute https URL (or http on loopback) without a fragment');

const scope = z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/, 'must be a scope token (RFC 6749 §3.3)').max(256);
const scopes = z.array(scope).max(500);
const tokenFormat = z.enum(['jwt', 'opaque']);
const ttl = z.number().int().min(1).max(86_400);

const documentationUrl = z.string().max(2048).refine((value) => {
  try {
    return ['https:', 'http:'].includes(new URL(value).protocol);
  } catch {
    return false;
  }
}, 'must be an http(s) URL');

/** Only an algorithm we hold a signing key for: any other would leave the resource's tokens unsignable. */
const signingAlg = (held: readonly SigningAlg[]) => z.string().refine(
  (value): value is SigningAlg => (held as readonly string[]).includes(value),
  `must be one of ${held.join(', ')} (the algorithms this server holds signing keys for)`,
).transform((value) => value as SigningAlg);

const resourceSchemas = (held: readonly SigningAlg[]) => ({
  create: z.strictObject({
    identifier,
    name: z.string().min(1).max(256).optional(),
    scopes: scopes.default([]),
    token_format: tokenFormat.default('jwt'),
    access_token_ttl: ttl.default(600),
    dpop_required: z.boolean().default(false),
    documentation_url: documentationUrl.optional(),
    signing_alg: signingAlg(held).optional(),
    // Absent: the default organization; only its principals get tokens for the resource (policy/organizations.ts).
    org_id: organizationId.optional(),
  }),
  update: z.strictObject({
    name: z.string().min(1).max(256).nullable().optional(),
    scopes: scopes.optional(),
    token_format: tokenFormat.optional(),
    access_token_ttl: ttl.optional(),
    dpop_required: z.boolean().optional(),
    documentation_url: documentationUrl.nullable().optional(),
    signing_alg: signingAlg(held).nullable().optional(),
    // A move (the platform operator's alone): refused while clients of another organization are limited to it.
    org_id: organizationId.optional(),
  }),
});
const listQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(2048).optional(),
});

export interface AdminResourceDependencies {
  resources: ResourceStore;
  /** Who is limited to a resource (agents' `resources`, registered clients' `allowed_resources`), which stays with its organization. */
  limitedTo: (identifier: string, options: { outsideOrg: string; limit: number }) => Promise<string[]>;
  audit: Pick<AuditLog, 'record'>;
  issuer: string;
  /** The algorithms we hold signing keys for (keys/signing-keys.ts heldSigningAlgs). */
  signingAlgs: readonly SigningAlg[];
}

export function adminResourceRoutes({ resources, limitedTo, audit, issuer, signingAlgs }: AdminResourceDependencies): Router {
  const router = new Router({ prefix: '/admin/resources' });
  const { create: createResource, update: updateResource } = resourceSchemas(signingAlgs);
  const resourceJson = (resource: Resource) => resourceView(resource, issuer);

  function record(ctx: Context, event: string, resource: Resource, details?: JsonObject): void {
    audit.record({
      event, outcome: 'success', subject: resource.identifier, actor: adminActor(ctx), orgId: resource.orgId,
      requestId: ctx.state.requestId, sourceIp: ctx.ip, ...(details ? { details } : {}),
    });
  }

  router.post('/', async (ctx) => {
    const input = parseInput(createResource, await readJson(ctx));
    const resource = await resources.create({
      identifier: input.identifier,
      name: input.name,
      scopes: input.scopes,
      tokenFormat: input.token_format,
      accessTokenTtl: input.access_token_ttl,
      dpopRequired: input.dpop_required,
      documentationUrl: input.documentation_url,
      signingAlg: input.signing_alg,
      orgId: confinedOrganization(ctx, input.org_id),
    });
    record(ctx, 'resource.created', resource, { scopes: resource.scopes });
    ctx.body = resourceJson(resource);
    ctx.status = 201;
  });

  router.get('/', async (ctx) => {
    const page = await resources.list({ ...parseInput(listQuery, ctx.query), orgId: listedOrganization(ctx) });
    ctx.body = { items: page.items.map(resourceJson), next_cursor: page.nextCursor };
  });

  /** The resource the path names, for this caller: 404 for none, 403 for another organization's. */
  async function existing(ctx: Context): Promise<Resource> {
    const resource = await resources.get(ctx.params.identifier);
    if (!resource) throw new NotFound('resource');
    checkMember(ctx, 'resource', resource.orgId);
    return resource;
  }

  router.get('/:identifier', async (ctx) => {
    ctx.body = resourceJson(await existing(ctx));
  });

  router.patch('/:identifier', async (ctx) => {
    const input = parseInput(updateResource, await readJson(ctx));
    const current = await existing(ctx);
    // An organization's operator moves no resource out of its organization (naming another is 403).
    const moveTo = input.org_id !== undefined && input.org_id !== current.orgId ? confinedOrganization(ctx, input.org_id)! : undefined;
    if (moveTo) {
      // Their tokens would be refused from now on (invalid_target): the operator changes or moves them first.
      const clients = await limitedTo(current.identifier, { outsideOrg: moveTo, limit: 6 });
      if (clients.length > 0) {
        throw new InvalidField('org_id', `clients of another organization than "${moveTo}" are limited to this resource (${clients.slice(0, 5).map((id) => `"${id}"`).join(', ')}${clients.length > 5 ? ', …' : ''}); take it out of their resources or move them first`);
      }
    }
    const updated = await resources.update(ctx.params.identifier, {
      name: input.name,
      scopes: input.scopes,
      tokenFormat: input.token_format,
      accessTokenTtl: input.access_token_ttl,
      dpopRequired: input.dpop_required,
      documentationUrl: input.documentation_url,
      signingAlg: input.signing_alg,
      orgId: moveTo,
    });
    if (!updated) throw new NotFound('resource');
    record(ctx, 'resource.updated', updated, { changed: Object.keys(input), ...(moveTo ? { moved_from: current.orgId } : {}) });
    ctx.body = resourceJson(updated);
  });

  router.delete('/:identifier', async (ctx) => {
    const resource = await existing(ctx);
    if (!(await resources.delete(ctx.params.identifier))) throw new NotFound('resource');
    record(ctx, 'resource.deleted', resource);
    ctx.status = 204;
  });

  return router;
}

function resourceView(resource: Resource, issuer: string) {
  return {
    identifier: resource.identifier,
    id: resource.id,
    // RFC 9728 metadata for this resource; an MCP server on another host points its resource_metadata here.
    resource_metadata_url: resourceMetadataUrl(issuer, resource.id),
    name: resource.name,
    scopes: resource.scopes,
    token_format: resource.tokenFormat,
    access_token_ttl: resource.accessTokenTtl,
    dpop_required: resource.dpopRequired,
    documentation_url: resource.documentationUrl,
    // null: the server's default for JWT access tokens (config/defaults.ts).
    signing_alg: resource.signingAlg,
    org_id: resource.orgId,
    created_at: resource.createdAt,
    updated_at: resource.updatedAt,
  };
}
