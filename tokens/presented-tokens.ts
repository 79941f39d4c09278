// Turns a token presented to the token endpoint as `subject_token` or `actor_token` (RFC 8693 §2.1) into what the
// exchange needs to know about it, or refuses it with a reason a client may read. Accepted: our own access
// tokens (opaque or JWT, active under every rule of ours), ID tokens we issued to the requesting client, and JWTs
// from the operator's trusted issuers; for a transaction token request also our own Txn-Tokens and, where the
// caller allows them, a workload's self_signed JWT or unsigned_json object (draft-ietf-oauth-transaction-tokens,
// "Subject Token Types"). Everything else is refused: RFC 8693 §2.2.2 makes any invalid or unacceptable subject
// or actor token an `invalid_request`.
import { createLocalJWKSet, decodeProtectedHeader, errors as joseErrors, jwtVerify, type JSONWebKeySet, type JWK, type JWTPayload } from 'jose';
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { AgentStore } from '../adapters/agent-store.ts';
import type { TokenLineage, TokenRef } from '../adapters/token-lineage.ts';
import { clockTolerance, maxPresentedTokenBytes, signingAlgorithms, transactionTokenDefaults } from '../config/defaults.ts';
import { looksLikeCompactJws, type OwnTokenVerifier } from '../keys/own-token-verifier.ts';
import { EXCHANGED_TOKEN_GTY, type TokenLiveness } from './token-liveness.ts';
import { MalformedActClaimError, parseActClaim, type ActClaim } from '../policy/act-chain.ts';
import { ID_JAG_TYP, mediaTypeOf, TOKEN_TYPE, TXN_TOKEN_TYP } from './token-types.ts';
import { peekIssuer, type TrustedIssuers } from './trusted-issuers.ts';
import { PresentedTokenError, type PresentedRole } from './presented-token-error.ts';

/** Where the token was presented: RFC 8693's two roles, or as the credential for one of our own APIs. */
export type { PresentedRole } from './presented-token-error.ts';

/** What RFC 8693 token exchange accepts when the caller names no other list. */
export const EXCHANGE_TOKEN_TYPES: readonly string[] = [TOKEN_TYPE.accessToken, TOKEN_TYPE.jwt, TOKEN_TYPE.idToken];

/** A Txn-Token we issued, presented to be replaced: the transaction it belongs to. */
export interface PresentedTransaction {
  txn: string;
  /** Its `req_wl`: the workload that requested it. */
  requestingWorkload: string;
  rctx: Record<string, unknown> | undefined;
  tctx: Record<string, unknown> | undefined;
}

/** A presented token we accepted. */
export interface PresentedToken {
  /** The principal the token is about (its `sub`). */
  subject: string;
  /** Who issued it: our issuer, or a trusted external one. */
  issuer: string;
  /** Whether the principal at the root of its chain is a person rather than a client or agent. */
  rootIsPerson: boolean;
  /** Its scopes; undefined when they cannot be determined (an external or self-asserted token without scope). */
  scopes: string[] | undefined;
  /** Seconds since the epoch; Infinity for an unsigned_json subject that states no `exp`. */
  expiresAt: number;
  act: ActClaim | undefined;
  mayAct: Record<string, unknown> | undefined;
  /** The client it was issued to. */
  clientId: string | undefined;
  /** RFC 9449 binding (`cnf.jkt`), when it is DPoP-bound. */
  jkt: string | undefined;
  /** For our stored tokens: the token itself and every token it descends from, oldest first. */
  lineage: TokenRef[];
  /** The resources one of our access tokens is for (its `aud`); undefined for tokens not bound to a resource. */
  audiences?: string[];
  /** For our stored tokens: the client the first token of its chain was issued to (itself, if not exchanged). */
  rootClientId?: string;
  /** The token was one of our own ID tokens. */
  isIdToken: boolean;
  /** Set when the token was one of our Txn-Tokens. */
  transaction?: PresentedTransaction;
}

interface StoredToken {
  kind: 'AccessToken' | 'ClientCredentials';
  jti: string;
  accountId?: string;
  clientId?: string;
  grantId?: string;
  gty?: string;
  scope?: string;
  exp?: number;
  aud?: string | string[];
  iat?: number;
  jkt?: string;
  extra?: Record<string, unknown>;
}

