// createVerifier: what a resource server (an MCP server, typically) needs to accept or refuse a request's access
// token, and to refuse it in the words the client understands. Token validation (RFC 9068 / RFC 7662),
// audience (RFC 8707), sender constraint (RFC 9449), delegation policy (RFC 8693) and scope, in that order.
import { createHash } from 'node:crypto';
import { createRemoteJWKSet, decodeProtectedHeader, type JWTVerifyGetKey } from 'jose';
import type { AccessTokenClaims, ActorClaim } from './access-token-claims.ts';
import { authorizationServerMetadata } from './authorization-server-metadata.ts';
import { buildChallenge, type Challenge } from './challenge.ts';
import { checkDelegation, type DelegationPolicy } from './delegation-policy.ts';
import { verifyDpopProof, type BodySource } from './dpop-proof.ts';
import { AuthorizationServerUnavailable, InsufficientScope, InvalidToken, MissingToken, VerifierError, type AuthScheme } from './errors.ts';
import { Introspector, type IntrospectionOptions } from './introspection.ts';
import { verifyJwtAccessToken } from './jwt-access-token.ts';
import { presentedToken, type PresentedToken } from './presented-token.ts';
import { boundActions, checkActionRequest, type ActionRequest, type AgentActionDetail } from './action-binding.ts';
import { MemoryReplayStore, type ReplayStore } from './replay-store.ts';
import type { HeaderSource } from './request-headers.ts';

export interface VerifierOptions {
  /** The authorization server's issuer identifier; tokens must come from it (`iss`). */
  issuer: string;
  /** This resource server's RFC 8707 identifier, e.g. `https://mcp.example.com/mcp`; tokens must have it in `aud`. */
  resource: string;
  /** Its RFC 9728 metadata URL, advertised in every challenge (`resource_metadata`). */
  resourceMetadataUrl: string;
  /** Default: `jwks_uri` from the authorization server's RFC 8414 metadata. */
  jwksUri?: string;
  /** Accept opaque tokens by introspecting them (RFC 7662). Without this, only JWT access tokens are accepted. */
  introspection?: IntrospectionOptions;
  dpop?: {
    /** Refuse Bearer tokens: every token must be DPoP-bound (RFC 9728 `dpop_bound_access_tokens_required`). */
    required?: boolean;
    /** Proof algorithms accepted and advertised in `algs` (default ES256, EdDSA, Ed25519, PS256, RS256). */
    algorithms?: string[];
    /** How far a proof's `iat` may be from now, in seconds (default 300: the MCP DPoP profile's ±5 minutes). */
    iatWindowSeconds?: number;
    /** Where proof `jti`s are remembered (default: in this process's memory; use `RedisReplayStore` for several). */
    replayStore?: ReplayStore;
    /** Refuse proofs without the MCP profile's `content_digest` (default false: checked when present). */
    requireContentDigest?: boolean;
  };
  delegation?: DelegationPolicy;
  /** Action-bound tokens (`verifyAction`): where used tokens' `jti`s are remembered until the token expires. */
  singleUse?: {
    /** Default: this process's memory; use a `RedisReplayStore` (own prefix) when several instances serve the action. */
    replayStore?: ReplayStore;
  };
  /** Seconds of clock skew allowed on token `exp`/`nbf` (default 5). */
  clockTolerance?: number;
  /** Timeout of each call to the authorization server, in milliseconds (default 5000). */
  timeoutMs?: number;
}

/** The request as the client sent it. */
export interface VerifierRequest {
  method: string;
  /** Absolute, as the client addressed it (the DPoP `htu` is compared with it). */
  url: string | URL;
  /** A fetch `Headers`, or Node's `req.headersDistinct` (which, unlike `req.headers`, keeps duplicate fields). */
  headers: HeaderSource;
  /** Needed only for DPoP proofs with `content_digest`; pass a function to read it only then. */
  body?: BodySource;
}

/** What the request needs beyond a valid token. */
export interface Needs {
  /** Every scope the operation needs; all are named in a refusal so the client can step up at once (MCP). */
  scopes?: readonly string[];
}

/**
 * A verified access token. A superset of the MCP TypeScript SDK's `AuthInfo` (token, clientId, scopes, expiresAt,
 * resource, resourceMetadataUrl, extra), so it can be handed to the SDK's transports as `req.auth` unchanged.
 */
