// The JWT bearer grant (RFC 7523 §2.1) for Identity Assertion JWT Authorization Grants: a client presents an
// ID-JAG its user's enterprise IdP issued for it (tokens/id-jag-verifier.ts) and gets an access token for the resource the
// IdP named, for that user, without a consent screen (MCP Enterprise-Managed Authorization). The assertion is
// used once (its `jti`, through the same atomic claim as DPoP proofs, across instances); the scope is what both
// the request and the IdP name, within what the resource (and an agent's patterns) allow; a DPoP-bound ID-JAG
// needs a proof of its key. No refresh token: the client presents a new ID-JAG (draft §4.4, "SHOULD NOT").
// Every refusal of the assertion is `invalid_grant` (RFC 7523 §3.1).
import { errors, type TokenEndpointGrantContext } from 'oidc-provider';
import type { UserStore } from '../adapters/user-store.ts';
import { lifetimes } from '../config/defaults.ts';
import type { IdentityAssertionGrant, IdJagVerifier } from '../tokens/id-jag-verifier.ts';
import { PresentedTokenError } from '../tokens/presented-token-error.ts';
import { subjectOf, type LinkedSubject } from '../issuance/id-jag-users.ts';
import {
  acceptedByResource, allowedPatterns, checkTargetAllowed, issueAccessToken, lifetimeFor, rulesFor, type IssuanceDependencies,
} from '../issuance/pipeline.ts';
import { checkDpopRequired, resolveRequestedResources, validateDpop } from '../issuance/oidc-grant-helpers.ts';
import { scopeAllowed } from '../policy/scope-patterns.ts';
import { responseScope } from '../policy/scope-resolution.ts';
import type { Grant } from './grant.ts';

export const grant: Grant = {
  grantType: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
  parameters: ['assertion', 'scope', 'resource'],
  allowedDuplicateParameters: [],
  // Offered only where the operator trusts an enterprise IdP (ID_JAG_TRUSTED_IDPS).
  offered: (deps) => Boolean(deps.idJag?.enabled),
  handler: (deps) => jwtBearerHandler({ idJag: deps.idJag!, roles: deps.roles, users: deps.users }),
};
/** What `authorization_grant_profiles_supported` lists for this grant (draft §6). */
export const ID_JAG_PROFILE = 'urn:ietf:params:oauth:grant-profile:id-jag';
/** `gty` of the tokens this grant issues. */
export const ID_JAG_TOKEN_GTY = 'id_jag';

export interface JwtBearerDependencies extends IssuanceDependencies {
  idJag: IdJagVerifier;
  /** Where an IdP's users are linked to ours, or created, by its `id_jag.users` setting. */
  users: UserStore;
}

/** What the audit trail records of the assertion behind an issued token (server/audit-events.ts). */
export interface RedeemedIdentityAssertion {
  issuer: string;
  jti: string;
  /** The IdP's subject (prefixed), when the token's subject is a local user linked to it. */
  linkedFrom?: string;
  /** Set when the redemption created that local user (`just_in_time`). */
  userCreated?: boolean;
}

