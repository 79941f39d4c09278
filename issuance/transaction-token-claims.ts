// Transaction tokens (draft-ietf-oauth-transaction-tokens, -10): the Txn-Token request as RFC 8693 profiles it,
// and the claims of the Txn-Token we issue for it, as small pure functions. grants/token-exchange.ts branches here
// when `requested_token_type` is the txn_token URN and does the steps every exchange shares (client
// authentication, subject token acceptance, scope narrowing, audit) itself.
//
// A Txn-Token is not an access token: it is signed directly with our key (keys/token-signer.ts), never stored,
// never introspectable, carries no `cnf` and never the inbound token ("Transaction Tokens Are Not OAuth 2.0
// Access Tokens", "Access Tokens").
import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { errors } from 'oidc-provider';
import type { ActClaim } from '../policy/act-chain.ts';
import type { PresentedTransaction } from '../tokens/presented-tokens.ts';
import { quotable } from '../tokens/trusted-issuers.ts';

type Params = Record<string, string | string[] | undefined>;
type JsonObject = Record<string, unknown>;

/**
 * The `rctx` member in which a replacement Txn-Token keeps the workloads that requested the tokens it replaces,
 * oldest first, then its own `req_wl`. The draft requires the call chain to be kept ("Txn-Token as a
 * subject_token") and leaves the mechanism open; `req_wl` itself is one string since -09.
 */
export const REQUESTING_WORKLOAD_CHAIN = 'req_wl_chain';

/** The claims of a Txn-Token ("JWT Body Claims"). */
export interface TransactionTokenClaims {
  iss: string;
  iat: number;
  exp: number;
  /** The trust domain. */
  aud: string;
  txn: string;
  sub: string;
  scope: string;
  /** The workload that requested this Txn-Token. */
  req_wl: string;
  rctx?: JsonObject;
  tctx?: JsonObject;
  /** RFC 8693 §4.1: the subject token's delegation chain, carried over unchanged. */
  act?: ActClaim;
  /**
   * The subject's organization, as access tokens carry it (issuance/token-organization.ts); the draft allows
   * claims beyond its own ("JWT Body Claims").
   */
  org_id: string;
  [claim: string]: unknown;
}

export interface TransactionTokenRequest {
  scopes: string[];
  /** `request_context`, parsed. */
  requestContext: JsonObject | undefined;
  /** `request_details`, parsed (before the operator's filter). */
  requestDetails: JsonObject | undefined;
}

export interface TransactionTokenLimits {
  trustDomain: string;
  /** The largest `request_context` / `request_details`, and `rctx` / `tctx`, in bytes. */
  maxContextBytes: number;
}

/**
 * The parameters the Txn-Token profile adds to or requires of RFC 8693 ("Txn-Token Request"): `audience` is the
 * trust domain and nothing else, `scope` is required, and `request_context` / `request_details` are JSON objects.
 */
export function parseTransactionTokenRequest(params: Params, limits: TransactionTokenLimits): TransactionTokenRequest {
  const audiences = [params.audience].flat().filter((value): value is string => !!value);
  if (audiences.length === 0) throw new errors.InvalidRequest("missing required parameter 'audience': a Txn-Token request names the trust domain");
  // RFC 8693 §2.2.2: a target the server will not issue for is `invalid_target`.
  if (new Set(audiences).size > 1) throw new errors.InvalidTarget('a Txn-Token is valid in exactly one trust domain: send one audience');
  if (audiences[0] !== limits.trustDomain) throw new errors.InvalidTarget(`audience must be this trust domain, "${limits.trustDomain}"`);
  if ([params.resource].flat().some(Boolean)) {
    throw new errors.InvalidTarget('a Txn-Token is valid in the trust domain named by audience: resource must not be sent');
  }
  if (params.actor_token !== undefined) throw new errors.InvalidRequest('actor_token is not part of a Txn-Token request');
  const scope = params.scope;
  if (typeof scope !== 'string' || !scope.split(' ').some(Boolean)) {
    throw new errors.InvalidRequest("missing required parameter 'scope': a Txn-Token request states the purpose of the transaction");
  }
  return {
    scopes: [...new Set(scope.split(' ').filter(Boolean))],
    requestContext: contextParameter(params, 'request_context', limits.maxContextBytes),
    requestDetails: contextParameter(params, 'request_details', limits.maxContextBytes),
  };
}

