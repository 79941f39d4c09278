// Verifies JWTs from the operator's trusted external issuers (config/trusted-issuers.ts), which token exchange
// (RFC 8693) accepts as subject tokens and, when they name the requesting client, as actor tokens.
// RFC 8693 §2.2.2 answers an unacceptable subject or actor token with `invalid_request`; the grant puts a
// PresentedTokenError's message in the error_description, so every message here is safe to show the client and
// never quotes the token.
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, errors, jwtVerify } from 'jose';
import type { JWTPayload, JWTVerifyGetKey, JWTVerifyOptions } from 'jose';
import { clockTolerance as defaultClockTolerance } from '../config/defaults.ts';
import type { TrustedIssuerConfig } from '../config/trusted-issuers.ts';
import { PresentedTokenError } from './presented-token-error.ts';

/** What a verified external token says about its principal. */
export interface ExternalSubject {
  issuer: string;
  /** The issuer's subject prefix followed by the subject claim's value. */
  subject: string;
  /** Undefined when the token carries no scope claim at all; empty when it carries an empty one. */
  scopes: string[] | undefined;
  /** `exp`, in seconds since the epoch. */
  expiresAt: number;
  issuedAt?: number;
  /** RFC 8693 §4.1: the party acting for the subject when this token was issued. */
  act?: Record<string, unknown>;
  /** RFC 8693 §4.4: who the subject allows to act for it. */
  mayAct?: Record<string, unknown>;
  /** `azp`, or RFC 9068's `client_id`. */
  clientId?: string;
  audiences: string[];
  /** RFC 9449 §6.1: the thumbprint of the DPoP key the token is bound to. */
  jkt?: string;
  /** Every claim, verified, for the grants that read more than the above (ID-JAG's `jti`, `resource`). */
  claims: JWTPayload;
}

export interface TrustedIssuersOptions {
  /** Seconds of skew accepted on `exp`, `nbf` and `iat`; defaults to config/defaults.ts `clockTolerance`. */
  clockToleranceSeconds?: number;
  /** Tokens longer than this are refused before anything is decoded; default 16384. */
  maxTokenBytes?: number;
}

const defaultMaxTokenBytes = 16_384;

// A token with a `kid` we do not know makes jose refetch the JWKS (that is how a rotated key is picked up), but
// at most once per cooldown, so a stream of made-up kids cannot turn us into an amplifier against the issuer.
// Keys are refetched at least every cacheMaxAge, so a key the issuer withdraws stops verifying within it.
const jwksCooldownMs = 30_000;
const jwksCacheMaxAgeMs = 10 * 60_000;
const jwksTimeoutMs = 5_000;

interface Issuer {
  config: TrustedIssuerConfig;
  getKey: JWTVerifyGetKey;
}

/** The token's `iss`, unverified; undefined when it is not a decodable JWT or has no string `iss`. */
export function peekIssuer(jwt: string): string | undefined {
  try {
    const { iss } = decodeJwt(jwt);
    return typeof iss === 'string' ? iss : undefined;
  } catch {
    return undefined;
  }
}

export class TrustedIssuers {
  readonly #issuers: Map<string, Issuer>;
  readonly #clockTolerance: number;
  readonly #maxTokenBytes: number;

  constructor(configs: TrustedIssuerConfig[], options: TrustedIssuersOptions = {}) {
    this.#clockTolerance = options.clockToleranceSeconds ?? defaultClockTolerance;
    this.#maxTokenBytes = options.maxTokenBytes ?? defaultMaxTokenBytes;
    // One remote JWKS per issuer for the life of the process: it is the cache.
    this.#issuers = new Map(configs.map((config) => [config.issuer, { config, getKey: keysOf(config) }]));
  }

  trusts(iss: string): boolean {
    return this.#issuers.has(iss);
  }