export function jwtBearerHandler(deps: JwtBearerDependencies) {
  return async function jwtBearer(ctx: TokenEndpointGrantContext): Promise<void> {
    const { provider, client } = ctx.oidc;
    const params = ctx.oidc.params as Record<string, string | undefined>;
    const dPoP = await validateDpop(provider, ctx);
    const requestedScopes = typeof params.scope === 'string' ? params.scope.split(' ').filter(Boolean) : undefined;
    if (!params.assertion) throw new errors.InvalidRequest("missing required parameter 'assertion'");

    let grant: IdentityAssertionGrant;
    try {
      grant = await deps.idJag.verify(params.assertion, client.clientId);
    } catch (error) {
      if (error instanceof PresentedTokenError) throw invalidGrant(error.message);
      throw error;
    }
    // A bound grant is used only with a proof of its key (draft §7 and draft-parecki-oauth-jwt-dpop-grant).
    if (grant.jkt && dPoP?.thumbprint !== grant.jkt) {
      throw invalidGrant('the ID-JAG is DPoP-bound: the request must carry a DPoP proof made with the key it is bound to');
    }

    // MCP: `aud` and `resource` are a bound pair; the token is for the resource the IdP named.
    const target = targetOf(grant, params.resource);
    params.resource = target;
    const rules = await rulesFor(client, deps);
    const patterns = allowedPatterns(rules);
    checkTargetAllowed(rules, target);
    let resourceServer;
    try {
      [resourceServer] = await resolveRequestedResources(provider, ctx);
    } catch (error) {
      if (error instanceof errors.InvalidTarget) throw invalidGrant(`the ID-JAG's resource "${target}" is not a resource of this server`);
      throw error;
    }
    if (!resourceServer) throw invalidGrant(`the ID-JAG's resource "${target}" is not a resource of this server`);

    // The intersection of what was asked and what the IdP granted (MCP EMA), within the resource and the agent.
    const granted = grant.scopes ?? [];
    const scopes = acceptedByResource((requestedScopes ?? granted), resourceServer)
      .filter((scope) => granted.includes(scope) && (!patterns || scopeAllowed(scope, patterns)));

    // RFC 6749 §5.2: asked-for scopes of which none can be granted are refused, before the jti is claimed.
    const grantable = responseScope(requestedScopes ?? [], scopes);
    if ('refusal' in grantable) throw new errors.InvalidScope(grantable.refusal, (requestedScopes ?? []).join(' '));

    // Before the jti is claimed, so an ID-JAG refused for an unknown user works once the operator creates them.
    let linked: LinkedSubject;
    try {
      linked = await subjectOf(grant, deps.users);
    } catch (error) {
      if (error instanceof PresentedTokenError) throw invalidGrant(error.message);
      throw error;
    }

    // A client that must use DPoP is refused before the jti is claimed (the pipeline checks again, harmlessly).
    checkDpopRequired(provider, ctx, dPoP);
    // Used once, across instances: claimed only now, so a request refused for another reason leaves it usable.
    if (!(await firstUse(provider, grant))) throw invalidGrant('this ID-JAG was already used (its jti was seen before)');

    const token = new provider.AccessToken({
      client,
      accountId: linked.subject,
      gty: ID_JAG_TOKEN_GTY,
      expiresIn: lifetimeFor(rules, resourceServer, lifetimes.accessToken),
    } as never);
    token.resourceServer = resourceServer;
    ctx.oidc.entity('IdentityAssertion', {
      issuer: grant.issuer,
      jti: grant.jti,
      ...(linked.subject !== grant.subject ? { linkedFrom: grant.subject } : {}),
      ...(linked.created ? { userCreated: true } : {}),
    } satisfies RedeemedIdentityAssertion);
    await issueAccessToken(ctx, { token, entity: 'AccessToken', dPoP, requested: requestedScopes ?? [], granted: scopes });
  };
}

/**
 * The atomic one-time claim on (issuer, jti) that DPoP proofs and client assertions use. Our adapters answer a
 * replay there as a replayed DPoP proof, the common case; here it is a used grant.
 */
async function firstUse(provider: TokenEndpointGrantContext['oidc']['provider'], grant: IdentityAssertionGrant): Promise<boolean> {
  try {
    return await provider.ReplayDetection.unique(`id-jag:${grant.issuer}`, grant.jti, grant.expiresAt);
  } catch (error) {
    if (error instanceof errors.InvalidDpopProof) return false;
    throw error;
  }
}

/** The one resource the token is for: the requested one, which the ID-JAG must name, or the ID-JAG's only one. */
function targetOf(grant: IdentityAssertionGrant, requested: string | undefined): string {
  if (requested !== undefined) {
    if (grant.resources.length && !grant.resources.includes(requested)) throw invalidGrant(`the ID-JAG does not grant access to "${requested}"`);
    return requested;
  }
  if (grant.resources.length === 1) return grant.resources[0];
  if (!grant.resources.length) throw invalidGrant('the ID-JAG names no resource and the request has none');
  throw invalidGrant('the ID-JAG names several resources: choose one with the resource parameter');
}

/**
 * oidc-provider's InvalidGrant keeps its argument as `error_detail`, which is never shown, and answers "grant
 * request is invalid"; RFC 7523 §3.1 wants the client told which rule the assertion broke.
 */
function invalidGrant(description: string): InstanceType<typeof errors.InvalidGrant> {
  return Object.assign(new errors.InvalidGrant(description), { error_description: description });
}