export interface PresentedTokenDependencies {
  ownTokens: OwnTokenVerifier;
  /** Where our JWT access tokens' records are (their `jti` alone finds nothing). */
  jwtRecords: { of(jti: string): string };
  trusted: TrustedIssuers;
  liveness: TokenLiveness;
  lineage: TokenLineage;
  /** The trust domain our Txn-Tokens are valid in (their `aud`). */
  trustDomain: string;
  /** Whether a token's subject is an agent (not a person) is what the registry holds, never an id's spelling. */
  agents: Pick<AgentStore, 'get'>;
}

/** A refusal of a token in `role`: its message is "<role> <problem>". */
type Refuse = (problem: string, code?: PresentedTokenError['code']) => PresentedTokenError;

function refusal(role: PresentedRole): Refuse {
  return (problem, code = 'ERR_UNACCEPTABLE_TOKEN') => new PresentedTokenError(code, `${role} ${problem}`, { role });
}

export class PresentedTokens {
  readonly #deps: PresentedTokenDependencies;

  constructor(deps: PresentedTokenDependencies) {
    this.#deps = deps;
  }

  /**
   * Accepts `value` of `type` in `role` for the authenticated client of `ctx`, or throws PresentedTokenError.
   * `acceptedTypes` are the token types the request may present.
   */
  async accept(ctx: KoaContextWithOIDC, value: string, type: string, role: PresentedRole, acceptedTypes = EXCHANGE_TOKEN_TYPES): Promise<PresentedToken> {
    const refuse = refusal(role);
    if (Buffer.byteLength(value) > maxPresentedTokenBytes) throw refuse(`is larger than ${maxPresentedTokenBytes} bytes`);
    // Never exchanged, whatever the request (and the Txn-Token draft forbids them outright).
    if (type === TOKEN_TYPE.refreshToken) throw refuse('may not be a refresh token: refresh tokens are never exchanged');
    if (!acceptedTypes.includes(type)) {
      throw refuse(`type "${type}" is not one this request accepts (${acceptedTypes.map((accepted) => accepted.split(':').pop()).join(', ')})`);
    }
    // An ID-JAG is a grant for one authorization server, redeemed there with the jwt-bearer grant (RFC 7523); the
    // draft's explicit `typ` exists so that nothing else accepts it (RFC 8725 §3.11), whoever signed it.
    if (isIdJag(value)) throw refuse(`is an ID-JAG (typ "${ID_JAG_TYP}"): it is redeemed with the jwt-bearer grant, never exchanged`);
    const clientId = ctx.oidc.client!.clientId;
    switch (type) {
      case TOKEN_TYPE.accessToken:
      case TOKEN_TYPE.jwt:
        return this.#accessTokenOrJwt(ctx, value, type, refuse);
      case TOKEN_TYPE.idToken:
        return this.#idToken(value, clientId, refuse);
      case TOKEN_TYPE.txnToken:
        return this.#transactionToken(value, refuse);
      case TOKEN_TYPE.selfSigned:
        return this.#selfSigned(ctx, value, refuse);
      case TOKEN_TYPE.unsignedJson:
        return this.#unsignedJson(value, clientId, refuse);
      default:
        throw refuse(`type "${type}" is not one this server accepts`);
    }
  }

  async #accessTokenOrJwt(ctx: KoaContextWithOIDC, value: string, type: string, refuse: Refuse): Promise<PresentedToken> {
    const structured = looksLikeCompactJws(value);
    if (structured) {
      const issuer = peekIssuer(value);
      if (issuer !== this.#deps.ownTokens.issuer) return this.#external(value, refuse);
      const jti = await this.#verifyOwn(value, { typ: 'at+jwt' }, refuse);
      return this.#stored(ctx.oidc.provider, this.#deps.jwtRecords.of(jti), refuse);
    }
    if (type === TOKEN_TYPE.jwt) throw refuse('is not a JWT');
    return this.#stored(ctx.oidc.provider, value, refuse);
  }

