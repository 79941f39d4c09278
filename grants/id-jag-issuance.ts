// This server as an enterprise IdP: issuing Identity Assertion JWT Authorization Grants (ID-JAG, draft-ietf-
// oauth-identity-assertion-authz-grant §4, profiled by MCP Enterprise-Managed Authorization). A confidential
// client trades the ID token we issued it for a user for an ID-JAG to present at another authorization server
// (the `audience`), for one of that server's resources. Which servers, resources, client mappings and scopes are
// allowed is the operator's (adapters/id-jag-audience-store.ts). Reached through token exchange with
// requested_token_type=urn:ietf:params:oauth:token-type:id-jag (grants/token-exchange.ts dispatches here).
import { randomUUID } from 'node:crypto';
import { errors, type TokenEndpointGrantContext } from 'oidc-provider';
import type { IdJagAudienceStore } from '../adapters/id-jag-audience-store.ts';
import type { UserStore } from '../adapters/user-store.ts';
import { idJagAlg, idJagLifetime } from '../config/defaults.ts';
import { tokenOrganization, type OrganizationLookups } from '../issuance/token-organization.ts';
import type { TokenSigner } from '../keys/token-signer.ts';
import { ID_JAG_TYP } from '../tokens/token-types.ts';
import { buildTokenResponse, checkDpopReplay, type validateDpop } from '../issuance/oidc-grant-helpers.ts';
import type { PresentedTokens } from '../tokens/presented-tokens.ts';
import { PresentedTokenError } from '../tokens/presented-token-error.ts';
import { TOKEN_TYPE } from '../tokens/token-types.ts';
import { EXCHANGED_TOKEN_GTY } from '../tokens/token-liveness.ts';

export interface IdJagIssuanceDependencies {
  issuer: string;
  audiences: IdJagAudienceStore;
  users: UserStore;
  presented: PresentedTokens;
  signer: TokenSigner;
  organizations: OrganizationLookups;
}

/** What the audit trail records of an issued ID-JAG (server/audit-events.ts); never the ID-JAG itself. */
export interface IssuedIdJag {
  claims: IdJagClaims;
}

export interface IdJagClaims {
  iss: string;
  sub: string;
  aud: string;
  client_id: string;
  jti: string;
  iat: number;
  exp: number;
  resource?: string;
  scope?: string;
  auth_time?: number;
  amr?: string[];
  email?: string;
  cnf?: { jkt: string };
  /** The user's organization, as the access tokens we issue carry it. */
  org_id: string;
}

type Params = Record<string, string | string[] | undefined>;
type DpopProof = Awaited<ReturnType<typeof validateDpop>>;