function contextParameter(params: Params, name: string, maxBytes: number): JsonObject | undefined {
  const value = params[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new errors.InvalidRequest(`${name} must not be repeated`);
  // Counted before parsing, so an oversized value costs nothing but this.
  if (Buffer.byteLength(value) > maxBytes) throw new errors.InvalidRequest(`${name} is larger than ${maxBytes} bytes`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw new errors.InvalidRequest(`${name} is not valid JSON`);
  }
  if (!isJsonObject(parsed)) throw new errors.InvalidRequest(`${name} must be a JSON object`);
  if (name === 'request_context' && Object.hasOwn(parsed, REQUESTING_WORKLOAD_CHAIN)) {
    throw new errors.InvalidRequest(`request_context may not contain "${REQUESTING_WORKLOAD_CHAIN}": the Txn-Token service asserts it`);
  }
  return parsed;
}

export interface TransactionTokenInput {
  issuer: string;
  trustDomain: string;
  /** The requesting workload's client id. */
  workload: string;
  /** The accepted subject token: its principal and delegation chain, and its transaction when it is a Txn-Token. */
  subject: { subject: string; act: ActClaim | undefined; transaction?: PresentedTransaction };
  /** Already narrowed to the subject token's scope. */
  scopes: string[];
  /** The subject's organization. */
  orgId: string;
  requestContext: JsonObject | undefined;
  /** Already reduced by the operator's filter (policy/transaction-token-policy.ts). */
  transactionDetails: JsonObject | undefined;
  /** Seconds since the epoch. */
  issuedAt: number;
  expiresAt: number;
  maxContextBytes: number;
}

/**
 * The claims of a new Txn-Token or, when the subject token was a Txn-Token, of its replacement. A replacement
 * keeps `txn`, `sub` and `aud` (the draft: "MUST NOT modify") and the delegation chain; what the replaced token
 * asserted in `rctx` and `tctx` stays, and a request may only add members to them (see mergeContext).
 */
export function transactionTokenClaims(input: TransactionTokenInput): TransactionTokenClaims {
  const replaced = input.subject.transaction;
  const rctx = replaced
    ? { ...mergeContext('request_context', 'rctx', replaced.rctx, input.requestContext), [REQUESTING_WORKLOAD_CHAIN]: workloadChain(replaced, input.workload) }
    : input.requestContext;
  const tctx = replaced ? mergeContext('request_details', 'tctx', replaced.tctx, input.transactionDetails) : input.transactionDetails;
  checkSize('rctx', rctx, input.maxContextBytes);
  checkSize('tctx', tctx, input.maxContextBytes);
  return {
    iss: input.issuer,
    iat: input.issuedAt,
    exp: input.expiresAt,
    aud: input.trustDomain,
    // RFC 8417 §2.2: unique; a UUID makes a collision within the trust domain practically impossible.
    txn: replaced?.txn ?? randomUUID(),
    sub: input.subject.subject,
    scope: input.scopes.join(' '),
    req_wl: input.workload,
    org_id: input.orgId,
    ...(rctx && Object.keys(rctx).length ? { rctx } : {}),
    ...(tctx && Object.keys(tctx).length ? { tctx } : {}),
    ...(input.subject.act ? { act: input.subject.act } : {}),
  };
}

/**
 * `original` with the members of `added` it does not have. A member the replaced token asserted may be sent again
 * with the same value, never with another: the TTS must not let a replacement change what the transaction was
 * (the draft: tctx values "remain immutable throughout the Call Chain").
 */
export function mergeContext(parameter: string, claim: string, original: JsonObject | undefined, added: JsonObject | undefined): JsonObject | undefined {
  if (!added) return original;
  if (!original) return added;
  const changed = Object.keys(added).find((member) => Object.hasOwn(original, member) && !isDeepStrictEqual(original[member], added[member]));
  if (changed !== undefined) {
    throw new errors.InvalidRequest(`${parameter} may not change "${quotable(changed)}", which the Txn-Token being replaced asserts in ${claim}`);
  }
  return Object.fromEntries([...Object.entries(original), ...Object.entries(added).filter(([member]) => !Object.hasOwn(original, member))]);
}

function workloadChain(replaced: PresentedTransaction, workload: string): string[] {
  const prior = replaced.rctx?.[REQUESTING_WORKLOAD_CHAIN];
  const chain = Array.isArray(prior) && prior.every((entry) => typeof entry === 'string') ? prior : [replaced.requestingWorkload];
  return [...chain, workload];
}

function checkSize(claim: string, value: JsonObject | undefined, maxBytes: number): void {
  if (value && Buffer.byteLength(JSON.stringify(value)) > maxBytes) {
    throw new errors.InvalidRequest(`the Txn-Token's ${claim} would be larger than ${maxBytes} bytes`);
  }
}

function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