  /** Verifies a JWT from a trusted issuer; throws PresentedTokenError saying why it is not acceptable. */
  async verify(jwt: string): Promise<ExternalSubject> {
    const { alg, iss } = this.#peek(jwt);
    if (iss === undefined) throw new PresentedTokenError('ERR_UNTRUSTED_ISSUER', 'the token names no issuer (iss)');
    const issuer = this.#issuers.get(iss);
    if (!issuer) throw new PresentedTokenError('ERR_UNTRUSTED_ISSUER', `the token's issuer "${quotable(iss)}" is not trusted`);
    const { config } = issuer;

    // Decided here rather than left to jose so the client learns exactly why, and so that an HS256 token whose
    // "secret" is the issuer's public key never reaches an HMAC verification.
    if (alg === 'none') throw new PresentedTokenError('ERR_ALGORITHM_NOT_ALLOWED', 'the token is unsigned (alg "none")');
    if (!config.algorithms.some((allowed) => allowed === alg)) {
      throw new PresentedTokenError('ERR_ALGORITHM_NOT_ALLOWED', `the token is signed with alg "${quotable(alg)}", which is not allowed`);
    }

    const options: JWTVerifyOptions = {
      issuer: config.issuer,
      audience: config.audiences,
      algorithms: config.algorithms,
      clockTolerance: this.#clockTolerance,
      maxTokenAge: config.maxTokenAgeSeconds,
      // A token that never expires could be exchanged forever after it leaked.
      requiredClaims: ['exp'],
    };
    let payload: JWTPayload;
    try {
      payload = await verifyWithIssuerKeys(jwt, issuer.getKey, options);
    } catch (error) {
      throw fromJoseError(error, config);
    }
    return externalSubject(config, payload);
  }

  /** The unverified `alg` and `iss`, after the checks that need no key. */
  #peek(jwt: string): { alg: string; iss: string | undefined } {
    if (typeof jwt !== 'string') throw malformed();
    // Before any decoding, so an oversized token costs nothing but this count.
    if (Buffer.byteLength(jwt, 'utf8') > this.#maxTokenBytes) {
      throw new PresentedTokenError('ERR_TOKEN_TOO_LARGE', `the token is larger than ${this.#maxTokenBytes} bytes`);
    }
    // Three parts: a JWS. Encrypted JWTs (five parts) are not accepted from external issuers.
    if (jwt.split('.').length !== 3) throw malformed();
    let header: ReturnType<typeof decodeProtectedHeader>;
    let claims: JWTPayload;
    try {
      header = decodeProtectedHeader(jwt);
      claims = decodeJwt(jwt);
    } catch (error) {
      throw malformed(error);
    }
    if (typeof header.alg !== 'string' || !header.alg) throw new PresentedTokenError('ERR_TOKEN_MALFORMED', 'the token\'s header names no algorithm (alg)');
    return { alg: header.alg, iss: typeof claims.iss === 'string' ? claims.iss : undefined };
  }
}

function keysOf(config: TrustedIssuerConfig): JWTVerifyGetKey {
  const remote = createRemoteJWKSet(new URL(config.jwksUri), {
    cooldownDuration: jwksCooldownMs,
    cacheMaxAge: jwksCacheMaxAgeMs,
    timeoutDuration: jwksTimeoutMs,
  });
  return async (header, token) => {
    try {
      return await remote(header, token);
    } catch (error) {
      // "No key matches" is about the token; anything else (unreachable, timeout, non-200, not a JWKS) is the
      // issuer's side, kept as the cause for our logs and not described to the client.
      if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) throw error;
      throw new PresentedTokenError('ERR_JWKS_UNAVAILABLE', 'the issuer\'s keys could not be fetched', { cause: error });
    }
  };
}

