// The client_credentials grant (RFC 6749 §4.4), registered in place of oidc-provider's own so that a client's
// record (policy/client-record.ts) applies: scope patterns with defaults, allowed resources, its own token
// lifetime, an owner and roles on every token. A registered client without scope patterns has its scopes
// decided as oidc-provider's built-in grant decides them. The steps every grant shares (target,
// resource scopes, lifetime, DPoP, storage, response) are issuance/pipeline.ts.
import { errors, type TokenEndpointGrantContext } from 'oidc-provider';
import type { ClientRecord } from '../policy/client-record.ts';
import type { ApprovalStore } from '../adapters/approval-store.ts';
import { approvalTier, reasonsNeedingApproval } from '../policy/approval-tiers.ts';
import { requestedAuthorizationDetails } from '../policy/authorization-details.ts';
import { lifetimes } from '../config/defaults.ts';
import {
  acceptedByResource, allowedPatterns, checkTargetAllowed, clientNoun, issueAccessToken, lifetimeFor, rulesFor, type IssuanceDependencies,
} from '../issuance/pipeline.ts';
import { resolveRequestedResources, validateClientScope, validateDpop } from '../issuance/oidc-grant-helpers.ts';
import { scopesNotAllowed } from '../policy/scope-patterns.ts';
import type { Grant } from './grant.ts';

export const grant: Grant = {
  grantType: 'client_credentials',
  parameters: ['scope', 'resource', 'authorization_details'],
  allowedDuplicateParameters: ['resource'],
  handler: (deps) => clientCredentialsHandler({ roles: deps.roles, approvals: deps.ciba.approvals }),
};

export interface ClientCredentialsDependencies extends IssuanceDependencies {
  /** The client's approval tiers (policy/approval-tiers.ts): only what is autonomous is issued here. */
  approvals: Pick<ApprovalStore, 'policyOf'>;
}

export function clientCredentialsHandler(deps: ClientCredentialsDependencies) {
  return async function clientCredentials(ctx: TokenEndpointGrantContext): Promise<void> {
    const { provider, client } = ctx.oidc;
    const dPoP = await validateDpop(provider, ctx);
    const rules = await rulesFor(client, deps);
    const { record } = rules;
    const patterns = allowedPatterns(rules);

    // Read before resolving resources: oidc-provider drops scopes it does not know from a request without a
    // resource, and `resource:action` scopes granted by patterns are not in its static list.
    const requested = [...(ctx.oidc.requestParamScopes as Set<string>)].filter(Boolean);
    const scopes = patterns ? patternScopes(requested, record, patterns) : undefined;
    // Default scopes stand for the scope the client did not send, so they decide the resource as a sent scope
    // would (policy/scope-resolution.ts, through resourceIndicators.defaultResource).
    if (scopes && !requested.length && scopes.length) ctx.oidc.params.scope = scopes.join(' ');
    const resourceServers = await resolveRequestedResources(provider, ctx);
    if (resourceServers.length > 1) {
      throw new errors.InvalidTarget('only a single resource indicator value is supported for this grant type');
    }
    const [resourceServer] = resourceServers;
    const granted = scopes ?? [...validateClientScope(provider, ctx)].filter(Boolean);
    checkTargetAllowed(rules, resourceServer?.identifier());
    const details = requestedAuthorizationDetails(ctx.oidc.params.authorization_details);
    refuseWhatNeedsApproval(approvalTier(await deps.approvals.policyOf(client.clientId), { scopes: granted, authorizationDetails: details }));

    const token = new provider.ClientCredentials({ client, expiresIn: lifetimeFor(rules, resourceServer, lifetimes.clientCredentials) });
    if (resourceServer) token.resourceServer = resourceServer;
    if (record.kind === 'agent' || record.ownerId || rules.roles.length) {
      // RFC 9068 §2.2: `sub` of a token a client gets for itself is its client_id; `owner` names the
      // accountable human (an extension member, documented in the README).
      token.extra = { sub: record.id, ...(record.ownerId ? { owner: record.ownerId } : {}), ...(rules.roles.length ? { roles: rules.roles } : {}) };
    }
    await issueAccessToken(ctx, {
      token, entity: 'ClientCredentials', dPoP, requested, granted: acceptedByResource(granted, resourceServer),
      // RFC 9396 §7: what the client may do is in the token, as granted.
      authorizationDetails: details,
    });
  };
}

/**
 * A scope or detail whose approval tier is not `autonomous` needs a person: the client asks through the
 * backchannel authentication endpoint (OpenID CIBA) instead. A scope is `invalid_scope` (RFC 6749 §5.2, naming
 * the scope), a detail `invalid_authorization_details` (RFC 9396 §5); the description says where to go.
 */
function refuseWhatNeedsApproval(decision: ReturnType<typeof approvalTier>): void {
  const [first] = reasonsNeedingApproval(decision);
  if (!first) return;
  const advice = `needs a person's approval (approval tier "${first.tier}"): ask for it at the backchannel_authentication_endpoint (OpenID CIBA, in the server metadata)`;
  if ('scope' in first.target) throw new errors.InvalidScope(`scope "${first.target.scope}" ${advice}`, first.target.scope);
  throw new errors.InvalidAuthorizationDetails(`authorization_details[${first.target.detail}] (type "${first.target.type}") ${advice}`);
}

/** The request's scopes, or the client's defaults when it named none, each allowed by its own or its roles' patterns. */
function patternScopes(requested: string[], record: ClientRecord, patterns: string[]): string[] {
  const scopes = requested.length ? requested : record.defaultScopes;
  const refused = scopesNotAllowed(scopes, patterns);
  if (refused.length) {
    throw new errors.InvalidScope(`scope "${refused[0]}" is not allowed for this ${clientNoun(record)}`, refused[0]);
  }
  return scopes;
}