  /**
   * One of our own access tokens (opaque or JWT) presented to an API of ours (the permission check), alive under
   * the same rules as a subject token; throws PresentedTokenError (role `access_token`) otherwise.
   */
  async ownAccessToken(provider: Provider, value: string): Promise<PresentedToken> {
    const refuse = refusal('access_token');
    if (Buffer.byteLength(value) > maxPresentedTokenBytes) throw refuse(`is larger than ${maxPresentedTokenBytes} bytes`);
    if (!looksLikeCompactJws(value)) return this.#stored(provider, value, refuse);
    if (peekIssuer(value) !== this.#deps.ownTokens.issuer) throw refuse('was not issued by this server');
    const jti = await this.#verifyOwn(value, { typ: 'at+jwt' }, refuse);
    return this.#stored(provider, this.#deps.jwtRecords.of(jti), refuse);
  }

  async #verifyOwn(value: string, options: { typ?: string; audience?: string }, refuse: Refuse): Promise<string> {
    try {
      const payload = await this.#deps.ownTokens.verify(value, options);
      if (typeof payload.jti !== 'string') throw refuse('has no jti');
      return payload.jti;
    } catch (error) {
      throw error instanceof PresentedTokenError && error.role ? error : refuse(describeJoseError(error));
    }
  }

  /** One of our access tokens, by its stored id: it must exist and be alive under every rule of ours. */
  async #stored(provider: Provider, id: string, refuse: Refuse): Promise<PresentedToken> {
    const [accessToken, clientCredentials] = await Promise.all([provider.AccessToken.find(id), provider.ClientCredentials.find(id)]);
    const token = (accessToken ?? clientCredentials) as unknown as StoredToken | undefined;
    if (!token) throw refuse('is not active (unknown, expired or revoked)');
    // As introspection does (RFC 7662): a token whose grant was revoked or has expired is no longer active.
    if (token.grantId) {
      const grant = await provider.Grant.find(token.grantId, { ignoreExpiration: true });
      if (!grant || grant.isExpired || grant.clientId !== token.clientId || grant.accountId !== token.accountId) {
        throw refuse('is not active: its grant was revoked or has expired');
      }
    }
    const dead = await this.#deps.liveness.inactiveReason(token);
    if (dead) throw refuse(`is not active: ${dead}`);

    const ref: TokenRef = { kind: token.kind, id: token.jti };
    const inherited = token.gty === EXCHANGED_TOKEN_GTY ? await this.#deps.lineage.find(token.jti) : undefined;
    const subjectIsAgent = !inherited && token.kind === 'AccessToken' && !!token.accountId && (await this.#deps.agents.get(token.accountId)) !== undefined;
    return {
      subject: token.accountId ?? token.clientId!,
      issuer: this.#deps.ownTokens.issuer,
      // A token from a user's authorization has a person (the user) as its principal; one a client got for
      // itself (client_credentials) has the client.
      rootIsPerson: inherited ? inherited.rootIsPerson : token.kind === 'AccessToken' && !!token.accountId && !subjectIsAgent,
      scopes: token.scope ? token.scope.split(' ') : [],
      expiresAt: token.exp!,
      act: this.#act(token.extra?.act, refuse),
      mayAct: asObject(token.extra?.may_act),
      clientId: token.clientId,
      jkt: token.jkt,
      lineage: [...(inherited?.ancestors ?? []), ref],
      audiences: token.aud === undefined ? undefined : [token.aud].flat(),
      rootClientId: inherited ? inherited.rootClientId : token.clientId,
      isIdToken: false,
    };
  }

