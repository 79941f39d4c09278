// RFC 8693 token exchange: a client (typically an agent) presents a token for a subject and gets a token to act
// for that subject, with the delegation written into `act` (newest actor outermost, §4.1). Scope, audience and
// lifetime only ever narrow; the operator's delegation policy decides who may act, how deep chains go and
// whether a client may impersonate. Every issued token remembers the tokens it came from, so revoking any of
// them ends it (grants/token-liveness.ts). No refresh token is ever issued from an exchange.
//
// The same grant is the Transaction Token Service (draft-ietf-oauth-transaction-tokens): with
// `requested_token_type=urn:ietf:params:oauth:token-type:txn_token` an operator-approved workload gets a
// Txn-Token for the trust domain instead (issueTransactionToken below, rules in grants/transaction-tokens.ts),
// and, with `urn:ietf:params:oauth:token-type:id-jag`, this server acts as an enterprise IdP and issues an ID-JAG
// for another authorization server (grants/id-jag-issuance.ts).
import { errors, type TokenEndpointGrantContext } from 'oidc-provider';
import type { Agent } from '../adapters/agent-store.ts';
import type { TokenLineage } from '../adapters/token-lineage.ts';
import { lifetimes, transactionTokenAlg } from '../config/defaults.ts';
import type { TokenSigner } from '../keys/token-signer.ts';
import { nestActor, type ActClaim } from './act-chain.ts';
import {
  checkAllowedActor, checkAudience, checkChainDepth, checkHumanRoot, checkMayAct, checkTargetWithinSubjectAudience, narrowScopes, policyFor,
  type ClientDelegationPolicy, type PolicyDefaults, type PolicyRefusal,
} from './delegation-policy.ts';
import { issueIdJag, type IdJagIssuanceDependencies } from './id-jag-issuance.ts';
import {
  acceptedByResource, checkTargetAllowed, issueAccessToken, lifetimeFor, rulesFor, type IssuanceDependencies,
} from './issuance.ts';
import { buildTokenResponse, resolveRequestedResources, validateDpop } from './oidc-grant-helpers.ts';
import { UnacceptableTokenError, type PresentedRole, type PresentedToken, type PresentedTokens } from './presented-tokens.ts';
import { scopeAllowed } from './scope-patterns.ts';
import { EXCHANGED_TOKEN_GTY } from './token-liveness.ts';
import { TOKEN_EXCHANGE_GRANT, TOKEN_TYPE, TXN_TOKEN_TYP } from './token-types.ts';
import {
  acceptedSubjectTypes, disabledSelfAssertedType, filterTransactionDetails, transactionTokenPolicyOf, withinPolicyScopes,
} from './transaction-token-policy.ts';
import { parseTransactionTokenRequest, transactionTokenClaims, type TransactionTokenClaims } from './transaction-tokens.ts';

export const grantType = TOKEN_EXCHANGE_GRANT;
export const parameters = [
  'subject_token', 'subject_token_type', 'actor_token', 'actor_token_type', 'requested_token_type', 'audience', 'resource', 'scope',
  // Txn-Token requests only.
  'request_context', 'request_details',
];
export const allowedDuplicateParameters = ['audience', 'resource'];

export interface TokenExchangeDependencies extends IssuanceDependencies {
  /** Where a JWT access token's record is stored (server/jwt-access-token-records.ts). */
  jwtRecords: { of(jti: string): string };
  issuer: string;
  presented: PresentedTokens;
  lineage: TokenLineage;
  delegationDefaults: PolicyDefaults;
  transactionTokens: TransactionTokenService;
  /** This server as an enterprise IdP (requested_token_type id-jag). */
  idJag: IdJagIssuanceDependencies;
}

/** What this grant needs to act as the trust domain's Transaction Token Service. */
export interface TransactionTokenService {
  /** The trust domain Txn-Tokens are valid in, their `aud` (TRUST_DOMAIN, default the issuer). */
  trustDomain: string;
  /** Signs Txn-Tokens with our active key. */
  signer: TokenSigner;
  /** Seconds; never beyond the subject token's expiry. */
  lifetime: number;
  /** The largest request_context / request_details, and rctx / tctx, in bytes. */
  maxContextBytes: number;
}

