// The endpoints where clients authenticate (token, introspection, revocation, PAR) answer some refusals in
// oidc-provider's own words where the RFCs prescribe others. oidc-provider renders its errors inside its router,
// so this middleware, in front of it, corrects the rendered answer on the way out; the provider's code is not
// touched. Which refusal is which is decided from the request's state where that is known (the client was
// authenticated, its registered grant types) and otherwise from the provider's description, listed once below.
import type { Context, Next } from 'koa';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { AuditLog } from '../adapters/audit-log.ts';
import { claimedClientId } from './claimed-client.ts';

/** oidc-provider 9.13.3's descriptions (lib/shared/client_auth.js) of a request that did not authenticate. */
const NO_CLIENT_AUTHENTICATION = new Set(['no client authentication mechanism provided']);
/** …and of an Authorization header that is not a usable Basic credential (RFC 7617, RFC 6749 §2.3.1). */
const MALFORMED_BASIC = new Set([
  'invalid authorization header value format',
  'client_id and client_secret in the authorization header are not properly encoded',
  'client_secret must be provided in the Authorization header',
]);

export interface RefusalFacts {
  status: number;
  error: string;
  description: string | undefined;
  /** The client's grant_type parameter at the token endpoint, when it is one value. */
  grantType: string | undefined;
  /** Set when the client authenticated: whether it is registered for `grantType`. */
  grantTypeAllowed: boolean | undefined;
  /** The request carried an Authorization header. */
  triedHeader: boolean;
  /** The answer already has a WWW-Authenticate challenge (oidc-provider adds one when Basic failed). */
  hasChallenge: boolean;
}

export interface CorrectedAnswer {
  status: number;
  error: string;
  description: string;
  /** A WWW-Authenticate challenge to add, in parts; the realm is the issuer. */
  challenge?: { error?: string; description?: string };
}

/** The answer the RFCs prescribe for this refusal, or undefined when the provider's answer already is it. */
export function correctedAnswer(facts: RefusalFacts): CorrectedAnswer | undefined {
  const { error, description = '' } = facts;
  if (error === 'invalid_request' && NO_CLIENT_AUTHENTICATION.has(description)) {
    // RFC 6749 §5.2: "no client authentication included" is invalid_client; RFC 7662 §2.3 and RFC 7009 §2.1 send
    // these endpoints' failed authentication there. The challenge names the scheme and no error (as RFC 6750
    // §3.1 does for a request that sent no credentials).
    return {
      status: 401,
      error: 'invalid_client',
      description: 'the request carries no client authentication: send the client\'s credentials (RFC 6749 §2.3)',
      challenge: {},
    };
  }
  if (error === 'invalid_request' && facts.triedHeader && MALFORMED_BASIC.has(description)) {
    // RFC 6749 §5.2: a client that tried the Authorization header gets 401 and a challenge of that scheme.
    const corrected = `client authentication failed: ${description}`;
    return { status: 401, error: 'invalid_client', description: corrected, challenge: { error: 'invalid_client', description: corrected } };
  }
  if (error === 'invalid_request' && facts.grantType !== undefined && facts.grantTypeAllowed === false) {
    // RFC 6749 §5.2: "the authenticated client is not authorized to use this authorization grant type".
    return { status: 400, error: 'unauthorized_client', description: `this client is not registered for the grant type ${facts.grantType}` };
  }
  if (facts.status === 401 && !facts.hasChallenge) {
    // RFC 9110 §15.5.2: a 401 carries a challenge. oidc-provider adds one only when Basic was tried; a failed
    // client_secret_post or client assertion gets the scheme this server accepts without a header.
    return { status: 401, error, description, challenge: { error, description } };
  }
  return undefined;
}

