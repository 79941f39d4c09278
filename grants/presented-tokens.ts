// Turns a token presented to the token endpoint as `subject_token` or `actor_token` (RFC 8693 §2.1) into what the
// exchange needs to know about it, or refuses it with a reason a client may read. Accepted: our own access
// tokens (opaque or JWT, active under every rule of ours), ID tokens we issued to the requesting client, and JWTs
// from the operator's trusted issuers. Everything else is refused: RFC 8693 §2.2.2 makes any invalid or
// unacceptable subject or actor token an `invalid_request`.
import { decodeProtectedHeader, errors as joseErrors } from 'jose';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { isAgentId } from '../adapters/agent-store.ts';
import type { TokenLineage, TokenRef } from '../adapters/token-lineage.ts';
import { maxPresentedTokenBytes } from '../config/defaults.ts';
import type { OwnTokenVerifier } from '../keys/own-token-verifier.ts';
import { EXCHANGED_TOKEN_GTY, type TokenLiveness } from './token-liveness.ts';
import { MalformedActClaimError, parseActClaim, type ActClaim } from './act-chain.ts';
import { TOKEN_TYPE } from './token-types.ts';
import { SubjectTokenError, peekIssuer, type TrustedIssuers } from './trusted-issuers.ts';

export type PresentedRole = 'subject_token' | 'actor_token';

/** A presented token we accepted. */
export interface PresentedToken {
  /** The principal the token is about (its `sub`). */
  subject: string;
  /** Who issued it: our issuer, or a trusted external one. */
  issuer: string;
  /** Whether the principal at the root of its chain is a person rather than a client or agent. */
  rootIsPerson: boolean;
  /** Its scopes; undefined when it states none (an ID token, an external token without scope). */
  scopes: string[] | undefined;
  /** Seconds since the epoch. */
  expiresAt: number;
  act: ActClaim | undefined;
  mayAct: Record<string, unknown> | undefined;
  /** The client it was issued to. */
  clientId: string | undefined;
  /** RFC 9449 binding (`cnf.jkt`), when it is DPoP-bound. */
  jkt: string | undefined;
  /** For our stored tokens: the token itself and every token it descends from, oldest first. */
  lineage: TokenRef[];
  /** The token was one of our own ID tokens. */
  isIdToken: boolean;
}

/** A presented token we refuse; the message is safe to show the client. */
export class UnacceptableTokenError extends Error {
  readonly code = 'ERR_UNACCEPTABLE_TOKEN';
  readonly role: PresentedRole;

  constructor(role: PresentedRole, problem: string) {
    super(`${role} ${problem}`);
    this.name = 'UnacceptableTokenError';
    this.role = role;
  }
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
  iat?: number;
  jkt?: string;
  extra?: Record<string, unknown>;
}

export interface PresentedTokenDependencies {
  ownTokens: OwnTokenVerifier;
  trusted: TrustedIssuers;
  liveness: TokenLiveness;
  lineage: TokenLineage;
}

export class PresentedTokens {
  readonly #deps: PresentedTokenDependencies;

  constructor(deps: PresentedTokenDependencies) {
    this.#deps = deps;
  }

  /** Accepts `value` of `type` in `role` for the authenticated client of `ctx`, or throws UnacceptableTokenError. */
  async accept(ctx: KoaContextWithOIDC, value: string, type: string, role: PresentedRole): Promise<PresentedToken> {
    const refuse = (problem: string) => new UnacceptableTokenError(role, problem);
    if (Buffer.byteLength(value) > maxPresentedTokenBytes) throw refuse(`is larger than ${maxPresentedTokenBytes} bytes`);
    const clientId = ctx.oidc.client!.clientId;
    switch (type) {
      case TOKEN_TYPE.refreshToken:
        throw refuse('may not be a refresh token: refresh tokens are never exchanged');
      case TOKEN_TYPE.accessToken:
      case TOKEN_TYPE.jwt:
        return this.#accessTokenOrJwt(ctx, value, type, refuse);
      case TOKEN_TYPE.idToken:
        return this.#idToken(value, clientId, refuse);
      default:
        throw refuse(`type "${type}" is not one this server accepts (access_token, jwt or id_token)`);
    }
  }

