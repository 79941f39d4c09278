// A DPoP proof presented with an access token at a resource server: every check of RFC 9449 §4.3 plus §7.1's
// `ath` and key binding, the MCP profile's `content_digest`, and `jti` replay detection (§11.1). Server nonces
// (§9) are not issued, so the `nonce` check of §4.3 item 10 does not arise.
import { createHash } from 'node:crypto';
import { EmbeddedJWK, base64url, calculateJwkThumbprint, errors, jwtVerify, type JWK } from 'jose';
import { checkContentDigest } from './content-digest.ts';
import { InvalidDpopProof, InvalidToken } from './errors.ts';
import type { ReplayStore } from './replay-store.ts';
import { headerValues, type HeaderSource } from './request-headers.ts';

/** The request body as given to `verify`; a function is called only when a proof carries `content_digest`. */
export type BodySource = Uint8Array | string | (() => Promise<Uint8Array | string>);

export interface DpopProofOptions {
  algorithms: readonly string[];
  /** How far `iat` may be from now, either way, in seconds. */
  iatWindowSeconds: number;
  replayStore: ReplayStore;
  /** Refuse proofs without `content_digest` (the MCP DPoP profile makes it a MUST). */
  requireContentDigest: boolean;
}

export interface ProofRequest {
  method: string;
  url: string | URL;
  headers: HeaderSource;
  body?: BodySource;
}

// A proof is a few hundred bytes; anything much larger is not worth parsing.
const MAX_PROOF_LENGTH = 8 * 1024;
const MAX_JTI_LENGTH = 256;

/** Verifies the request's DPoP proof for `accessToken`, bound to the key whose thumbprint is `boundJkt`. */
export async function verifyDpopProof(request: ProofRequest, accessToken: string, boundJkt: string, options: DpopProofOptions): Promise<void> {
  // §4.3 items 1-2: exactly one header, one JWT. Node and fetch join repeated fields with commas, which a
  // compact JWS never contains.
  const values = headerValues(request.headers, 'dpop');
  if (values.length === 0) throw new InvalidDpopProof('DPoP proof missing: the DPoP scheme needs a DPoP header');
  if (values.length > 1 || values[0].includes(',')) throw new InvalidDpopProof('more than one DPoP header');
  const proof = values[0].trim();
  if (proof.length > MAX_PROOF_LENGTH) throw new InvalidDpopProof('DPoP proof is too large');

  let payload: Record<string, unknown>;
  let jwk: JWK;
  try {
    // §4.3 items 3-7: typ dpop+jwt, an allowed asymmetric alg, signature by the embedded key, which EmbeddedJWK
    // refuses when it is symmetric or private.
    const verified = await jwtVerify(proof, EmbeddedJWK, {
      typ: 'dpop+jwt',
      algorithms: [...options.algorithms],
      requiredClaims: ['jti', 'htm', 'htu', 'iat'],
    });
    payload = verified.payload as Record<string, unknown>;
    jwk = verified.protectedHeader.jwk!;
  } catch (error) {
    throw new InvalidDpopProof(proofProblem(error), { cause: error });
  }
  const { jti, htm, htu, iat, ath } = payload;
  if (typeof jti !== 'string' || !jti || jti.length > MAX_JTI_LENGTH) throw new InvalidDpopProof('DPoP proof jti is missing or too long');
  // §4.3 item 8.
  if (htm !== request.method) throw new InvalidDpopProof('DPoP proof htm does not match the request method');
  // §4.3 item 9.
  if (typeof htu !== 'string' || !sameTargetUri(htu, request.url)) throw new InvalidDpopProof('DPoP proof htu does not match the request URL');
  // §4.3 item 11 (the MCP profile: ±5 minutes).
  const now = Math.floor(Date.now() / 1000);
  if (typeof iat !== 'number' || Math.abs(now - iat) > options.iatWindowSeconds) {
    throw new InvalidDpopProof('DPoP proof iat is outside the accepted window');
  }
  // §4.3 item 12 / §7.1: the proof is for this very token...
  if (ath !== base64url.encode(createHash('sha256').update(accessToken).digest())) {
    throw new InvalidDpopProof('DPoP proof ath does not match the access token');
  }
  // ...and made with the key the token is bound to (§6; RFC 9449's own example answers this with invalid_token).
  if ((await calculateJwkThumbprint(jwk, 'sha256')) !== boundJkt) throw new InvalidToken('DPoP key binding does not match the access token');

  if (payload.content_digest !== undefined) {
    checkContentDigest(payload.content_digest, await bodyBytes(request.body));
  } else if (options.requireContentDigest) {
    throw new InvalidDpopProof('DPoP proof has no content_digest (required by this resource)');
  }

  // Last, so only proofs that passed everything else take a place in the store. Keyed by key and jti (a jti is
  // only unique per client key), hashed to a fixed size; kept until `iat` leaves the window.
  const key = `${boundJkt}.${base64url.encode(createHash('sha256').update(jti).digest())}`;
  const ttl = iat + options.iatWindowSeconds - now + 1;
  if (!(await options.replayStore.checkAndStore(key, ttl))) throw new InvalidDpopProof('DPoP proof has already been used');
}

/**
 * §4.3 item 9: `htu` and the request URI compared without query and fragment, after RFC 3986 §6.2.2 syntax-based
 * and §6.2.3 scheme-based normalization. WHATWG URL parsing already lowercases scheme and host, drops default
 * ports, resolves dot segments and gives an empty path as `/`; percent-encodings are normalized here.
 */
export function sameTargetUri(htu: string, requestUrl: string | URL): boolean {
  const normalized = (value: string | URL) => {
    const url = new URL(value);
    return `${url.protocol}//${url.host}${normalizePercentEncoding(url.pathname)}`;
  };
  try {
    return normalized(htu) === normalized(requestUrl);
  } catch {
    return false;
  }
}

/** RFC 3986 §6.2.2.1-2: uppercase hex digits, and decode octets that are unreserved characters. */
function normalizePercentEncoding(path: string): string {
  return path.replace(/%[0-9a-fA-F]{2}/g, (escape) => {
    const character = String.fromCharCode(parseInt(escape.slice(1), 16));
    return /[A-Za-z0-9\-._~]/.test(character) ? character : escape.toUpperCase();
  });
}

async function bodyBytes(body: BodySource | undefined): Promise<Uint8Array> {
  const value = typeof body === 'function' ? await body() : body;
  // No body given means an empty one: a proof for a real body then fails, which is the safe direction.
  if (value === undefined) return new Uint8Array();
  return typeof value === 'string' ? new TextEncoder().encode(value) : value;
}

function proofProblem(error: unknown): string {
  if (error instanceof errors.JOSEAlgNotAllowed) return 'DPoP proof algorithm is not accepted';
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'DPoP proof signature is invalid';
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'typ') return 'DPoP proof typ must be dpop+jwt';
    return error.reason === 'missing' ? `DPoP proof has no ${error.claim} claim` : `DPoP proof ${error.claim} claim is invalid`;
  }
  if (error instanceof errors.JWTExpired) return 'DPoP proof has expired';
  return 'malformed DPoP proof';
}