async function verifyWithIssuerKeys(jwt: string, getKey: JWTVerifyGetKey, options: JWTVerifyOptions): Promise<JWTPayload> {
  try {
    return (await jwtVerify(jwt, getKey, options)).payload;
  } catch (error) {
    // A token without `kid` while the issuer publishes several keys of its type (typically mid-rotation): jose
    // hands back the candidates and leaves trying them to the caller.
    if (!(error instanceof errors.JWKSMultipleMatchingKeys)) throw error;
    for await (const key of error) {
      try {
        return (await jwtVerify(jwt, key, options)).payload;
      } catch (attempt) {
        if (!(attempt instanceof errors.JWSSignatureVerificationFailed)) throw attempt;
      }
    }
    throw new errors.JWSSignatureVerificationFailed();
  }
}

/** Our error for one of jose's; anything else (a bug, not a bad token) is returned unchanged. */
function fromJoseError(error: unknown, config: TrustedIssuerConfig): unknown {
  if (error instanceof PresentedTokenError) return error;
  if (error instanceof errors.JWTExpired) {
    // jose reports a token older than maxTokenAge as expired, on `iat`.
    if (error.claim === 'iat') return new PresentedTokenError('ERR_TOKEN_EXPIRED', `the token was issued more than ${config.maxTokenAgeSeconds} seconds ago`);
    return new PresentedTokenError('ERR_TOKEN_EXPIRED', 'the token has expired');
  }
  if (error instanceof errors.JWTClaimValidationFailed) return fromClaimFailure(error);
  if (
    error instanceof errors.JWSSignatureVerificationFailed
    || error instanceof errors.JWKSNoMatchingKey
    || error instanceof errors.JWKSMultipleMatchingKeys
  ) {
    return new PresentedTokenError('ERR_SIGNATURE_INVALID', 'the token\'s signature does not verify with its issuer\'s keys');
  }
  if (error instanceof errors.JOSEAlgNotAllowed) return new PresentedTokenError('ERR_ALGORITHM_NOT_ALLOWED', 'the token\'s algorithm is not allowed');
  if (error instanceof errors.JOSENotSupported) {
    // An unrecognised `crit` header parameter, typically.
    return new PresentedTokenError('ERR_TOKEN_MALFORMED', 'the token uses a JOSE feature this server does not support');
  }
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid) return malformed(error);
  return error;
}

function fromClaimFailure(error: InstanceType<typeof errors.JWTClaimValidationFailed>): PresentedTokenError {
  const { claim, reason } = error;
  if (claim === 'aud') {
    return new PresentedTokenError('ERR_WRONG_AUDIENCE', reason === 'missing' ? 'the token has no audience (aud)' : 'the token\'s audience is not one this server accepts');
  }
  if (claim === 'iss') return new PresentedTokenError('ERR_UNTRUSTED_ISSUER', 'the token\'s issuer is not trusted');
  if (reason === 'missing') {
    return new PresentedTokenError('ERR_CLAIM_INVALID', claim === 'iat' ? 'the token has no "iat" claim, which its issuer\'s tokens must carry' : `the token has no "${claim}" claim`);
  }
  if (reason === 'invalid') return new PresentedTokenError('ERR_CLAIM_INVALID', `the token's "${claim}" claim is not a number`);
  if (claim === 'nbf') return new PresentedTokenError('ERR_TOKEN_NOT_YET_VALID', 'the token is not valid yet (nbf)');
  if (claim === 'iat') return new PresentedTokenError('ERR_TOKEN_NOT_YET_VALID', 'the token\'s issue time (iat) is in the future');
  return new PresentedTokenError('ERR_CLAIM_INVALID', `the token's "${claim}" claim is not acceptable`);
}

function externalSubject(config: TrustedIssuerConfig, payload: JWTPayload): ExternalSubject {
  const principal = payload[config.subjectClaim];
  if (principal === undefined) throw new PresentedTokenError('ERR_NO_SUBJECT', `the token has no "${config.subjectClaim}" claim`);
  if (typeof principal !== 'string' || !principal) {
    throw new PresentedTokenError('ERR_NO_SUBJECT', `the token's "${config.subjectClaim}" claim is not a non-empty string`);
  }
  return {
    issuer: config.issuer,
    subject: `${config.subjectPrefix}${principal}`,
    scopes: scopesOf(payload, config.scopeClaim),
    // jose has checked that `exp` is present and a number (requiredClaims), and `iat` is a number when present.
    expiresAt: payload.exp as number,
    issuedAt: payload.iat,
    act: jsonObjectClaim(payload, 'act'),
    mayAct: jsonObjectClaim(payload, 'may_act'),
    clientId: clientIdOf(payload),
    audiences: audiencesOf(payload),
    jkt: jktOf(payload),
    claims: payload,
  };
}