/** What the audit trail records of an issued Txn-Token (server/audit-events.ts); never the token itself. */
export interface IssuedTransactionToken {
  claims: TransactionTokenClaims;
  subjectTokenType: string;
  /** It replaces a Txn-Token presented as the subject token. */
  replacement: boolean;
}

type Client = NonNullable<TokenEndpointGrantContext['oidc']['client']>;
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
    if (request.requestedTokenType === TOKEN_TYPE.txnToken) return issueTransactionToken(ctx, deps, request, requestedScopes);
    if (request.requestedTokenType === TOKEN_TYPE.idJag) return issueIdJag(ctx, deps.idJag, dPoP);
    const rules = await rulesFor(client, deps);
    const { agent } = rules;

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

    const policy = policyFor(deps.delegationDefaults, delegationPolicyOf(client));
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
    // Without either, the resource the requested scopes refer to (grants/scope-resolution.ts), under the same rules.
    const [resourceServer] = await resolveRequestedResources(provider, ctx);
    if (!target && resourceServer) checkTarget(resourceServer.identifier());

    const narrowed = narrowScopes(requestedScopes, scopeCeiling(subject, client, agent));
    if ('rule' in narrowed) refuseIf(narrowed);
    const scopes = acceptedByResource((narrowed as { scopes: string[] }).scopes, resourceServer);

    // The actor's authority ends with its token, as the subject's does.
    const lifetime = lifetimeFor(rules, resourceServer, lifetimes.accessToken, remainingLifetime(subject), actorToken ? remainingLifetime(actorToken) : Infinity);

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

/**
 * A Txn-Token for an operator-approved workload of the trust domain. The steps every exchange takes (client
 * authentication, subject token acceptance, scope narrowing, the expiry cap, audit) are the same; what differs is
 * who may ask, what the request must carry, and that the result is a signed JWT that is not an access token: no
 * refresh token, no `cnf` (a DPoP proof sent along has been checked like any proof, and binds nothing: the draft
 * defines no proof-of-possession for Txn-Tokens, and the response says `token_type: N_A`).
 */
