// Verifies a transaction token (draft-ietf-oauth-transaction-tokens) received in the `Txn-Token` HTTP header, as
// every workload of the trust domain must before acting on it ("Txn-Token Validation"): the JWS signature
// against the Txn-Token service's published keys (its `jwks_uri`), the `txntoken+jwt` type, the trust domain as
// `aud`, and the expiry. Returns the typed claims, or throws TransactionTokenError with a code to branch on.
// Depends on jose only, so a resource server can import it without the authorization server.
import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';

/** The HTTP header field that carries a Txn-Token (never `Authorization`). */
export const TXN_TOKEN_HEADER = 'txn-token';

export type TransactionTokenErrorCode =
  /** No `Txn-Token` header, or an empty one. */
  | 'ERR_TXN_TOKEN_MISSING'
  /** More than one Txn-Token: the header "MUST be exactly one Txn-Token". */
  | 'ERR_TXN_TOKEN_MULTIPLE'
  | 'ERR_TXN_TOKEN_MALFORMED'
  /** The JWT `typ` header is not `txntoken+jwt` (an access token, say). */
  | 'ERR_TXN_TOKEN_TYPE'
  | 'ERR_TXN_TOKEN_ALGORITHM'
  /** No published key of the Txn-Token service verifies it. */
  | 'ERR_TXN_TOKEN_SIGNATURE'
  | 'ERR_TXN_TOKEN_EXPIRED'
  /** Its `aud` is not this trust domain. */
  | 'ERR_TXN_TOKEN_AUDIENCE'
  /** Its `iss` is not the expected one (checked only when `issuer` is given). */
  | 'ERR_TXN_TOKEN_ISSUER'
  /** A required claim is missing or has the wrong type, or it is not valid yet. */
  | 'ERR_TXN_TOKEN_CLAIMS'
  /** The service's JWKS could not be fetched: not the token's fault. */
  | 'ERR_TXN_TOKEN_KEYS_UNAVAILABLE';

export class TransactionTokenError extends Error {
  readonly code: TransactionTokenErrorCode;

  constructor(code: TransactionTokenErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TransactionTokenError';
    this.code = code;
  }
}

/** RFC 8693 §4.1: who acts for `sub`, newest actor outermost. */
export interface TransactionTokenActor {
  sub: string;
  iss?: string;
  act?: TransactionTokenActor;
  /** The organization of the principal, from an agentauth Txn-Token service (an additional claim; others may omit it). */
  org_id?: string;
  [claim: string]: unknown;
}

/** A verified Txn-Token's claims ("JWT Body Claims"). */
export interface TransactionTokenClaims {
  iss?: string;
  iat: number;
  exp: number;
  /** The trust domain. */
  aud: string | string[];
  /** The transaction id, the same in every replacement of this token. */
  txn: string;
  /** The principal of the transaction. */
  sub: string;
  /** Space-delimited purpose of the transaction. */
  scope: string;
  /** The workload that requested the Txn-Token. */
  req_wl: string;
  /** Environmental context of the request that started the transaction. */
  rctx?: Record<string, unknown>;
  /** Transaction details that stay the same along the call chain. */
  tctx?: Record<string, unknown>;
  act?: TransactionTokenActor;
  [claim: string]: unknown;
}

export interface VerifyTransactionTokenOptions {
  /** The Txn-Token service's JWKS (the authorization server's `jwks_uri`). */
  jwksUri: string | URL;
  /** This workload's trust domain: the `aud` every Txn-Token it accepts must carry. */
  trustDomain: string;
  /** When given, `iss` must equal it (the draft makes `iss` optional; ours carry the authorization server's issuer). */
  issuer?: string;
  /** Seconds of clock skew accepted on `exp`, `nbf` and `iat`; default 0. */
  clockTolerance?: number;
  /** Accepted JWS algorithms; default every asymmetric one the service signs with. Never `none` or HS*. */
  algorithms?: string[];
}

const DEFAULT_ALGORITHMS = ['ES256', 'RS256', 'PS256', 'EdDSA', 'Ed25519'];
const REQUIRED_STRING_CLAIMS = ['txn', 'sub', 'scope', 'req_wl'] as const;
const COMPACT_JWS = /^[\w-]+\.[\w-]+\.[\w-]+$/;

// One remote key set per jwks_uri for the life of the process: it is the cache. A token with an unknown `kid`
// makes jose refetch (how a rotated key is picked up), at most once per cooldown.
const keySets = new Map<string, JWTVerifyGetKey>();

/**
 * Verifies the value of the `Txn-Token` header — `req.headers['txn-token']`, `req.headersDistinct['txn-token']`
 * or `headers.get('txn-token')` — and returns the token's claims.
 */
