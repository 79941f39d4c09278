// Identity Assertion JWT Authorization Grants (draft-ietf-oauth-identity-assertion-authz-grant, profiled by MCP's
// Enterprise-Managed Authorization extension): verifying one an enterprise IdP issued for a client of ours. The
// IdP's keys, algorithms and subject prefix are its TRUSTED_ISSUERS entry (tokens/trusted-issuers.ts does the
// JWS work); what is particular to an ID-JAG is checked here: `typ`, `aud` exactly our issuer, `client_id` the
// authenticated client (and one the operator lets this IdP name), `jti`, a short age, and `resource`. Every
// refusal is a PresentedTokenError whose message is safe to put in an `invalid_grant` description.
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { maxPresentedTokenBytes } from '../config/defaults.ts';
import type { IdJagTrust, IdJagUserMapping, TrustedIssuerConfig } from '../config/trusted-issuers.ts';
import { ID_JAG_TYP, mediaTypeOf } from './token-types.ts';
import { quotable, TrustedIssuers } from './trusted-issuers.ts';
import { PresentedTokenError } from './presented-token-error.ts';

export { ID_JAG_TYP } from './token-types.ts';

/** What a verified ID-JAG grants. */
export interface IdentityAssertionGrant {
  /** The IdP (`iss`). */
  issuer: string;
  /** The IdP's `sub`, with its subject prefix: the token's subject when the IdP's users are `external`. */
  subject: string;
  /** How the IdP's users map to ours (issuance/id-jag-users.ts). */
  users: IdJagUserMapping;
  /** `email`, unless the ID-JAG says it is not verified (`email_verified: false`). */
  email?: string;
  /** `name`, for a user created just in time. */
  name?: string;
  jti: string;
  /** `exp`, seconds since the epoch. */
  expiresAt: number;
  /** `resource`: the resources the IdP granted access to (empty when it named none). */
  resources: string[];
  /** `scope`; undefined when the ID-JAG carries none. */
  scopes: string[] | undefined;
  /** `cnf.jkt`: the DPoP key the grant is bound to. */
  jkt?: string;
}

export class IdJagVerifier {
  readonly #issuer: string;
  readonly #trust: Map<string, IdJagTrust>;
  readonly #verifier: TrustedIssuers;

