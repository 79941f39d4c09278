// Typed refusals, one class per answer a resource server gives (RFC 6750 §3.1, RFC 9449 §7.1), so callers
// branch on the class rather than on message text, as with jose's errors. Each names its OAuth error code and
// the HTTP status that code calls for; `challenge()` turns one into the exact `WWW-Authenticate` response.

/** The two authorization schemes a resource server supporting DPoP speaks (RFC 6750, RFC 9449 §7). */
export type AuthScheme = 'Bearer' | 'DPoP';

/** The `error` values a resource server uses (RFC 6750 §3.1, RFC 9449 §7.1). */
export type ResourceErrorCode = 'invalid_request' | 'invalid_token' | 'insufficient_scope' | 'invalid_dpop_proof';

/** A request the resource server refuses; the client is expected to do something about it. */
export abstract class VerifierError extends Error {
  /** The OAuth error code of the `error` parameter; `undefined` when the request carried no credentials at all. */
  abstract readonly error: ResourceErrorCode | undefined;
  abstract readonly status: 400 | 401 | 403;
  /**
   * The scheme the client used, when it can be told. RFC 9449 §7.2: when the mechanism the client attempted is
   * unambiguous, that scheme's challenge carries the error information.
   */
  scheme: AuthScheme | undefined;

  constructor(description: string, options: { scheme?: AuthScheme; cause?: unknown } = {}) {
    super(description, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.scheme = options.scheme;
  }

  /** The `error_description` text (developer-facing, never shown to end users). */
  get description(): string {
    return this.message;
  }
}

/**
 * No access token in a scheme this resource accepts. RFC 6750 §3.1: a request that "lacks any authentication
 * information" gets a challenge without an error code, since there is nothing for the client to correct.
 */
export class MissingToken extends VerifierError {
  readonly error = undefined;
  readonly status = 401;
}

/** Malformed request: two Authorization headers, a token that is not token68, a body too large to digest. */
export class InvalidRequest extends VerifierError {
  readonly error = 'invalid_request';
  readonly status = 400;
}

/** The access token is expired, revoked, malformed, for another resource, or unacceptable here for another reason. */
export class InvalidToken extends VerifierError {
  readonly error = 'invalid_token';
  readonly status = 401;
}

/** The DPoP proof fails one of the checks of RFC 9449 §4.3 (or the MCP profile's `content_digest`). */
export class InvalidDpopProof extends VerifierError {
  readonly error = 'invalid_dpop_proof';
  readonly status = 401;
}

/**
 * A valid token without every scope the request needs. 403 with the scope parameter (RFC 6750 §3.1; MCP
 * authorization, "Scope challenge handling"), listing all scopes the operation needs so the client can step up once.
 */
export class InsufficientScope extends VerifierError {
  readonly error = 'insufficient_scope';
  readonly status = 403;
  readonly scopes: readonly string[];

  constructor(description: string, scopes: readonly string[], options: { scheme?: AuthScheme } = {}) {
    super(description, options);
    this.scopes = scopes;
  }
}

/**
 * Not the client's fault: the authorization server's metadata, keys or introspection endpoint could not be used.
 * Deliberately not a `VerifierError`, so it never becomes a 401 that would send clients to re-authorize in vain.
 */
export class AuthorizationServerUnavailable extends Error {
  constructor(description: string, options: { cause?: unknown } = {}) {
    super(description, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AuthorizationServerUnavailable';
  }
}

/**
 * Not the client's fault either: a DPoP proof carries `content_digest` but something before the verifier read
 * the request body and kept only its parse, so the bytes the digest covers are gone. A server configuration
 * problem (capture the raw bytes), reported as such instead of letting the request through unchecked.
 */
export class RequestBodyUnavailable extends Error {
  constructor(description: string) {
    super(description);
    this.name = 'RequestBodyUnavailable';
  }
}
