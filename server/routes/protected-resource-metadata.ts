// RFC 9728 protected resource metadata, served by the authorization server for
// - its own protected API (userinfo), at /.well-known/oauth-protected-resource;
// - each registered resource that shares our origin, at the path-inserted URL of its identifier (§3.1);
// - every registered resource at a stable URL, /resources/<id>/.well-known/oauth-protected-resource, which an
//   MCP server on another host names as `resource_metadata` in its WWW-Authenticate challenges.
// The document's `resource` is the registered identifier byte for byte: clients discard a mismatch (§3.3).
import Router from '@koa/router';
import type { Context } from 'koa';
import type { Resource, ResourceStore } from '../../adapters/resource-store.ts';
import { dpopSigningAlgorithms } from '../../config/defaults.ts';
import { NotFound } from '../http-error.ts';

const WELL_KNOWN = '/.well-known/oauth-protected-resource';

export function resourceMetadataUrl(issuer: string, id: string): string {
  return `${issuer}/resources/${encodeURIComponent(id)}${WELL_KNOWN}`;
}

/**
 * The path-inserted metadata URL of `identifier` (§3.1): `/.well-known/oauth-protected-resource` between host and
 * path, with a slash that only terminates the host dropped.
 */
export function pathInsertedMetadataUrl(identifier: string): string {
  const url = new URL(identifier);
  const rest = `${url.pathname === '/' ? '' : url.pathname}${url.search}`;
  return `${url.origin}${WELL_KNOWN}${rest}`;
}

export interface ProtectedResourceMetadataDependencies {
  issuer: string;
  resources: ResourceStore;
  /** Scopes of our own protected API (userinfo). */
  ownScopes: string[];
}

export function protectedResourceMetadataRoutes(deps: ProtectedResourceMetadataDependencies): Router {
  const router = new Router();
  const origin = new URL(deps.issuer).origin;

  const document = (resource: Pick<Resource, 'identifier' | 'scopes' | 'dpopRequired'> & Partial<Pick<Resource, 'name' | 'documentationUrl'>>) => ({
    resource: resource.identifier,
    authorization_servers: [deps.issuer],
    scopes_supported: resource.scopes,
    bearer_methods_supported: ['header'],
    dpop_signing_alg_values_supported: [...dpopSigningAlgorithms],
    dpop_bound_access_tokens_required: resource.dpopRequired,
    ...(resource.name ? { resource_name: resource.name } : {}),
    ...(resource.documentationUrl ? { resource_documentation: resource.documentationUrl } : {}),
  });

  function send(ctx: Context, body: object): void {
    // Public metadata, read by browser-based MCP clients too.
    ctx.set('Access-Control-Allow-Origin', '*');
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.body = body;
  }

  router.get(WELL_KNOWN, (ctx) => {
    send(ctx, document({ identifier: deps.issuer, scopes: deps.ownScopes, dpopRequired: false, name: 'userinfo' }));
  });

  // §3.1: for a resource identifier with a path, the metadata lives at the path-inserted URL on the same origin.
  router.get(`${WELL_KNOWN}/*path`, async (ctx) => {
    const suffix = ctx.path.slice(WELL_KNOWN.length);
    const identifier = `${origin}${suffix}${ctx.querystring ? `?${ctx.querystring}` : ''}`;
    const resource = await deps.resources.get(identifier);
    if (!resource) throw new NotFound('protected resource');
    send(ctx, document(resource));
  });

  router.get(`/resources/:id${WELL_KNOWN}`, async (ctx) => {
    const resource = await deps.resources.findById(ctx.params.id);
    if (!resource) throw new NotFound('protected resource');
    send(ctx, document(resource));
  });

  return router;
}
