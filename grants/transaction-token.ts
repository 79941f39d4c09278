// The Transaction Token Service (draft-ietf-oauth-transaction-tokens -10): token exchange with
// `requested_token_type=urn:ietf:params:oauth:token-type:txn_token`, for workloads the operator approved
// (`txn_token_policy`). grants/token-exchange.ts dispatches here; the claims and request parsing are
// issuance/transaction-token-claims.ts, the workload's policy policy/transaction-token-policy.ts.
import { errors, type TokenEndpointGrantContext } from 'oidc-provider';
import { transactionTokenAlg } from '../config/defaults.ts';
import { acceptToken, refuseIf, remainingLifetime, scopeCeiling } from '../issuance/exchange-steps.ts';
import { clientRecordOf } from '../policy/client-record.ts';
import { narrowScopes } from '../policy/delegation-policy.ts';
import { buildTokenResponse } from '../issuance/oidc-grant-helpers.ts';
import { parseTransactionTokenRequest, transactionTokenClaims, type TransactionTokenClaims } from '../issuance/transaction-token-claims.ts';
import { tokenOrganization, type OrganizationLookups } from '../issuance/token-organization.ts';
import type { TokenSigner } from '../keys/token-signer.ts';
import {
  acceptedSubjectTypes, disabledSelfAssertedType, filterTransactionDetails, withinPolicyScopes,
} from '../policy/transaction-token-policy.ts';
import type { PresentedTokens } from '../tokens/presented-tokens.ts';
import { EXCHANGED_TOKEN_GTY } from '../tokens/token-liveness.ts';
import { TOKEN_TYPE, TXN_TOKEN_TYP } from '../tokens/token-types.ts';

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


export interface TransactionTokenDependencies {
  issuer: string;
  presented: PresentedTokens;
  service: TransactionTokenService;
  organizations: OrganizationLookups;
}

/** The RFC 8693 parameters a Txn-Token request shares with every exchange, already checked for presence. */
export interface TransactionTokenRequest {
  subjectToken: string;
  subjectTokenType: string;
}

type Params = Record<string, string | string[] | undefined>;

/**
 * A Txn-Token for an operator-approved workload of the trust domain. The steps every exchange takes (client
 * authentication, subject token acceptance, scope narrowing, the expiry cap, audit) are the same; what differs is
 * who may ask, what the request must carry, and that the result is a signed JWT that is not an access token: no
 * refresh token, no `cnf` (a DPoP proof sent along has been checked like any proof, and binds nothing: the draft
 * defines no proof-of-possession for Txn-Tokens, and the response says `token_type: N_A`).
 */
export async function issueTransactionToken(ctx: TokenEndpointGrantContext, deps: TransactionTokenDependencies, request: TransactionTokenRequest, requestedScopes: string[]): Promise<void> {
  const { provider, client } = ctx.oidc;
  const { service } = deps;
  const policy = clientRecordOf(client).txnTokenPolicy;
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
  // The subject's organization, as for an exchanged access token, with the same isolation rule: a workload of
  // one organization does not turn another's token into a Txn-Token (invalid_request, RFC 8693 §2.2.2).
  const orgId = await tokenOrganization({ clientId: client.clientId, accountId: subject.subject, gty: EXCHANGED_TOKEN_GTY }, deps.organizations);

  const issuedAt = Math.floor(Date.now() / 1000);
  const lifetime = Math.min(service.lifetime, remainingLifetime(subject));
  const claims = transactionTokenClaims({
    issuer: deps.issuer,
    trustDomain: service.trustDomain,
    workload: client.clientId,
    subject,
    scopes,
    orgId,
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