  /** `issuer`: ours, the only audience an ID-JAG for us may have. */
  constructor(configs: TrustedIssuerConfig[], issuer: string) {
    this.#issuer = issuer;
    // An IdP never redeems its own ID-JAGs (draft §4.4), and ours are not issued for ourselves.
    const idps = configs.filter((config) => config.idJag && config.issuer !== issuer);
    this.#trust = new Map(idps.map((config) => [config.issuer, config.idJag!]));
    this.#verifier = new TrustedIssuers(idps.map((config) => ({
      ...config,
      audiences: [issuer],
      maxTokenAgeSeconds: Math.min(config.maxTokenAgeSeconds ?? Infinity, config.idJag!.maxAgeSeconds),
    })), { maxTokenBytes: maxPresentedTokenBytes });
  }

  /** True when some IdP is trusted for ID-JAGs (the grant and its metadata are then offered). */
  get enabled(): boolean {
    return this.#trust.size > 0;
  }

  /** Verifies `assertion` as an ID-JAG for the authenticated client `clientId`; throws PresentedTokenError saying why not. */
  async verify(assertion: string, clientId: string): Promise<IdentityAssertionGrant> {
    if (Buffer.byteLength(assertion, 'utf8') > maxPresentedTokenBytes) throw new PresentedTokenError('ERR_INVALID_ASSERTION', `the assertion is larger than ${maxPresentedTokenBytes} bytes`);
    const { typ, iss } = peek(assertion);
    if (typ === undefined || mediaTypeOf(typ) !== ID_JAG_TYP) {
      throw new PresentedTokenError('ERR_INVALID_ASSERTION', `the assertion is not an ID-JAG: its typ must be "${ID_JAG_TYP}"${typ === undefined ? '' : `, not "${quotable(typ)}"`}`);
    }
    if (iss === this.#issuer) throw new PresentedTokenError('ERR_INVALID_ASSERTION', 'this server does not accept ID-JAGs it issued itself');
    const trust = iss === undefined ? undefined : this.#trust.get(iss);
    if (!trust) throw new PresentedTokenError('ERR_INVALID_ASSERTION', iss === undefined ? 'the assertion names no issuer (iss)' : `the assertion's issuer "${quotable(iss)}" is not a trusted identity provider`);

    let verified;
    try {
      verified = await this.#verifier.verify(assertion);
    } catch (error) {
      if (error instanceof PresentedTokenError) throw new PresentedTokenError(error.code, error.code === 'ERR_WRONG_AUDIENCE' ? `the assertion's audience (aud) must be this server's issuer, ${this.#issuer}` : error.message.replace(/^the token/, 'the assertion'));
      throw error;
    }
    const { claims } = verified;
    // Draft §4.3: an array `aud` must have exactly one member.
    if (verified.audiences.length !== 1) throw new PresentedTokenError('ERR_INVALID_ASSERTION', `the assertion's audience (aud) must be this server's issuer alone, ${this.#issuer}`);
    if (typeof claims.jti !== 'string' || !claims.jti) throw new PresentedTokenError('ERR_INVALID_ASSERTION', 'the assertion has no "jti" claim, which an ID-JAG must carry');
    if (claims.iat === undefined) throw new PresentedTokenError('ERR_INVALID_ASSERTION', 'the assertion has no "iat" claim, which an ID-JAG must carry');
    if (typeof claims.client_id !== 'string' || !claims.client_id) throw new PresentedTokenError('ERR_INVALID_ASSERTION', 'the assertion has no "client_id" claim, which an ID-JAG must carry');
    if (claims.client_id !== clientId) throw new PresentedTokenError('ERR_INVALID_ASSERTION', 'the assertion was issued for another client (client_id)');
    if (!trust.clients.includes('*') && !trust.clients.includes(clientId)) {
      throw new PresentedTokenError('ERR_INVALID_ASSERTION', `the identity provider "${quotable(verified.issuer)}" is not allowed to grant access to this client`);
    }
    // An address the IdP itself says it has not verified could be anyone's: never link a user by it.
    const email = typeof claims.email === 'string' && claims.email && claims.email_verified !== false ? claims.email : undefined;
    return {
      issuer: verified.issuer,
      subject: verified.subject,
      users: trust.users,
      ...(email ? { email } : {}),
      ...(typeof claims.name === 'string' && claims.name ? { name: claims.name } : {}),
      jti: claims.jti,
      expiresAt: verified.expiresAt,
      resources: resourcesOf(claims.resource),
      scopes: verified.scopes,
      ...(verified.jkt ? { jkt: verified.jkt } : {}),
    };
  }
}

function peek(assertion: string): { typ: string | undefined; iss: string | undefined } {
  if (assertion.split('.').length !== 3) throw new PresentedTokenError('ERR_INVALID_ASSERTION', 'the assertion is not a well-formed JWT');
  try {
    const { typ } = decodeProtectedHeader(assertion);
    const { iss } = decodeJwt(assertion);
    return { typ: typeof typ === 'string' ? typ : undefined, iss: typeof iss === 'string' ? iss : undefined };
  } catch {
    throw new PresentedTokenError('ERR_INVALID_ASSERTION', 'the assertion is not a well-formed JWT');
  }
}

function resourcesOf(value: unknown): string[] {
  if (value === undefined) return [];
  const resources = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(resources) || !resources.length || !resources.every((resource) => typeof resource === 'string' && URL.canParse(resource))) {
    throw new PresentedTokenError('ERR_INVALID_ASSERTION', 'the assertion\'s "resource" claim is neither an absolute URI nor an array of them');
  }
  return [...new Set(resources as string[])];
}
