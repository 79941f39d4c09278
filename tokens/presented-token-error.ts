// The one refusal every presented-token check raises: a subject or actor token at token exchange, an access token
// at the permission check, an external issuer's JWT, an ID-JAG at the jwt-bearer grant. Each grant maps it to its
// own answer (RFC 8693 §2.2.2 invalid_request, RFC 7523 §3.1 invalid_grant), and the message is always safe to
// show the client: it says why, never quotes the token.

/** The request parameter a token came in. */
export type PresentedRole = 'subject_token' | 'actor_token' | 'access_token';

export type PresentedTokenErrorCode =
  | 'ERR_TOKEN_TOO_LARGE'
  | 'ERR_TOKEN_MALFORMED'
  | 'ERR_UNTRUSTED_ISSUER'
  | 'ERR_ALGORITHM_NOT_ALLOWED'
  | 'ERR_JWKS_UNAVAILABLE'
  | 'ERR_SIGNATURE_INVALID'
  | 'ERR_TOKEN_EXPIRED'
  | 'ERR_TOKEN_NOT_YET_VALID'
  | 'ERR_WRONG_AUDIENCE'
  /** A required claim (`exp`, `iat` under a maximum age) is missing, or a claim we read has the wrong shape. */
  | 'ERR_CLAIM_INVALID'
  | 'ERR_NO_SUBJECT'
  /** Refused by our own rules for the role it was presented in (revoked, not for this client, a refresh token…). */
  | 'ERR_UNACCEPTABLE_TOKEN'
  /** An ID-JAG that is not acceptable as this grant's assertion (typ, claims, the IdP's rights for this client). */
  | 'ERR_INVALID_ASSERTION'
  /** An ID-JAG whose subject maps to no local user under the IdP's linking rule. */
  | 'ERR_UNKNOWN_USER';

export class PresentedTokenError extends Error {
  readonly code: PresentedTokenErrorCode;
  /** Set once the token is known to be refused in a role; the message then starts with the role's name. */
  readonly role: PresentedRole | undefined;

  constructor(code: PresentedTokenErrorCode, message: string, options: ErrorOptions & { role?: PresentedRole } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PresentedTokenError';
    this.code = code;
    this.role = options.role;
  }
}
