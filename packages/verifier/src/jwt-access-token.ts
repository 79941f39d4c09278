// RFC 9068 JWT access tokens, verified locally against the authorization server's published keys. jose's remote
// key set refetches the JWKS when a token names a key it has not seen, so signing-key rotation needs no restart.
import { errors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { accessTokenClaims, type AccessTokenClaims } from './access-token-claims.ts';
import { AuthorizationServerUnavailable, InvalidToken } from './errors.ts';

/** The only algorithms accepted for access tokens: asymmetric, as RFC 9068 §4 recommends (RS256 is a MUST). */
export const ACCESS_TOKEN_ALGORITHMS = ['RS256', 'PS256', 'ES256', 'EdDSA', 'Ed25519'];

export interface JwtAccessTokenOptions {
  issuer: string;
  /** This resource server's identifier, which must be in `aud` (RFC 9068 §4, RFC 8707). */
  resource: string;
  keys: JWTVerifyGetKey;
  clockTolerance: number;
}

export async function verifyJwtAccessToken(token: string, options: JwtAccessTokenOptions): Promise<AccessTokenClaims> {
  try {
    const { payload } = await jwtVerify(token, options.keys, {
      issuer: options.issuer,
      audience: options.resource,
      // RFC 9068 §4: without this an ID token or an RFC 9701 introspection JWT could pass for an access token.
      typ: 'at+jwt',
      algorithms: ACCESS_TOKEN_ALGORITHMS,
      clockTolerance: options.clockTolerance,
      // RFC 9068 §2.2 requires them all.
      requiredClaims: ['iss', 'exp', 'aud', 'sub', 'client_id', 'iat', 'jti'],
    });
    return accessTokenClaims(payload as Record<string, unknown>);
  } catch (error) {
    throw refusal(error);
  }
}

function refusal(error: unknown): Error {
  if (error instanceof InvalidToken) return error;
  if (error instanceof errors.JWTExpired) return new InvalidToken('access token expired', { cause: error });
  if (error instanceof errors.JWTClaimValidationFailed) return new InvalidToken(claimProblem(error), { cause: error });
  if (error instanceof errors.JOSEAlgNotAllowed) return new InvalidToken('access token algorithm is not accepted', { cause: error });
  if (error instanceof errors.JWSSignatureVerificationFailed) return new InvalidToken('access token signature is invalid', { cause: error });
  if (error instanceof errors.JWKSNoMatchingKey) return new InvalidToken('no signing key of the authorization server matches the access token', { cause: error });
  if (error instanceof errors.JWTInvalid || error instanceof errors.JWSInvalid || error instanceof errors.JOSENotSupported || error instanceof errors.JWKInvalid) {
    return new InvalidToken('malformed access token', { cause: error });
  }
  // Anything else (timeouts, an unreachable or broken jwks_uri) is the authorization server's side.
  return new AuthorizationServerUnavailable('could not verify the access token with the authorization server\'s keys', { cause: error });
}

function claimProblem(error: InstanceType<typeof errors.JWTClaimValidationFailed>): string {
  switch (error.claim) {
    case 'aud': return 'access token is not for this resource';
    case 'iss': return 'access token is not from the expected authorization server';
    case 'typ': return 'not an RFC 9068 access token (typ must be at+jwt)';
    case 'nbf': return 'access token is not valid yet';
    default: return error.reason === 'missing' ? `access token has no ${error.claim} claim` : `access token ${error.claim} claim is invalid`;
  }
}