  /** An ID token we issued; as a subject or actor it must have been issued to the requesting client. */
  async #idToken(value: string, clientId: string, refuse: Refuse): Promise<PresentedToken> {
    if (!looksLikeCompactJws(value)) throw refuse('is not a JWT');
    let payload;
    try {
      payload = await this.#deps.ownTokens.verify(value, { audience: clientId });
    } catch (error) {
      throw refuse(describeJoseError(error));
    }
    if (typeof payload.sub !== 'string' || typeof payload.exp !== 'number') throw refuse('has no sub or exp');
    return {
      subject: payload.sub,
      issuer: this.#deps.ownTokens.issuer,
      rootIsPerson: true,
      // An ID token attests an authentication, not an authorization: it grants no API scope.
      scopes: ['openid'],
      expiresAt: payload.exp,
      act: undefined,
      mayAct: undefined,
      clientId,
      jkt: undefined,
      lineage: [],
      isIdToken: true,
    };
  }

  async #external(value: string, refuse: Refuse): Promise<PresentedToken> {
    try {
      const external = await this.#deps.trusted.verify(value);
      return {
        subject: external.subject,
        issuer: external.issuer,
        rootIsPerson: true,
        scopes: external.scopes,
        expiresAt: external.expiresAt,
        act: this.#act(external.act, refuse),
        mayAct: external.mayAct,
        clientId: external.clientId,
        jkt: external.jkt,
        lineage: [],
        isIdToken: false,
      };
    } catch (error) {
      // The issuer's verdict keeps its code; it becomes a refusal in this role.
      if (error instanceof PresentedTokenError) throw error.role ? error : refuse(`is refused: ${error.message}`, error.code);
      // Whatever else a foreign token makes the verifier throw (a weak issuer key, say) is still a bad token.
      throw refuse('could not be verified');
    }
  }

  /** One of our Txn-Tokens, to be replaced: signed by us for our trust domain, and not expired. */
  async #transactionToken(value: string, refuse: Refuse): Promise<PresentedToken> {
    if (!looksLikeCompactJws(value)) throw refuse('is not a JWT');
    let payload: JWTPayload;
    try {
      payload = await this.#deps.ownTokens.verify(value, { typ: TXN_TOKEN_TYP, audience: this.#deps.trustDomain });
    } catch (error) {
      throw refuse(describeJoseError(error));
    }
    const { txn, sub, scope, req_wl: requestingWorkload, exp } = payload;
    if (typeof txn !== 'string' || typeof sub !== 'string' || typeof scope !== 'string' || typeof requestingWorkload !== 'string' || typeof exp !== 'number') {
      throw refuse('is not a well-formed Txn-Token (txn, sub, scope, req_wl and exp are required)');
    }
    const rctx = payload.rctx === undefined ? undefined : asObject(payload.rctx);
    const tctx = payload.tctx === undefined ? undefined : asObject(payload.tctx);
    if ((payload.rctx !== undefined && !rctx) || (payload.tctx !== undefined && !tctx)) throw refuse('is not a well-formed Txn-Token (rctx and tctx are JSON objects)');
    return {
      subject: sub,
      issuer: this.#deps.ownTokens.issuer,
      rootIsPerson: false,
      scopes: scope.split(' ').filter(Boolean),
      expiresAt: exp,
      act: this.#act(payload.act, refuse),
      mayAct: undefined,
      clientId: requestingWorkload,
      jkt: undefined,
      lineage: [],
      isIdToken: false,
      transaction: { txn, requestingWorkload, rctx, tctx },
    };
  }

  /**
   * A JWT the requesting workload signed with one of its registered keys: `iss` is the workload, `aud` names us
   * (our issuer or our trust domain), and `sub`, `iat` and `exp` are required ("Self-Signed Subject Token Type").
   */
  async #selfSigned(ctx: KoaContextWithOIDC, value: string, refuse: Refuse): Promise<PresentedToken> {
    if (!looksLikeCompactJws(value)) throw refuse('is not a signed JWT');
    const client = ctx.oidc.client!;
    let keys: JWK[];
    try {
      keys = await clientPublicKeys(client);
    } catch {
      throw refuse('could not be verified: the workload\'s keys could not be loaded');
    }
    if (!keys.length) throw refuse('cannot be verified: the workload has no registered public keys (jwks or jwks_uri)');
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(value, createLocalJWKSet({ keys } as JSONWebKeySet), {
        issuer: client.clientId,
        audience: [this.#deps.ownTokens.issuer, this.#deps.trustDomain],
        algorithms: [...signingAlgorithms],
        clockTolerance,
        // The draft lets the TTS refuse a self-signed token whose `iat` is unreasonably far in the past.
        maxTokenAge: transactionTokenDefaults.selfSignedMaxAge,
        requiredClaims: ['sub', 'iat', 'exp'],
      }));
    } catch (error) {
      throw refuse(describeJoseError(error, 'the workload\'s registered keys'));
    }
    if (typeof payload.sub !== 'string' || !payload.sub) throw refuse('has a "sub" claim that is not a non-empty string');
    return selfAsserted(payload.sub, scopesOf(payload.scope, refuse), payload.exp!, client.clientId);
  }

  /** A JSON object the workload asserts without signing it; it must name a `sub` ("Unsigned JSON Object Subject Token Type"). */
  #unsignedJson(value: string, clientId: string, refuse: Refuse): PresentedToken {
    let parsed: unknown;
    try {
      parsed = JSON.parse(value);
    } catch {
      throw refuse('is not valid JSON');
    }
    const object = asObject(parsed);
    if (!object) throw refuse('is not a JSON object');
    if (typeof object.sub !== 'string' || !object.sub) throw refuse('has no "sub" member (a non-empty string)');
    const { exp } = object;
    if (exp !== undefined && typeof exp !== 'number') throw refuse('has an "exp" member that is not a number');
    if (exp !== undefined && exp + clockTolerance <= Math.floor(Date.now() / 1000)) throw refuse('has expired');
    return selfAsserted(object.sub, scopesOf(object.scope, refuse), exp ?? Infinity, clientId);
  }

  #act(value: unknown, refuse: Refuse): ActClaim | undefined {
    try {
      return parseActClaim(value);
    } catch (error) {
      if (error instanceof MalformedActClaimError) throw refuse(`is refused: ${error.message}`);
      throw error;
    }
  }
}

