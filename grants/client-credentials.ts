// The client_credentials grant (RFC 6749 §4.4), registered in place of oidc-provider's own so that agents get
// their rules: scope patterns with a default, allowed resources, their own token lifetime and an owner on every
// token. Other clients get what oidc-provider's built-in grant gives them. The steps every grant shares (target,
// resource scopes, lifetime, DPoP, storage, response) are issuance/pipeline.ts.
import { errors, type TokenEndpointGrantContext } from 'oidc-provider';
import type { Agent } from '../adapters/agent-store.ts';
import { lifetimes } from '../config/defaults.ts';
import {
  acceptedByResource, checkTargetAllowed, issueAccessToken, lifetimeFor, rulesFor, type IssuanceDependencies,
} from '../issuance/pipeline.ts';
import { resolveRequestedResources, validateClientScope, validateDpop } from '../issuance/oidc-grant-helpers.ts';
import { scopesNotAllowed } from '../policy/scope-patterns.ts';

export const grantType = 'client_credentials';
export const parameters = ['scope', 'resource'];
export const allowedDuplicateParameters = ['resource'];

export type ClientCredentialsDependencies = IssuanceDependencies;

export function clientCredentialsHandler(deps: ClientCredentialsDependencies) {
  return async function clientCredentials(ctx: TokenEndpointGrantContext): Promise<void> {
    const { provider, client } = ctx.oidc;
    const dPoP = await validateDpop(provider, ctx);
    const rules = await rulesFor(client, deps);
    const { agent } = rules;

    // Read before resolving resources: oidc-provider drops scopes it does not know from a request without a
    // resource, and an agent's `resource:action` scopes are not in its static list.
    const requested = [...(ctx.oidc.requestParamScopes as Set<string>)].filter(Boolean);
    const scopes = agent ? agentScopes(requested, agent, rules.rolePatterns) : undefined;
    // An agent's default scopes stand for the scope it did not send, so they decide the resource as a sent scope
    // would (policy/scope-resolution.ts, through resourceIndicators.defaultResource).
    if (scopes && !requested.length && scopes.length) ctx.oidc.params.scope = scopes.join(' ');
    const resourceServers = await resolveRequestedResources(provider, ctx);
    if (resourceServers.length > 1) {
      throw new errors.InvalidTarget('only a single resource indicator value is supported for this grant type');
    }
    const [resourceServer] = resourceServers;
    const granted = scopes ?? [...validateClientScope(provider, ctx)].filter(Boolean);
    checkTargetAllowed(rules, resourceServer?.identifier());

    const token = new provider.ClientCredentials({
      client,
      ...(agent ? { expiresIn: lifetimeFor(rules, resourceServer, lifetimes.clientCredentials) } : {}),
    });
    if (resourceServer) token.resourceServer = resourceServer;
    if (agent) {
      // RFC 9068 §2.2: `sub` of a token a client gets for itself is its client_id; `owner` names the
      // accountable human (an extension member, documented in the README).
      token.extra = { sub: agent.id, owner: agent.ownerId, ...(rules.roles.length ? { roles: rules.roles } : {}) };
    }
    await issueAccessToken(ctx, { token, entity: 'ClientCredentials', dPoP, requested, granted: acceptedByResource(granted, resourceServer) });
  };
}

/** The request's scopes, or the agent's defaults when it named none, each allowed by the agent's or its roles' patterns. */
function agentScopes(requested: string[], agent: Agent, rolePatterns: string[]): string[] {
  const scopes = requested.length ? requested : agent.defaultScopes;
  const refused = scopesNotAllowed(scopes, [...agent.scopes, ...rolePatterns]);
  if (refused.length) {
    throw new errors.InvalidScope(`scope "${refused[0]}" is not allowed for this agent`, refused[0]);
  }
  return scopes;
}
