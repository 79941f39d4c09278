// Pure rules about client metadata, kept apart from HTTP so they are unit-tested on their own.

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);

/** RFC 8252 §7.3 / OAuth 2.1 §8.4.2: loopback redirects are plain http on a loopback host, any port. */
export function isLoopbackUrl(url: URL): boolean {
  return url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname);
}

function isAcceptableAnonymousRedirect(value: string): boolean {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  return url.protocol === 'https:' || isLoopbackUrl(url);
}

/** Registration metadata as the client sent it: nothing about its types is known until checked. */
interface RegistrationMetadata {
  token_endpoint_auth_method?: unknown;
  grant_types?: unknown;
  response_types?: unknown;
  redirect_uris?: unknown;
}

/** The member as a list of strings, or why it is not one (RFC 7591 §2: these members are arrays of strings). */
function stringList(metadata: RegistrationMetadata, member: 'grant_types' | 'redirect_uris'): string[] | string {
  const value = metadata[member];
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) return `${member} must be an array of strings`;
  return value;
}

/**
 * Anonymous dynamic registration (RFC 7591 without an initial access token) is open only to what MCP clients
 * need: public clients using authorization code (+ refresh token) with https or loopback redirect URIs.
 * Anything that would hold a credential or use another grant needs the operator's initial access token.
 * Returns why the metadata is refused, or undefined when it is acceptable.
 */
export function anonymousRegistrationProblem(metadata: RegistrationMetadata): string | undefined {
  if (metadata.token_endpoint_auth_method !== 'none') {
    return 'anonymous registration is limited to public clients (token_endpoint_auth_method "none"); confidential clients need an initial access token';
  }
  const grants = stringList(metadata, 'grant_types');
  if (typeof grants === 'string') return grants;
  const redirects = stringList(metadata, 'redirect_uris');
  if (typeof redirects === 'string') return redirects;
  const extraGrant = grants.find((g) => g !== 'authorization_code' && g !== 'refresh_token');
  if (extraGrant) {
    return `anonymous registration allows only the authorization_code and refresh_token grants, not "${extraGrant}"`;
  }
  const badRedirect = redirects.find((uri) => !isAcceptableAnonymousRedirect(uri));
  if (badRedirect) {
    return `redirect URI "${badRedirect}" must use https or be a loopback http URL for anonymous registration`;
  }
  return undefined;
}

/**
 * A client identified by a metadata document registered itself, like an anonymous registration: it gets the
 * same grants (authorization code and refresh token) and redirect URI rules. It may authenticate with keys
 * (private_key_jwt), never with a shared secret (oidc-provider refuses those already).
 */
export function metadataDocumentClientProblem(metadata: RegistrationMetadata): string | undefined {
  const problem = anonymousRegistrationProblem({ ...metadata, token_endpoint_auth_method: 'none' });
  return problem?.replace('anonymous registration', 'a client metadata document');
}

/** An origin is scheme://host[:port] with nothing after it (the form browsers send in the Origin header). */
export function isOrigin(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  try {
    return new URL(value).origin === value;
  } catch {
    return false;
  }
}

/**
 * CORS for browser-based clients: an origin listed in the client's `allowed_cors_origins`, or, for a public
 * client, the origin of one of its redirect URIs (where a single-page app necessarily runs).
 */
export function corsOriginAllowed(origin: string, client: { allowedCorsOrigins?: string[]; redirectUris?: string[]; isPublic: boolean }): boolean {
  if (client.allowedCorsOrigins?.includes(origin)) return true;
  if (!client.isPublic) return false;
  return (client.redirectUris ?? []).some((uri) => {
    try {
      return new URL(uri).origin === origin;
    } catch {
      return false;
    }
  });
}

/**
 * RFC 9700 §2.6: authorization responses never cross the network unencrypted, so no client, the operator's
 * included, may register a plain-http redirect URI other than a loopback one (RFC 8252 §7.3).
 * Returns why the URIs are refused, or undefined.
 */
export function plainHttpRedirectProblem(redirectUris: unknown): string | undefined {
  if (!Array.isArray(redirectUris)) return undefined;
  const plain = redirectUris.find((uri) => typeof uri === 'string' && URL.parse(uri)?.protocol === 'http:' && !isLoopbackUrl(new URL(uri)));
  return plain === undefined ? undefined : `redirect URI "${plain}" uses plain http: only loopback redirect URIs may (RFC 9700 §2.6, RFC 8252 §7.3)`;
}