/** A subject the requesting workload asserts itself (self_signed, unsigned_json). */
function selfAsserted(subject: string, scopes: string[] | undefined, expiresAt: number, clientId: string): PresentedToken {
  return {
    subject,
    issuer: clientId,
    rootIsPerson: false,
    scopes,
    expiresAt,
    act: undefined,
    mayAct: undefined,
    clientId,
    jkt: undefined,
    lineage: [],
    isIdToken: false,
  };
}

/** A self-asserted `scope` (RFC 8693 §4.2, space-delimited); undefined when absent, which leaves the scope unknown. */
function scopesOf(value: unknown, refuse: Refuse): string[] | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw refuse('has a "scope" that is not a space-delimited string');
  return value.split(' ').filter(Boolean);
}

/** The requesting client's public keys, from its `jwks` or (refreshed when stale) its `jwks_uri`. */
async function clientPublicKeys(client: object): Promise<JWK[]> {
  const store = (client as { asymmetricKeyStore: { refresh(): Promise<void> } & Iterable<JWK> }).asymmetricKeyStore;
  await store.refresh();
  return [...store];
}

function asObject(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

/** A client-safe description of why a JWT (one of ours, unless `keys` says whose) did not verify. */
function describeJoseError(error: unknown, keys = 'our keys'): string {
  if (error instanceof joseErrors.JWTExpired) {
    // jose reports a token older than maxTokenAge as expired, on `iat`.
    return error.claim === 'iat' ? `was issued more than ${transactionTokenDefaults.selfSignedMaxAge} seconds ago` : 'has expired';
  }
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return 'is signed with an algorithm this server does not accept (never none or HS*)';
  if (error instanceof joseErrors.JWSSignatureVerificationFailed || error instanceof joseErrors.JWKSNoMatchingKey) return `has a signature that does not verify with ${keys}`;
  if (error instanceof joseErrors.JWKSMultipleMatchingKeys) return `names no key id (kid) and several of ${keys} could have signed it`;
  if (error instanceof joseErrors.JWTClaimValidationFailed) return `has an unacceptable "${error.claim}" claim (${error.reason})`;
  if (error instanceof joseErrors.JOSEError) return 'is not a well-formed signed JWT';
  throw error;
}

function isIdJag(value: string): boolean {
  if (!looksLikeCompactJws(value)) return false;
  try {
    const { typ } = decodeProtectedHeader(value);
    return typeof typ === 'string' && mediaTypeOf(typ) === ID_JAG_TYP;
  } catch {
    return false;
  }
}