async function issueTransactionToken(ctx: TokenEndpointGrantContext, deps: TokenExchangeDependencies, request: ExchangeRequest, requestedScopes: string[]): Promise<void> {
  const { provider, client } = ctx.oidc;
  const service = deps.transactionTokens;
  const policy = transactionTokenPolicyOf(client);
  // RFC 6749 §5.2: the client authenticated, but is not authorized to use this grant for this kind of token.
  if (!policy) throw new errors.UnauthorizedClient('this client is not a workload the operator allows to request Txn-Tokens (txn_token_policy)');
  const txnRequest = parseTransactionTokenRequest(ctx.oidc.params as Params, { trustDomain: service.trustDomain, maxContextBytes: service.maxContextBytes });
  const disabled = disabledSelfAssertedType(policy, request.subjectTokenType);
  if (disabled) throw new errors.InvalidRequest(`subject_token_type ${request.subjectTokenType} is not enabled for this workload (txn_token_policy.subject_token_types)`);

  // The subject token's own DPoP binding is not re-proven here: the workload in front of the trust domain checked
  // it when the token reached it (RFC 9449 §7), and it holds no proof key of the client's.
  const subject = await acceptToken(ctx, deps.presented, request.subjectToken, request.subjectTokenType, 'subject_token', acceptedSubjectTypes(policy));
  // The draft ("Unknown subject_token scope"): a scope that cannot be determined is refused, never unconstrained.
  if (!subject.scopes) throw new errors.InvalidRequest('the subject_token states no scope, so the Txn-Token\'s scope cannot be kept within it');
  const narrowed = narrowScopes(txnRequest.scopes, withinPolicyScopes(policy, scopeCeiling(subject, client, undefined)));
  if ('rule' in narrowed) refuseIf(narrowed);
  const { scopes } = narrowed as { scopes: string[] };

  const issuedAt = Math.floor(Date.now() / 1000);
  const lifetime = Math.min(service.lifetime, remainingLifetime(subject));
  const claims = transactionTokenClaims({
    issuer: deps.issuer,
    trustDomain: service.trustDomain,
    workload: client.clientId,
    subject,
    scopes,
    requestContext: txnRequest.requestContext,
    transactionDetails: txnRequest.requestDetails && filterTransactionDetails(policy, txnRequest.requestDetails),
    issuedAt,
    expiresAt: issuedAt + lifetime,
    maxContextBytes: service.maxContextBytes,
  });
  const txnToken = await service.signer.sign(claims, { alg: transactionTokenAlg, typ: TXN_TOKEN_TYP });
  const issued: IssuedTransactionToken = { claims, subjectTokenType: request.subjectTokenType, replacement: !!subject.transaction };
  ctx.oidc.entity('TransactionToken', issued);

  ctx.body = buildTokenResponse(provider, {
    accessToken: txnToken,
    // RFC 8693 §2.2.1 and the draft ("Txn-Token Response"): the issued token is not an access token.
    tokenType: 'N_A',
    expiresIn: lifetime,
    scope: claims.scope !== requestedScopes.join(' ') ? claims.scope : undefined,
    issuedTokenType: TOKEN_TYPE.txnToken,
  });
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

async function acceptToken(ctx: TokenEndpointGrantContext, presented: PresentedTokens, value: string, type: string, role: PresentedRole, acceptedTypes?: readonly string[]): Promise<PresentedToken> {
  try {
    return await presented.accept(ctx, value, type, role, acceptedTypes);
  } catch (error) {
    // §2.2.2: an invalid or unacceptable subject or actor token is `invalid_request`.
    if (error instanceof UnacceptableTokenError) throw new errors.InvalidRequest(error.message);
    throw error;
  }
}

/** §2.1 allows several audiences and resources; we issue a token for one target at a time (RFC 8707 §2.2). */
function singleTarget(params: Params): string | undefined {
  const values = [params.resource, params.audience].flat().filter((value): value is string => !!value);
  const targets = [...new Set(values)];
  if (targets.length > 1) throw new errors.InvalidTarget('only one audience or resource may be requested per exchange');
  return targets[0];
}

/** What the new token may carry at most: the subject token's scopes, within what the client may have. */
function scopeCeiling(subject: PresentedToken, client: Client, agent: Agent | undefined): string[] {
  const subjectScopes = subject.scopes ?? [];
  if (agent) return subjectScopes.filter((scope) => scopeAllowed(scope, agent.scopes));
  const allowed = client.scope?.split(' ');
  return allowed ? subjectScopes.filter((scope) => allowed.includes(scope)) : subjectScopes;
}

/** Seconds the subject token has left, which nothing issued from it may outlive; refused once it has expired. */
function remainingLifetime(subject: PresentedToken): number {
  const remaining = subject.expiresAt - Math.floor(Date.now() / 1000);
  if (remaining <= 0) throw new errors.InvalidRequest('subject_token has expired');
  return remaining;
}

/**
 * The delegation policy of the client our subject token was issued to (its `allowed_actors` decide who may act on
 * its tokens). A trusted issuer's token names a client of that issuer, not of ours: it has no policy here.
 */
async function subjectClientPolicy(ctx: TokenEndpointGrantContext, subject: PresentedToken, clientId: string | undefined, issuer: string): Promise<ClientDelegationPolicy | undefined> {
  const { client, provider } = ctx.oidc;
  if (!clientId || subject.issuer !== issuer) return undefined;
  if (clientId === client.clientId) return delegationPolicyOf(client);
  let subjectClient;
  try {
    subjectClient = await provider.Client.find(clientId);
  } catch {
    // A client identified by a metadata document that cannot be fetched now: its policy cannot be applied.
    throw new errors.InvalidRequest('the client the subject_token was issued to cannot be loaded, so its delegation policy cannot be applied');
  }
  return subjectClient ? delegationPolicyOf(subjectClient) : undefined;
}

function delegationPolicyOf(client: Client): ClientDelegationPolicy | undefined {
  return (client as unknown as { delegation_policy?: ClientDelegationPolicy }).delegation_policy;
}

function scopeList(value: string | string[] | undefined): string[] {
  return typeof value === 'string' ? value.split(' ').filter(Boolean) : [];
}

function refuseIf(refusal: PolicyRefusal | undefined): void {
  if (!refusal) return;
  const description = refusal.rule === 'scope' ? refusal.description : `delegation policy "${refusal.rule}" refused: ${refusal.description}`;
  if (refusal.error === 'invalid_target') throw new errors.InvalidTarget(description);
  if (refusal.error === 'invalid_scope') throw new errors.InvalidScope(description, refusal.scope ?? '');
  throw new errors.InvalidRequest(description);
}
