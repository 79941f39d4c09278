// RFC 8693 token exchange: a client (typically an agent) presents a token for a subject and gets a token to act
// for that subject, with the delegation written into `act` (newest actor outermost, §4.1). Scope, audience and
// lifetime only ever narrow; the operator's delegation policy decides who may act, how deep chains go and
// whether a client may impersonate. Every issued token remembers the tokens it came from, so revoking any of
// them ends it (tokens/token-liveness.ts). No refresh token is ever issued from an exchange.
//
// The same grant is the Transaction Token Service (draft-ietf-oauth-transaction-tokens): with
// `requested_token_type=urn:ietf:params:oauth:token-type:txn_token` an operator-approved workload gets a
// Txn-Token for the trust domain instead (grants/transaction-token.ts),
// and, with `urn:ietf:params:oauth:token-type:id-jag`, this server acts as an enterprise IdP and issues an ID-JAG
// for another authorization server (grants/id-jag-issuance.ts).
import { errors, type TokenEndpointGrantContext } from 'oidc-provider';
import type { TokenLineage } from '../adapters/token-lineage.ts';
import { lifetimes } from '../config/defaults.ts';
import { nestActor, type ActClaim } from '../policy/act-chain.ts';
import { clientRecordOf } from '../policy/client-record.ts';
import {
  checkAllowedActor, checkAudience, checkChainDepth, checkHumanRoot, checkMayAct, checkTargetWithinSubjectAudience, narrowScopes, policyFor,
  type ClientDelegationPolicy, type PolicyDefaults,
} from '../policy/delegation-policy.ts';
import { issueIdJag, type IdJagIssuanceDependencies } from './id-jag-issuance.ts';
import {
  acceptedByResource, allowedPatterns, checkTargetAllowed, issueAccessToken, lifetimeFor, rulesFor, type IssuanceDependencies,
} from '../issuance/pipeline.ts';
import { acceptToken, refuseIf, remainingLifetime, scopeCeiling } from '../issuance/exchange-steps.ts';
import { resolveRequestedResources, validateDpop } from '../issuance/oidc-grant-helpers.ts';
import type { PresentedToken, PresentedTokens } from '../tokens/presented-tokens.ts';
import { EXCHANGED_TOKEN_GTY } from '../tokens/token-liveness.ts';
import { TOKEN_EXCHANGE_GRANT, TOKEN_TYPE } from '../tokens/token-types.ts';
import { issueTransactionToken, type TransactionTokenService } from './transaction-token.ts';
import type { Grant } from './grant.ts';
import type { OrganizationLookups } from '../issuance/token-organization.ts';

export type { IssuedTransactionToken, TransactionTokenService } from './transaction-token.ts';

export const grant: Grant = {
  grantType: TOKEN_EXCHANGE_GRANT,
  parameters: [
    'subject_token', 'subject_token_type', 'actor_token', 'actor_token_type', 'requested_token_type', 'audience', 'resource', 'scope',
    // Txn-Token requests only.
    'request_context', 'request_details',
  ],
  allowedDuplicateParameters: ['audience', 'resource'],
  handler: (deps) => tokenExchangeHandler({
    issuer: deps.issuer,
    roles: deps.roles,
    presented: deps.presented,
    lineage: deps.lineage,
    jwtRecords: deps.jwtRecords,
    delegationDefaults: deps.delegationDefaults,
    transactionTokens: deps.transactionTokens,
    organizations: deps.organizations,
    idJag: {
      issuer: deps.issuer, audiences: deps.idJagAudiences, users: deps.users, presented: deps.presented, signer: deps.transactionTokens.signer, organizations: deps.organizations,
    },
  }),
};

export interface TokenExchangeDependencies extends IssuanceDependencies {
  /** Where a JWT access token's record is stored (server/jwt-access-token-records.ts). */
  jwtRecords: { of(jti: string): string };
  issuer: string;
  presented: PresentedTokens;
  lineage: TokenLineage;
  delegationDefaults: PolicyDefaults;
  transactionTokens: TransactionTokenService;
  organizations: OrganizationLookups;
  /** This server as an enterprise IdP (requested_token_type id-jag). */
  idJag: IdJagIssuanceDependencies;
}

type Params = Record<string, string | string[] | undefined>;