export async function issueIdJag(ctx: TokenEndpointGrantContext, deps: IdJagIssuanceDependencies, dPoP: DpopProof): Promise<void> {
  const { provider, client } = ctx.oidc;
  const params = ctx.oidc.params as Params;
  // The draft: "SHOULD only be supported for confidential clients"; the MCP profile requires client authentication.
  if (client.clientAuthMethod === 'none') throw new errors.UnauthorizedClient('ID-JAGs are issued only to clients that authenticate');
  const subjectToken = single(params, 'subject_token')!;
  if (single(params, 'subject_token_type') !== TOKEN_TYPE.idToken) {
    throw new errors.InvalidRequest(`an ID-JAG is issued for an ID token this server issued to the client (subject_token_type ${TOKEN_TYPE.idToken})`);
  }
  if (params.actor_token) throw new errors.InvalidRequest('actor_token is not supported for ID-JAG requests');
  let subject;
  try {
    // Its audience must be the requesting client (draft §4.3).
    subject = await deps.presented.accept(ctx, subjectToken, TOKEN_TYPE.idToken, 'subject_token', [TOKEN_TYPE.idToken]);
  } catch (error) {
    if (error instanceof PresentedTokenError) throw new errors.InvalidRequest(error.message);
    throw error;
  }
  const user = await deps.users.findById(subject.subject);
  if (!user) throw new errors.InvalidRequest('subject_token names a user that no longer exists');
  // The isolation rule of every exchange: a client of another organization than the user's, unless allowed to act
  // for it, gets nothing for the user's ID token (invalid_request, RFC 8693 §2.2.2).
  const orgId = await tokenOrganization({ clientId: client.clientId, accountId: user.id, gty: EXCHANGED_TOKEN_GTY }, deps.organizations);

  // Identity chaining §2.3: the target authorization server by its issuer, which must be one the operator allows.
  const audienceIssuer = single(params, 'audience');
  if (!audienceIssuer) throw new errors.InvalidRequest('audience is required: the issuer of the authorization server the ID-JAG is for');
  const audience = await deps.audiences.get(audienceIssuer);
  if (!audience) throw new errors.InvalidTarget(`"${printable(audienceIssuer)}" is not an authorization server this server issues ID-JAGs for`);
  const targetClientId = audience.clients[client.clientId];
  if (!targetClientId) throw new errors.InvalidTarget(`this client may not get ID-JAGs for "${audience.issuer}"`);
  const requestedResource = single(params, 'resource');
  if (requestedResource !== undefined && !audience.resources.includes(requestedResource)) {
    throw new errors.InvalidTarget(`"${printable(requestedResource)}" is not a resource of "${audience.issuer}" this server issues ID-JAGs for`);
  }
  const resource = requestedResource ?? (audience.resources.length === 1 ? audience.resources[0] : undefined);

  // Narrowed to the audience's allowed scopes (RFC 8693: the issued scope may be smaller; the response says so).
  // RFC 6749 §3.3: a scope is a set; each named once.
  const requested = typeof params.scope === 'string' ? [...new Set(params.scope.split(' ').filter(Boolean))] : undefined;
  const scopes = requested
    ? requested.filter((scope) => !audience.scopes || audience.scopes.includes(scope))
    : audience.scopes ?? [];
  if (requested?.length && !scopes.length) throw new errors.InvalidScope(`none of the requested scopes may be granted at "${audience.issuer}"`, requested[0]);

  if (dPoP) await checkDpopReplay(provider, ctx, dPoP, client.clientId);
  const issuedAt = Math.floor(Date.now() / 1000);
  const claims: IdJagClaims = {
    iss: deps.issuer,
    sub: user.id,
    aud: audience.issuer,
    client_id: targetClientId,
    jti: randomUUID(),
    iat: issuedAt,
    // Short-lived (draft §4.3), and never beyond the ID token it was exchanged for.
    exp: Math.min(issuedAt + idJagLifetime, subject.expiresAt),
    ...(resource ? { resource } : {}),
    ...(scopes.length ? { scope: scopes.join(' ') } : {}),
    ...(user.email ? { email: user.email } : {}),
    ...(dPoP ? { cnf: { jkt: dPoP.thumbprint } } : {}),
    org_id: orgId,
  };
  if (claims.exp <= issuedAt) throw new errors.InvalidRequest('subject_token has expired');
  const idJag = await deps.signer.sign(claims as never, { alg: idJagAlg, typ: ID_JAG_TYP });
  ctx.oidc.entity('IssuedIdJag', { claims } satisfies IssuedIdJag);

  ctx.body = buildTokenResponse(provider, {
    accessToken: idJag,
    // The draft §4.2: an ID-JAG is not an access token.
    tokenType: 'N_A',
    expiresIn: claims.exp - issuedAt,
    scope: requested && claims.scope === requested.join(' ') ? undefined : claims.scope,
    issuedTokenType: TOKEN_TYPE.idJag,
  });
}

function single(params: Params, name: string): string | undefined {
  const value = params[name];
  if (Array.isArray(value)) throw new errors.InvalidRequest(`${name} must not be repeated for an ID-JAG request`);
  return value || undefined;
}

const printable = (value: string) => value.replace(/[^\x20\x21\x23-\x5B\x5D-\x7E]/g, '?').slice(0, 200);