export interface VerifiedAccess {
  token: string;
  /** The scheme it came with: `DPoP` means a proof of its bound key was checked. */
  scheme: AuthScheme;
  clientId: string;
  scopes: string[];
  /** Seconds since the epoch. */
  expiresAt: number;
  resource: URL;
  resourceMetadataUrl: string;
  claims: AccessTokenClaims;
  /** Thumbprint of the key the token is bound to, when it is. */
  dpopJkt?: string;
  /** For MCP request handlers, which see only `AuthInfo`: the subject, the act chain and the full claims. */
  extra: { sub: string; act?: ActorClaim; dpopJkt?: string; claims: AccessTokenClaims };
}

export interface Verifier {
  readonly resource: string;
  readonly resourceMetadataUrl: string;
  /** Resolves to the verified access, or rejects with a `VerifierError` (or `AuthorizationServerUnavailable`). */
  verify(request: VerifierRequest, needs?: Needs): Promise<VerifiedAccess>;
  /**
   * For hooks that hand over only a token, like the MCP SDK's `OAuthTokenVerifier`: as `verify` of a request with
   * `Authorization: Bearer <token>`. DPoP-bound tokens are refused, since no proof can be checked (RFC 9449 §7.2).
   */
  verifyToken(token: string, needs?: Needs): Promise<VerifiedAccess>;
  /**
   * For an operation that needs a person's approval: as `verify`, and the token must be DPoP-bound and carry an
   * approved `agent_action` whose `request` is exactly this one (method, URL, `body_digest` over `action.body`),
   * and it is accepted once: its `jti` is remembered until it expires, so a second use is `InvalidToken`.
   * A token that does not authorize this request is `InsufficientScope` (403) and is not spent.
   */
  verifyAction(request: VerifierRequest, action: ActionRequest, needs?: Needs): Promise<VerifiedAccess & { approvedAction: AgentActionDetail }>;
  /** The HTTP answer to a refusal: status, `WWW-Authenticate` and body. */
  challenge(error: VerifierError, needs?: Needs): Challenge;
}

const DPOP_ALGORITHMS = ['ES256', 'EdDSA', 'Ed25519', 'PS256', 'RS256'];
// Bearer and DPoP tokens are a few hundred bytes to a few kilobytes; refuse to parse megabytes.
const MAX_TOKEN_LENGTH = 16 * 1024;