export function tokenExchangeHandler(deps: TokenExchangeDependencies) {
  return async function tokenExchange(ctx: TokenEndpointGrantContext): Promise<void> {
    const { provider, client } = ctx.oidc;
    const params = ctx.oidc.params as Params;
    const dPoP = await validateDpop(provider, ctx);
    // Read before resources are resolved: oidc-provider drops scopes it does not know from a request that names
    // no resource.
    const requestedScopes = scopeList(params.scope);
    const request = checkRequest(params);
    if (request.requestedTokenType === TOKEN_TYPE.txnToken) {
      return issueTransactionToken(ctx, { issuer: deps.issuer, presented: deps.presented, service: deps.transactionTokens, organizations: deps.organizations }, request, requestedScopes);
    }
    if (request.requestedTokenType === TOKEN_TYPE.idJag) return issueIdJag(ctx, deps.idJag, dPoP);
    const rules = await rulesFor(client, deps);

    const subject = await acceptToken(ctx, deps.presented, request.subjectToken, request.subjectTokenType, 'subject_token');
    const actorToken = request.actorToken
      ? await acceptToken(ctx, deps.presented, request.actorToken, request.actorTokenType!, 'actor_token')
      : undefined;
    if (actorToken && actorToken.clientId !== client.clientId) {
      throw new errors.InvalidRequest('actor_token was not issued to this client');
    }
    // RFC 9449: a DPoP-bound token is used only with a proof of its key; the new token is bound to the same key.
    // One request carries one proof, so a bound subject and a bound actor token must share their key.
    for (const [role, presented] of [['subject_token', subject], ['actor_token', actorToken]] as const) {
      if (presented?.jkt && dPoP?.thumbprint !== presented.jkt) {
        throw new errors.InvalidRequest(`${role} is DPoP-bound: the request must carry a DPoP proof made with the key it is bound to`);
      }
    }

    const policy = policyFor(deps.delegationDefaults, clientRecordOf(client).delegationPolicy);
    // Who may act is decided by the client the subject token was issued to and, for a token exchanged before, by
    // the client its chain started at: a restriction cannot be shed by exchanging once more.
    const subjectPolicies = await Promise.all([...new Set([subject.clientId, subject.rootClientId])].map(
      async (clientId) => policyFor(deps.delegationDefaults, await subjectClientPolicy(ctx, subject, clientId, deps.issuer)),
    ));

    // §1.1: without an actor_token the client acts itself; it impersonates (no `act`) only where policy allows.
    const actor = actorToken
      ? { sub: actorToken.subject, ...(actorToken.issuer !== deps.issuer ? { iss: actorToken.issuer } : {}) }
      : { sub: client.clientId };
    const impersonating = !actorToken && policy.impersonation;
    const act: ActClaim | undefined = impersonating ? subject.act : nestActor(actor, subject.act);

    refuseIf(checkMayAct(subject.mayAct, actor, deps.issuer));
    for (const subjectPolicy of subjectPolicies) refuseIf(checkAllowedActor(actor.sub, subjectPolicy.allowedActors));
    refuseIf(checkChainDepth(act, policy.maxDepth));
    refuseIf(checkHumanRoot(policy.humanRootRequired, subject.rootIsPerson));

    const checkTarget = (target: string | undefined) => {
      refuseIf(checkAudience(target, policy.allowedAudiences));
      refuseIf(checkTargetWithinSubjectAudience(target, subject.audiences));
      checkTargetAllowed(rules, target);
    };
    // Without a requested target, a token bound to one resource stays bound to it.
    const target = singleTarget(params) ?? (subject.audiences?.length === 1 ? subject.audiences[0] : undefined);
    checkTarget(target);
    params.resource = target;
    params.audience = undefined;
    // Without either, the resource the requested scopes refer to (policy/scope-resolution.ts), under the same rules.
    const [resourceServer] = await resolveRequestedResources(provider, ctx);
    if (!target && resourceServer) checkTarget(resourceServer.identifier());

    const narrowed = narrowScopes(requestedScopes, scopeCeiling(subject, client, allowedPatterns(rules)));
    if ('rule' in narrowed) refuseIf(narrowed);
    const scopes = acceptedByResource((narrowed as { scopes: string[] }).scopes, resourceServer);

    // The actor's authority ends with its token, as the subject's does.
    const lifetime = lifetimeFor(rules, resourceServer, lifetimes.accessToken, remainingLifetime(subject), actorToken ? remainingLifetime(actorToken, 'actor_token') : Infinity);

    const token = new provider.AccessToken({
      client,
      accountId: subject.subject,
      gty: EXCHANGED_TOKEN_GTY,
      expiresIn: lifetime,
    } as never);
    if (resourceServer) token.resourceServer = resourceServer;
    // A subject token's may_act (RFC 8693 §4.4) stays with what is derived from it, so the party it allows is the
    // only one that can act further for this subject.
    if (act || subject.mayAct) token.extra = { ...(act ? { act } : {}), ...(subject.mayAct ? { may_act: subject.mayAct } : {}) };
    await issueAccessToken(ctx, {
      token, entity: 'AccessToken', dPoP, requested: requestedScopes, granted: scopes, issuedTokenType: TOKEN_TYPE.accessToken,
      // Recorded before the token is handed out; a token whose lineage is missing counts as inactive.
      // Revoking the subject token or the actor token (or anything either came from) ends this one too. The
      // lineage is kept under the id the token is stored under, as introspection finds it.
      afterSave: async () => {
        const ancestors = [...subject.lineage, ...(actorToken?.lineage ?? [])];
        const storedId = resourceServer?.accessTokenFormat === 'jwt' ? deps.jwtRecords.of(token.jti) : token.jti;
        await deps.lineage.record(storedId, { ancestors, rootIsPerson: subject.rootIsPerson, rootClientId: subject.rootClientId }, lifetime);
      },
    });
  };
}