export async function verifyTransactionToken(header: string | readonly string[] | null | undefined, options: VerifyTransactionTokenOptions): Promise<TransactionTokenClaims> {
  const token = singleToken(header);
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, keySet(options.jwksUri), {
      typ: 'txntoken+jwt',
      audience: options.trustDomain,
      issuer: options.issuer,
      algorithms: (options.algorithms ?? DEFAULT_ALGORITHMS).filter((alg) => alg !== 'none' && !alg.startsWith('HS')),
      clockTolerance: options.clockTolerance ?? 0,
      requiredClaims: ['iat', 'exp', ...REQUIRED_STRING_CLAIMS],
    }));
  } catch (error) {
    throw fromJoseError(error);
  }
  return claimsOf(payload);
}

function singleToken(header: string | readonly string[] | null | undefined): string {
  const values = (typeof header === 'string' ? [header] : [...(header ?? [])]).map((value) => value.trim()).filter(Boolean);
  if (values.length === 0) throw new TransactionTokenError('ERR_TXN_TOKEN_MISSING', 'the request has no Txn-Token header');
  // node:http joins repeated fields it does not know with ", "; a compact JWS never contains a comma.
  if (values.length > 1 || values[0].includes(',')) throw new TransactionTokenError('ERR_TXN_TOKEN_MULTIPLE', 'the Txn-Token header must carry exactly one Txn-Token');
  if (!COMPACT_JWS.test(values[0])) throw new TransactionTokenError('ERR_TXN_TOKEN_MALFORMED', 'the Txn-Token is not a compact signed JWT');
  return values[0];
}

function keySet(jwksUri: string | URL): JWTVerifyGetKey {
  const url = new URL(jwksUri);
  let keys = keySets.get(url.href);
  if (!keys) {
    const remote = createRemoteJWKSet(url, { cooldownDuration: 30_000, cacheMaxAge: 10 * 60_000, timeoutDuration: 5_000 });
    keys = async (protectedHeader, token) => {
      try {
        return await remote(protectedHeader, token);
      } catch (error) {
        // "No key matches" is about the token; anything else (unreachable, timeout, not a JWKS) is the service's side.
        if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) throw error;
        throw new TransactionTokenError('ERR_TXN_TOKEN_KEYS_UNAVAILABLE', 'the Txn-Token service\'s keys could not be fetched', { cause: error });
      }
    };
    keySets.set(url.href, keys);
  }
  return keys;
}

function fromJoseError(error: unknown): unknown {
  if (error instanceof TransactionTokenError) return error;
  if (error instanceof errors.JWTExpired) return new TransactionTokenError('ERR_TXN_TOKEN_EXPIRED', 'the Txn-Token has expired', { cause: error });
  if (error instanceof errors.JWTClaimValidationFailed) {
    const { claim, reason } = error;
    if (claim === 'typ') return new TransactionTokenError('ERR_TXN_TOKEN_TYPE', 'the token is not a Txn-Token (typ must be txntoken+jwt)', { cause: error });
    if (claim === 'aud') return new TransactionTokenError('ERR_TXN_TOKEN_AUDIENCE', 'the Txn-Token is not for this trust domain (aud)', { cause: error });
    if (claim === 'iss') return new TransactionTokenError('ERR_TXN_TOKEN_ISSUER', 'the Txn-Token is not from the expected issuer (iss)', { cause: error });
    const problem = reason === 'missing' ? 'is missing' : reason === 'check_failed' ? 'is not valid yet' : 'is not valid';
    return new TransactionTokenError('ERR_TXN_TOKEN_CLAIMS', `the Txn-Token's "${claim}" claim ${problem}`, { cause: error });
  }
  if (error instanceof errors.JOSEAlgNotAllowed) return new TransactionTokenError('ERR_TXN_TOKEN_ALGORITHM', 'the Txn-Token is signed with an algorithm that is not accepted', { cause: error });
  if (error instanceof errors.JWSSignatureVerificationFailed || error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) {
    return new TransactionTokenError('ERR_TXN_TOKEN_SIGNATURE', 'the Txn-Token\'s signature does not verify with the Txn-Token service\'s keys', { cause: error });
  }
  if (error instanceof errors.JOSEError) return new TransactionTokenError('ERR_TXN_TOKEN_MALFORMED', 'the Txn-Token is not a well-formed signed JWT', { cause: error });
  return error;
}

function claimsOf(payload: JWTPayload): TransactionTokenClaims {
  for (const claim of REQUIRED_STRING_CLAIMS) {
    if (typeof payload[claim] !== 'string' || !payload[claim]) throw new TransactionTokenError('ERR_TXN_TOKEN_CLAIMS', `the Txn-Token's "${claim}" claim is not a non-empty string`);
  }
  for (const claim of ['rctx', 'tctx', 'act'] as const) {
    const value = payload[claim];
    if (value !== undefined && (typeof value !== 'object' || value === null || Array.isArray(value))) {
      throw new TransactionTokenError('ERR_TXN_TOKEN_CLAIMS', `the Txn-Token's "${claim}" claim is not a JSON object`);
    }
  }
  return payload as TransactionTokenClaims;
}