// RFC 6749 §3.3 scope-token.
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

/**
 * The configured claim as a space-delimited string (RFC 8693 §4.2), else `scp`, which some issuers send as an
 * array and others as a string. Malformed claims are refused rather than skipped: a scope silently dropped or
 * split differently would change what the exchanged token may do.
 */
function scopesOf(payload: JWTPayload, scopeClaim: string): string[] | undefined {
  for (const claim of new Set([scopeClaim, 'scp'])) {
    const value = payload[claim];
    if (value === undefined) continue;
    const scopes = typeof value === 'string' ? value.split(' ').filter(Boolean) : value;
    if (!Array.isArray(scopes) || !scopes.every((scope) => typeof scope === 'string' && SCOPE_TOKEN.test(scope))) {
      throw new PresentedTokenError('ERR_CLAIM_INVALID', `the token's "${claim}" claim is neither a space-delimited string nor an array of scope names`);
    }
    return [...new Set<string>(scopes)];
  }
  return undefined;
}

function jsonObjectClaim(payload: JWTPayload, claim: string): Record<string, unknown> | undefined {
  const value = payload[claim];
  if (value === undefined) return undefined;
  if (!isJsonObject(value)) throw new PresentedTokenError('ERR_CLAIM_INVALID', `the token's "${claim}" claim is not a JSON object`);
  return value;
}

function clientIdOf(payload: JWTPayload): string | undefined {
  const azp = optionalString(payload.azp, 'azp');
  const clientId = optionalString(payload.client_id, 'client_id');
  // The client id decides whether an actor token names the requesting client; two answers would be a guess.
  if (azp !== undefined && clientId !== undefined && azp !== clientId) {
    throw new PresentedTokenError('ERR_CLAIM_INVALID', 'the token\'s "azp" and "client_id" claims disagree');
  }
  return azp ?? clientId;
}

function audiencesOf(payload: JWTPayload): string[] {
  const { aud } = payload;
  if (typeof aud === 'string') return [aud];
  // jose has checked that one member matches, not that every member is a string.
  if (Array.isArray(aud) && aud.every((member) => typeof member === 'string')) return aud;
  throw new PresentedTokenError('ERR_CLAIM_INVALID', 'the token\'s "aud" claim is neither a string nor an array of strings');
}

function jktOf(payload: JWTPayload): string | undefined {
  const { cnf } = payload;
  if (cnf === undefined) return undefined;
  if (!isJsonObject(cnf)) throw new PresentedTokenError('ERR_CLAIM_INVALID', 'the token\'s "cnf" claim is not a JSON object');
  return optionalString(cnf.jkt, 'cnf.jkt');
}

function optionalString(value: unknown, claim: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !value) throw new PresentedTokenError('ERR_CLAIM_INVALID', `the token's "${claim}" claim is not a non-empty string`);
  return value;
}

function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function malformed(cause?: unknown): PresentedTokenError {
  return new PresentedTokenError('ERR_TOKEN_MALFORMED', 'the token is not a well-formed JWT', cause === undefined ? undefined : { cause });
}

/**
 * A value taken from the token, fit to quote in an error_description: RFC 6749 §5.2 allows only printable
 * ASCII other than `"` and `\` there, and the client does not need a megabyte of it echoed back.
 */
export function quotable(value: string): string {
  const printable = value.replace(/[^\x20\x21\x23-\x5B\x5D-\x7E]/g, '?');
  return printable.length > 100 ? `${printable.slice(0, 100)}...` : printable;
}