  async #accessTokenOrJwt(ctx: KoaContextWithOIDC, value: string, type: string, refuse: (problem: string) => UnacceptableTokenError): Promise<PresentedToken> {
    const structured = looksLikeJws(value);
    if (structured) {
      const issuer = peekIssuer(value);
      if (issuer !== this.#deps.ownTokens.issuer) return this.#external(value, refuse);
      const jti = await this.#verifyOwn(value, { typ: 'at+jwt' }, refuse);
      return this.#stored(ctx, jti, refuse);
    }
    if (type === TOKEN_TYPE.jwt) throw refuse('is not a JWT');
    return this.#stored(ctx, value, refuse);
  }

  async #verifyOwn(value: string, options: { typ?: string; audience?: string }, refuse: (problem: string) => UnacceptableTokenError): Promise<string> {
    try {
      const payload = await this.#deps.ownTokens.verify(value, options);
      if (typeof payload.jti !== 'string') throw refuse('has no jti');
      return payload.jti;
    } catch (error) {
      throw error instanceof UnacceptableTokenError ? error : refuse(describeJoseError(error));
    }
  }

  /** One of our access tokens, by its stored id: it must exist and be alive under every rule of ours. */
  async #stored(ctx: KoaContextWithOIDC, id: string, refuse: (problem: string) => UnacceptableTokenError): Promise<PresentedToken> {
    const { provider } = ctx.oidc;
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
    return {
      subject: token.accountId ?? token.clientId!,
      issuer: this.#deps.ownTokens.issuer,
      // A token from a user's authorization has a person (the user) as its principal; one a client got for
      // itself (client_credentials) has the client.
      rootIsPerson: inherited ? inherited.rootIsPerson : token.kind === 'AccessToken' && !!token.accountId && !isAgentId(token.accountId),
      scopes: token.scope ? token.scope.split(' ') : [],
      expiresAt: token.exp!,
      act: this.#act(token.extra?.act, refuse),
      mayAct: asObject(token.extra?.may_act),
      clientId: token.clientId,
      jkt: token.jkt,
      lineage: [...(inherited?.ancestors ?? []), ref],
      isIdToken: false,
    };
  }

  /** An ID token we issued; as a subject or actor it must have been issued to the requesting client. */
  async #idToken(value: string, clientId: string, refuse: (problem: string) => UnacceptableTokenError): Promise<PresentedToken> {
    if (!looksLikeJws(value)) throw refuse('is not a JWT');
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

  async #external(value: string, refuse: (problem: string) => UnacceptableTokenError): Promise<PresentedToken> {
    try {
      const external = await this.#deps.trusted.verify(value);
      return {
        subject: external.subject,
        issuer: external.issuer,
        rootIsPerson: true,
        scopes: external.scopes ?? [],
        expiresAt: external.expiresAt,
        act: this.#act(external.act, refuse),
        mayAct: external.mayAct,
        clientId: external.clientId,
        jkt: external.jkt,
        lineage: [],
        isIdToken: false,
      };
    } catch (error) {
      if (error instanceof SubjectTokenError) throw refuse(`is refused: ${error.message}`);
      if (error instanceof UnacceptableTokenError) throw error;
      // Whatever else a foreign token makes the verifier throw (a weak issuer key, say) is still a bad token.
      throw refuse('could not be verified');
    }
  }

  #act(value: unknown, refuse: (problem: string) => UnacceptableTokenError): ActClaim | undefined {
    try {
      return parseActClaim(value);
    } catch (error) {
      if (error instanceof MalformedActClaimError) throw refuse(`is refused: ${error.message}`);
      throw error;
    }
  }
}

function looksLikeJws(value: string): boolean {
  if (value.split('.').length !== 3) return false;
  try {
    decodeProtectedHeader(value);
    return true;
  } catch {
    return false;
  }
}

function asObject(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

/** A client-safe description of why one of our JWTs did not verify. */
function describeJoseError(error: unknown): string {
  if (error instanceof joseErrors.JWTExpired) return 'has expired';
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return 'is signed with an algorithm this server does not accept (never none or HS*)';
  if (error instanceof joseErrors.JWSSignatureVerificationFailed || error instanceof joseErrors.JWKSNoMatchingKey) return 'has a signature that does not verify with our keys';
  if (error instanceof joseErrors.JWTClaimValidationFailed) return `has an unacceptable "${error.claim}" claim (${error.reason})`;
  if (error instanceof joseErrors.JOSEError) return 'is not a well-formed signed JWT';
  throw error;
}