interface ExchangeRequest {
  subjectToken: string;
  subjectTokenType: string;
  actorToken: string | undefined;
  actorTokenType: string | undefined;
  /** An access token when not requested. */
  requestedTokenType: string;
}

/** RFC 8693 §2.1: the parameters' presence rules, before any token is looked at. */
function checkRequest(params: Params): ExchangeRequest {
  const single = (name: string): string | undefined => {
    const value = params[name];
    if (Array.isArray(value)) throw new errors.InvalidRequest(`${name} must not be repeated`);
    return value;
  };
  const subjectToken = single('subject_token');
  const subjectTokenType = single('subject_token_type');
  const actorToken = single('actor_token');
  const actorTokenType = single('actor_token_type');
  if (!subjectToken) throw new errors.InvalidRequest("missing required parameter 'subject_token'");
  if (!subjectTokenType) throw new errors.InvalidRequest("missing required parameter 'subject_token_type'");
  if (actorToken && !actorTokenType) throw new errors.InvalidRequest('actor_token_type is required when actor_token is present');
  if (!actorToken && actorTokenType) throw new errors.InvalidRequest('actor_token_type must not be sent without actor_token');
  const requestedTokenType = single('requested_token_type') ?? TOKEN_TYPE.accessToken;
  if (requestedTokenType !== TOKEN_TYPE.accessToken && requestedTokenType !== TOKEN_TYPE.txnToken && requestedTokenType !== TOKEN_TYPE.idJag) {
    throw new errors.InvalidRequest(`requested_token_type "${requestedTokenType}" is not supported; this server issues access tokens (${TOKEN_TYPE.accessToken}), Txn-Tokens (${TOKEN_TYPE.txnToken}) and ID-JAGs (${TOKEN_TYPE.idJag})`);
  }
  return { subjectToken, subjectTokenType, actorToken, actorTokenType, requestedTokenType };
}

/** §2.1 allows several audiences and resources; we issue a token for one target at a time (RFC 8707 §2.2). */
function singleTarget(params: Params): string | undefined {
  const values = [params.resource, params.audience].flat().filter((value): value is string => !!value);
  const targets = [...new Set(values)];
  if (targets.length > 1) throw new errors.InvalidTarget('only one audience or resource may be requested per exchange');
  return targets[0];
}

/**
 * The delegation policy of the client our subject token was issued to (its `allowed_actors` decide who may act on
 * its tokens). A trusted issuer's token names a client of that issuer, not of ours: it has no policy here.
 */
async function subjectClientPolicy(ctx: TokenEndpointGrantContext, subject: PresentedToken, clientId: string | undefined, issuer: string): Promise<ClientDelegationPolicy | undefined> {
  const { client, provider } = ctx.oidc;
  if (!clientId || subject.issuer !== issuer) return undefined;
  if (clientId === client.clientId) return clientRecordOf(client).delegationPolicy;
  let subjectClient;
  try {
    subjectClient = await provider.Client.find(clientId);
  } catch {
    // A client identified by a metadata document that cannot be fetched now: its policy cannot be applied.
    throw new errors.InvalidRequest('the client the subject_token was issued to cannot be loaded, so its delegation policy cannot be applied');
  }
  return subjectClient ? clientRecordOf(subjectClient).delegationPolicy : undefined;
}

function scopeList(value: string | string[] | undefined): string[] {
  return typeof value === 'string' ? value.split(' ').filter(Boolean) : [];
}
