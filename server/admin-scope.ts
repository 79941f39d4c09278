// Who is calling the admin API: the operator of the whole server (ADMIN_TOKEN), or the operator of one
// organization (a credential from POST /admin/organizations/:id/credentials). An organization's operator manages
// only its own users, agents, registered clients, roles and resources, decides its own clients' approvals and sets
// their approval tiers, and reads its own audit trail; every other admin route, and every member of another
// organization, is 403 access_denied. Deny by default: a route not listed here is the global
// operator's alone.
import type { Context, Next } from 'koa';
import type { JsonObject } from '../adapters/database.ts';
import type { OrganizationCredential } from '../adapters/organization-store.ts';
import { requireBearerToken } from './admin-auth.ts';
import { bearerToken, secretsEqual } from './bearer-token.ts';
import { HttpError } from './http-error.ts';

export type AdminScope = { kind: 'global' } | { kind: 'organization'; orgId: string; credentialId: string };

/** The admin routes an organization's operator may use, by prefix. */
const ORGANIZATION_ROUTES = [
  '/admin/users', '/admin/agents', '/admin/clients', '/admin/roles', '/admin/resources', '/admin/approvals', '/admin/approval-tiers', '/admin/audit',
];

const SCOPE = 'agentauth.adminScope';

/**
 * ADMIN_TOKEN, or an organization's credential; anything else is refused as ADMIN_TOKEN alone always was (401,
 * with the challenge).
 */
export function requireAdminCredential(options: { adminToken: string; credentialFor: (token: string) => Promise<OrganizationCredential | undefined> }) {
  const refuse = requireBearerToken({ token: options.adminToken, realm: 'admin', name: 'ADMIN_TOKEN', what: 'the admin API' });
  return async function checkAdminCredential(ctx: Context, next: Next): Promise<void> {
    const token = bearerToken(ctx.get('authorization'));
    if (token && secretsEqual(token, options.adminToken)) {
      ctx.state[SCOPE] = { kind: 'global' } satisfies AdminScope;
      return next();
    }
    const credential = token ? await options.credentialFor(token) : undefined;
    if (!credential) return refuse(ctx, next);
    ctx.state[SCOPE] = { kind: 'organization', orgId: credential.orgId, credentialId: credential.id } satisfies AdminScope;
    const path = ctx.path;
    if (!ORGANIZATION_ROUTES.some((prefix) => path === prefix || path.startsWith(`${prefix}/`))) {
      throw new HttpError(403, 'access_denied', `an organization's admin credential manages only its users, agents, clients, roles, resources and approvals and reads its audit trail (${ORGANIZATION_ROUTES.join(', ')})`);
    }
    return next();
  };
}

export function adminScopeOf(ctx: Context): AdminScope {
  const scope = ctx.state[SCOPE] as AdminScope | undefined;
  // Fails closed: a route reached without requireAdminCredential in front of it is a wiring mistake, not the global operator.
  if (!scope) throw new Error('an admin route ran without requireAdminCredential in front of it');
  return scope;
}

/** The organization a list is confined to: the caller's, for an organization's operator. */
export function listedOrganization(ctx: Context): string | undefined {
  return confinedOrganization(ctx, undefined);
}

/**
 * The organization a request is confined to (what it creates in, what it reads): the one asked for, which an
 * organization's operator may ask for only as its own, and gets when it asks for none.
 */
export function confinedOrganization(ctx: Context, requested: string | undefined): string | undefined {
  const scope = adminScopeOf(ctx);
  if (scope.kind === 'global') return requested;
  if (requested !== undefined && requested !== scope.orgId) {
    throw new HttpError(403, 'access_denied', `this credential is for organization "${scope.orgId}" only`);
  }
  return scope.orgId;
}

/** Refuses an organization's operator a member of another organization (`what`: "user", "agent", "client", "role", "resource", "approval"). */
export function checkMember(ctx: Context, what: string, orgId: string): void {
  const scope = adminScopeOf(ctx);
  if (scope.kind === 'organization' && scope.orgId !== orgId) {
    throw new HttpError(403, 'access_denied', `this ${what} belongs to another organization than this credential's ("${scope.orgId}")`);
  }
}

/** The audit trail's `actor` for an admin call: which operator, and for an organization's, which credential. */
export function adminActor(ctx: Context): JsonObject {
  const scope = adminScopeOf(ctx);
  return scope.kind === 'global' ? { admin: true } : { admin: true, org_id: scope.orgId, credential: scope.credentialId };
}
