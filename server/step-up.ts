// Step-up authorization that accumulates: after an `insufficient_scope` challenge, a client (Claude Code and
// other MCP clients do this) asks again for just the scopes it lacks. The consent page should show only those,
// and the new token should carry everything granted for the resource so far, old and new, so the client does
// not lose the scopes it already had.
import type { Grant } from 'oidc-provider';

type AuthorizationParams = { scope?: string; resource?: string | string[] };

/**
 * Adds to the request's scope what the user already granted this client for the requested resources. Consent is
 * then asked only for the rest (oidc-provider compares the request with the grant), and the code carries the union.
 */
export function includePreviouslyGrantedScopes(params: AuthorizationParams, grant: Pick<Grant, 'getResourceScope'>): void {
  const resources = [params.resource].flat().filter((resource): resource is string => !!resource);
  if (!resources.length) return;
  const scopes = new Set((params.scope ?? '').split(' ').filter(Boolean));
  const before = scopes.size;
  for (const resource of resources) {
    for (const scope of (grant.getResourceScope(resource) ?? '').split(' ')) if (scope) scopes.add(scope);
  }
  if (scopes.size !== before) params.scope = [...scopes].join(' ');
}