/** RFC 9110 §11.2 challenge with quoted-string parameters. */
export function basicChallenge(realm: string, challenge: { error?: string; description?: string }): string {
  const quoted = (value: string) => `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
  const parameters = [`realm=${quoted(realm)}`];
  if (challenge.error) parameters.push(`error=${quoted(challenge.error)}`);
  if (challenge.description) parameters.push(`error_description=${quoted(challenge.description)}`);
  return `Basic ${parameters.join(', ')}`;
}

/** A client oidc-provider does not load because it may not authenticate (a suspended or revoked agent). */
export interface InactiveClient {
  status: string;
  /** Hashes of the secrets it would authenticate with if it were active. */
  secretHashes: string[];
}

export interface ClientAuthAnswerOptions {
  issuer: string;
  /** The paths of the endpoints this applies to. */
  paths: ReadonlySet<string>;
  audit: Pick<AuditLog, 'record'>;
  /** The client named by a refused request, when it exists but is not active. */
  inactiveClient(clientId: string): Promise<InactiveClient | undefined>;
  secretMatches(storedHash: string, presented: string): Promise<boolean>;
}

export function clientAuthenticationAnswers(options: ClientAuthAnswerOptions) {
  return async function answerAsTheRfcsSay(ctx: Context, next: Next): Promise<void> {
    if (ctx.method !== 'POST' || !options.paths.has(ctx.path)) return next();
    await next();
    const body = ctx.body as { error?: unknown; error_description?: unknown } | undefined;
    if (!body || typeof body !== 'object' || typeof body.error !== 'string') return;
    const oidc = (ctx as unknown as KoaContextWithOIDC).oidc;
    const client = oidc?.entities?.Client;
    const grantType = oidc?.route === 'token' && typeof oidc.params?.grant_type === 'string' ? oidc.params.grant_type : undefined;
    let answer = correctedAnswer({
      status: ctx.status,
      error: body.error,
      description: typeof body.error_description === 'string' ? body.error_description : undefined,
      grantType,
      grantTypeAllowed: client && grantType ? client.grantTypeAllowed(grantType) : undefined,
      triedHeader: Boolean(ctx.get('authorization')),
      hasChallenge: Boolean(ctx.response.get('WWW-Authenticate')),
    });
    if (body.error === 'invalid_client' && !client) answer = await inactiveClientAnswer(ctx) ?? answer;
    if (!answer) return;
    ctx.status = answer.status;
    ctx.body = { ...body, error: answer.error, error_description: answer.description };
    if (answer.challenge) ctx.set('WWW-Authenticate', basicChallenge(options.issuer, answer.challenge));
  };

  /**
   * A suspended or revoked client is unknown to oidc-provider, so its refusal says only that authentication failed.
   * It is audited under its client_id; and the answer says the client is not active only to a caller that proved
   * it is that client (its secret matched), so nobody learns from it which client_ids exist or are suspended.
   */
  async function inactiveClientAnswer(ctx: Context): Promise<CorrectedAnswer | undefined> {
    const oidc = (ctx as unknown as KoaContextWithOIDC).oidc;
    const params = oidc?.params as { client_id?: unknown; client_secret?: unknown } | undefined;
    const authorization = ctx.get('authorization') || undefined;
    const form = typeof params?.client_id === 'string' ? new URLSearchParams({ client_id: params.client_id }) : undefined;
    const clientId = claimedClientId(authorization, form);
    if (!clientId) return undefined;
    const inactive = await options.inactiveClient(clientId);
    if (!inactive) return undefined;
    const secret = presentedSecret(authorization) ?? (typeof params?.client_secret === 'string' ? params.client_secret : undefined);
    const proved = secret !== undefined
      && (await Promise.all(inactive.secretHashes.map((hash) => options.secretMatches(hash, secret)))).includes(true);
    options.audit.record({
      requestId: ctx.state?.requestId,
      sourceIp: ctx.ip,
      clientId,
      event: 'client.inactive_refused',
      outcome: 'failure',
      reason: `the client is ${inactive.status}`,
      details: { endpoint: oidc?.route ?? ctx.path, authenticated: proved },
    });
    if (!proved) return undefined;
    const description = `client ${clientId} is ${inactive.status} and may not be used`;
    return { status: 401, error: 'invalid_client', description, challenge: { error: 'invalid_client', description } };
  }
}

/** The secret of an HTTP Basic credential (RFC 6749 §2.3.1: form-encoded), if the header is one. */
function presentedSecret(authorization: string | undefined): string | undefined {
  const basic = /^Basic ([A-Za-z0-9+/]+=*)$/i.exec(authorization ?? '');
  if (!basic) return undefined;
  const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon === -1) return undefined;
  try {
    return decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, '%20'));
  } catch {
    return undefined;
  }
}