export function createVerifier(options: VerifierOptions): Verifier {
  const { issuer, resource, resourceMetadataUrl } = options;
  const clockTolerance = options.clockTolerance ?? 5;
  const timeoutMs = options.timeoutMs ?? 5_000;
  const dpop = {
    required: options.dpop?.required ?? false,
    algorithms: options.dpop?.algorithms ?? DPOP_ALGORITHMS,
    iatWindowSeconds: options.dpop?.iatWindowSeconds ?? 300,
    replayStore: options.dpop?.replayStore ?? new MemoryReplayStore(),
    requireContentDigest: options.dpop?.requireContentDigest ?? false,
  };
  const usedTokens = options.singleUse?.replayStore ?? new MemoryReplayStore();
  const metadata = authorizationServerMetadata(issuer, timeoutMs);
  const discovered = async (member: 'jwks_uri' | 'introspection_endpoint') => {
    const value = (await metadata())[member];
    if (typeof value !== 'string') throw new AuthorizationServerUnavailable(`the authorization server's metadata has no ${member}`);
    return value;
  };

  let keys: Promise<JWTVerifyGetKey> | undefined;
  const signingKeys = () => {
    keys ??= (options.jwksUri ? Promise.resolve(options.jwksUri) : discovered('jwks_uri'))
      .then((uri) => createRemoteJWKSet(new URL(uri), { timeoutDuration: timeoutMs }))
      .catch((error: unknown) => {
        keys = undefined;
        throw error;
      });
    return keys;
  };
  const introspector = options.introspection && new Introspector(
    async () => options.introspection!.endpoint ?? discovered('introspection_endpoint'),
    options.introspection,
    timeoutMs,
  );

  async function tokenClaims(token: string): Promise<AccessTokenClaims> {
    if (token.length > MAX_TOKEN_LENGTH) throw new InvalidToken('access token is too large');
    if (isJwt(token)) return verifyJwtAccessToken(token, { issuer, resource, keys: await signingKeys(), clockTolerance });
    if (!introspector) throw new InvalidToken('opaque access tokens are not accepted here');
    return introspector.claims(token, { issuer, resource, clockTolerance });
  }

  async function check(presented: PresentedToken | undefined, request: VerifierRequest | undefined, needs: Needs): Promise<VerifiedAccess> {
    if (!presented) throw new MissingToken('no access token');
    try {
      if (presented.scheme === 'Bearer' && dpop.required) throw new InvalidToken('this resource accepts only DPoP-bound access tokens');
      const claims = await tokenClaims(presented.token);
      const boundJkt = claims.cnf?.jkt;
      if (presented.scheme === 'Bearer' && boundJkt) {
        // RFC 9449 §7.2: accepting it would let a stolen bound token be used without its key.
        throw new InvalidToken('DPoP-bound access token presented with the Bearer scheme');
      }
      if (presented.scheme === 'DPoP') {
        if (!boundJkt) throw new InvalidToken('access token is not DPoP-bound; present it with the Bearer scheme');
        // Only `verify` passes the DPoP scheme, always with its request (`verifyToken` presents Bearer).
        await verifyDpopProof(request!, presented.token, boundJkt, dpop);
      }
      if (options.delegation) checkDelegation(claims, options.delegation);
      const needed = needs.scopes ?? [];
      if (!needed.every((scope) => claims.scope.includes(scope))) {
        throw new InsufficientScope('access token lacks a scope this request needs', needed);
      }
      return {
        token: presented.token,
        scheme: presented.scheme,
        clientId: claims.client_id,
        scopes: claims.scope,
        expiresAt: claims.exp,
        resource: new URL(resource),
        resourceMetadataUrl,
        claims,
        ...(boundJkt ? { dpopJkt: boundJkt } : {}),
        extra: { sub: claims.sub, ...(claims.act ? { act: claims.act } : {}), ...(boundJkt ? { dpopJkt: boundJkt } : {}), claims },
      };
    } catch (error) {
      if (error instanceof VerifierError) error.scheme ??= presented.scheme;
      throw error;
    }
  }

  return {
    resource,
    resourceMetadataUrl,
    async verify(request, needs = {}) {
      return check(presentedToken(request.headers), request, needs);
    },
    async verifyToken(token, needs = {}) {
      return check({ scheme: 'Bearer', token }, undefined, needs);
    },
    async verifyAction(request, action, needs = {}) {
      const presented = presentedToken(request.headers);
      const access = await check(presented, request, needs);
      try {
        // RFC 9449 §7.1: only a proof of the bound key shows the presenter holds it; a single-use token that a
        // bearer could spend would be spent by whoever saw it first.
        if (access.scheme !== 'DPoP') throw new InvalidToken('an action-bound token must be DPoP-bound and presented with the DPoP scheme');
        const approvedAction = checkActionRequest(boundActions(access.claims), request, action);
        const { jti, iss, exp } = access.claims;
        if (!jti) throw new InvalidToken('an action-bound token must have a jti to be used once');
        // Last, so a token refused for any other reason stays usable for the request it was approved for.
        const key = `${createHash('sha256').update(`${iss ?? issuer} ${jti}`).digest('base64url')}`;
        const ttl = exp - Math.floor(Date.now() / 1000) + clockTolerance + 1;
        if (!(await usedTokens.checkAndStore(key, Math.max(1, ttl)))) throw new InvalidToken('this action-bound access token has already been used');
        return { ...access, approvedAction };
      } catch (error) {
        if (error instanceof VerifierError) error.scheme ??= access.scheme;
        throw error;
      }
    },
    challenge(error, needs) {
      const scopes = needs?.scopes ?? (error instanceof InsufficientScope ? error.scopes : []);
      return buildChallenge(error, scopes, { resourceMetadataUrl, dpopAlgorithms: dpop.algorithms, bearer: !dpop.required });
    },
  };
}

/** A compact JWS whose header parses; anything else is treated as an opaque token. */
function isJwt(token: string): boolean {
  if (token.split('.').length !== 3) return false;
  try {
    decodeProtectedHeader(token);
    return true;
  } catch {
    return false;
  }
}
