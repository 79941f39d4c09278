// Verifies JWTs this server signed (access tokens, ID tokens, transaction tokens) against our own public keys,
// which every instance shares (keys/signing-keys.ts). No network, no key fetching.
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet, type JWTPayload, type JWTVerifyOptions } from 'jose';
import { clockTolerance, signingAlgorithms } from '../config/defaults.ts';

export class OwnTokenVerifier {
  readonly #issuer: string;
  readonly #keys: ReturnType<typeof createLocalJWKSet>;

  constructor(issuer: string, publicJwks: JSONWebKeySet) {
    this.#issuer = issuer;
    this.#keys = createLocalJWKSet(publicJwks);
  }

  get issuer(): string {
    return this.#issuer;
  }

  /**
   * The verified payload; throws jose's errors (JWTExpired, JWSSignatureVerificationFailed, JOSEAlgNotAllowed,
   * JWTClaimValidationFailed…). `alg: none` and every HS* algorithm are refused before any key is looked at.
   */
  async verify(jwt: string, options: Pick<JWTVerifyOptions, 'typ' | 'audience'> = {}): Promise<JWTPayload> {
    const { payload } = await jwtVerify(jwt, this.#keys, {
      ...options,
      issuer: this.#issuer,
      algorithms: [...signingAlgorithms],
      clockTolerance,
    });
    return payload;
  }
}

/**
 * Whether a presented token is shaped like a compact JWS (three dot-separated parts with a decodable header).
 * Opaque tokens have no dots, which is checked first: decoding, and the exception it throws, would otherwise be
 * paid on every introspection of an opaque token.
 */
export function looksLikeCompactJws(value: string): boolean {
  if (value.indexOf('.') === -1 || value.split('.').length !== 3) return false;
  try {
    decodeProtectedHeader(value);
    return true;
  } catch {
    return false;
  }
}
