// Opaque access tokens, asked about at the authorization server's RFC 7662 introspection endpoint with
// client_secret_basic, and the answers kept briefly: an active token for at most `cacheSeconds` (and never past
// its `exp`), so revocation reaches this resource within that time; an inactive one for a few seconds, so a
// client retrying a dead token does not turn into a stream of introspection calls.
import { createHash } from 'node:crypto';
import { accessTokenClaims, type AccessTokenClaims } from './access-token-claims.ts';
import { AuthorizationServerUnavailable, InvalidToken } from './errors.ts';
import { ExpiringMap } from './expiring-map.ts';

export interface IntrospectionOptions {
  /** Default: `introspection_endpoint` from the authorization server's metadata. */
  endpoint?: string;
  /** This resource server's client credentials at the authorization server (RFC 7662 §2.1 requires them). */
  clientId: string;
  clientSecret: string;
  /** Longest time an active answer is reused (default 30 s). */
  cacheSeconds?: number;
  /** Time an inactive answer is reused (default 5 s). */
  negativeCacheSeconds?: number;
  /** Answers kept at once (default 10 000; the oldest goes first). */
  maxCacheEntries?: number;
}

export interface IntrospectionCheck {
  issuer: string;
  resource: string;
  clockTolerance: number;
}

export class Introspector {
  readonly #endpoint: () => Promise<string>;
  readonly #authorization: string;
  readonly #cacheSeconds: number;
  readonly #negativeCacheSeconds: number;
  readonly #timeoutMs: number;
  readonly #answers: ExpiringMap<Record<string, unknown>>;

  constructor(endpoint: () => Promise<string>, options: IntrospectionOptions, timeoutMs: number) {
    this.#endpoint = endpoint;
    // RFC 6749 §2.3.1: client_secret_basic form-encodes id and secret before base64.
    this.#authorization = `Basic ${Buffer.from(`${formEncode(options.clientId)}:${formEncode(options.clientSecret)}`).toString('base64')}`;
    this.#cacheSeconds = options.cacheSeconds ?? 30;
    this.#negativeCacheSeconds = options.negativeCacheSeconds ?? 5;
    this.#timeoutMs = timeoutMs;
    this.#answers = new ExpiringMap({ maxEntries: options.maxCacheEntries ?? 10_000, whenFull: 'evict-oldest' });
  }

  /** The claims of an active token meant for this resource; `InvalidToken` otherwise. */
  async claims(token: string, check: IntrospectionCheck): Promise<AccessTokenClaims> {
    return activeClaims(await this.#answer(token), check);
  }

  async #answer(token: string): Promise<Record<string, unknown>> {
    // Keyed by a hash, so the cache never holds usable tokens.
    const key = createHash('sha256').update(token).digest('base64url');
    const cached = this.#answers.get(key);
    if (cached) return cached;
    const answer = await this.#introspect(token);
    const now = Date.now() / 1000;
    const seconds = answer.active === true
      ? Math.min(this.#cacheSeconds, typeof answer.exp === 'number' ? answer.exp - now : 0)
      : this.#negativeCacheSeconds;
    if (seconds > 0) this.#answers.set(key, answer, seconds * 1000);
    return answer;
  }

  async #introspect(token: string): Promise<Record<string, unknown>> {
    const endpoint = await this.#endpoint();
    let answer: unknown;
    try {
      const response = await fetch(endpoint, {
        method: 'POST',
        headers: { authorization: this.#authorization, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: new URLSearchParams({ token, token_type_hint: 'access_token' }),
        redirect: 'error',
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
      // A 401 here means our own credentials are wrong: the operator's problem, not the client's token.
      if (response.status !== 200) throw new Error(`HTTP ${response.status}`);
      answer = await response.json();
    } catch (cause) {
      throw new AuthorizationServerUnavailable(`token introspection at ${endpoint} failed`, { cause });
    }
    if (typeof answer !== 'object' || answer === null || typeof (answer as { active?: unknown }).active !== 'boolean') {
      throw new AuthorizationServerUnavailable(`token introspection at ${endpoint} answered without a boolean "active"`);
    }
    return answer as Record<string, unknown>;
  }
}

/**
 * What a JWT's signature and claim checks establish, established from an introspection answer instead: active
 * (RFC 7662 §2.2), from our issuer, for this resource (MCP: tokens must name the server as audience), not expired.
 */
function activeClaims(answer: Record<string, unknown>, check: IntrospectionCheck): AccessTokenClaims {
  // RFC 7662 §2.2 says nothing more about an inactive token, and neither do we.
  if (answer.active !== true) throw new InvalidToken('access token is not active');
  if (answer.iss !== undefined && answer.iss !== check.issuer) throw new InvalidToken('access token is not from the expected authorization server');
  const claims = accessTokenClaims(answer);
  if (!claims.aud.includes(check.resource)) throw new InvalidToken('access token is not for this resource');
  const now = Date.now() / 1000;
  if (claims.exp <= now - check.clockTolerance) throw new InvalidToken('access token expired');
  if (typeof answer.nbf === 'number' && answer.nbf > now + check.clockTolerance) throw new InvalidToken('access token is not valid yet');
  return claims;
}

function formEncode(value: string): string {
  return new URLSearchParams({ v: value }).toString().slice(2);
}
