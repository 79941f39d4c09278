// oidc-provider configured as an OAuth 2.1 authorization server (draft-ietf-oauth-v2-1): authorization code
// with PKCE S256 for every client, no implicit or password grants, rotating refresh tokens, client
// credentials, DPoP (RFC 9449), resource indicators (RFC 8707) with JWT access tokens (RFC 9068),
// introspection (RFC 7662, RFC 9701), revocation (RFC 7009) and dynamic registration (RFC 7591/7592).
import Provider, {
  errors, type Adapter, type AsymmetricSigningAlgorithm, type ClientAuthMethod, type Configuration, type KoaContextWithOIDC,
} from 'oidc-provider';
import { isDeepStrictEqual } from 'node:util';
import type { JWK } from 'jose';
import type { z } from 'zod';
import { agentSecretHashes } from '../adapters/client-adapter.ts';
import { storedClientSecretHashes, type PostgresClientAdapter } from '../adapters/client-store.ts';
import type { ResourceStore } from '../adapters/resource-store.ts';
import { tokenOrganization, type OrganizationLookups } from '../issuance/token-organization.ts';
import { clockTolerance, dpopSigningAlgorithms, jwtAccessTokenAlg, lifetimes, OIDC_SCOPES, signingAlgorithms } from '../config/defaults.ts';
import { registerGrants, type GrantDependencies } from '../grants/index.ts';
import { clientRecordOf, RECORD_MEMBERS, recordMetadata, type RecordMember } from '../policy/client-record.ts';
import { allowedPatterns, checkResourceAllowed, clientNoun, rulesFor } from '../issuance/pipeline.ts';
import { scopeAllowed, scopesNotAllowed } from '../policy/scope-patterns.ts';
import { apiScopes, defaultResourceFor, namedResourceRefusal } from '../policy/scope-resolution.ts';
import * as ciba from '../grants/ciba.ts';
import { AGENT_ACTION, validateAgentAction } from '../policy/authorization-details.ts';
import * as jwtBearer from '../grants/jwt-bearer.ts';
import { TOKEN_TYPE } from '../tokens/token-types.ts';
import { anonymousRegistrationProblem, corsOriginAllowed, isOrigin, metadataDocumentClientProblem, plainHttpRedirectProblem } from './client-policy.ts';
import type { JwtRecordIds } from './jwt-access-token-records.ts';
import type { TokenLiveness } from '../tokens/token-liveness.ts';
import { includePreviouslyGrantedScopes } from './step-up.ts';
import { organizationId } from './organization-id.ts';
import { INTROSPECTION_RIGHTS_METADATA, introspectionRight, introspectionRightsProblem } from './introspection-rights.ts';
import { errorPage, formTargetOf, loggedOutPage, logoutPage, pageHeaders } from './pages.ts';

/** The grants' dependencies (grants/grant.ts: stores, token verification, policies) and the provider's own. */
export interface ProviderDependencies extends GrantDependencies {
  /** Storage for every oidc-provider model; `Client` goes to PostgreSQL, the rest to Redis or memory. */
  adapter: (modelName: string) => Adapter;
  resources: ResourceStore;
  /** Our rules on top of expiry and revocation (kill switch, exchange lineage); consulted by introspection. */
  liveness: TokenLiveness;
  /** Client ID Metadata Documents: on by default; private addresses only where the operator allows them. */
  cimd: { enabled: boolean; allowPrivateAddresses: boolean };
  /** Private signing JWKs, active keys first (see keys/signing-keys.ts). */
  signingKeys: JWK[];
  cookieKeys: string[];
  dpopNonceSecret: Buffer;
  dpopRequireNonce: boolean;
  /** Where JWT access tokens are recorded, so they introspect and revoke like opaque ones. */
  jwtRecords: JwtRecordIds;
  /** Set by the registration-access middleware: whether this request presented the initial access token. */
  isAdminRegistration: (ctx: KoaContextWithOIDC) => boolean;
  /** Hashed client secrets: compares a presented secret with the stored hash. */
  clientSecretMatches: (storedHash: string, presented: string) => Promise<boolean>;
  /** Registered clients' lifecycle: a rotation's grace period keeps the replaced secret valid for a while. */
  registeredClients?: Pick<PostgresClientAdapter, 'record'>;
  /** Seconds a sign-in lasts (SESSION_TTL); lifetimes.session when not given. */
  sessionTtl?: number;
}

export { OIDC_SCOPES } from '../config/defaults.ts';

/** Client metadata only the operator may set (registration with ADMIN_TOKEN as initial access token). */
const OPERATOR_ONLY_METADATA = [...RECORD_MEMBERS, 'org_id', ...INTROSPECTION_RIGHTS_METADATA];

/** Authentication methods a confidential client may use at the token, introspection and revocation endpoints. */
const CONFIDENTIAL_AUTH_METHODS: ClientAuthMethod[] = ['client_secret_basic', 'client_secret_post', 'private_key_jwt'];

// No HS* anywhere (see signingAlgorithms): client secrets are stored hashed, so no client_secret_jwt either.
const ASYMMETRIC_ALGS = [...signingAlgorithms] as AsymmetricSigningAlgorithm[];

export function createProvider(deps: ProviderDependencies): Provider {
  const configuration: Configuration = {
    adapter: deps.adapter as Configuration['adapter'],
    jwks: { keys: deps.signingKeys as never },
    cookies: { keys: deps.cookieKeys },
    clockTolerance,

    responseTypes: ['code'],
    pkce: { required: () => true },
    clientAuthMethods: [...CONFIDENTIAL_AUTH_METHODS, 'none'],
    enabledJWA: {
      clientAuthSigningAlgValues: ASYMMETRIC_ALGS,
      idTokenSigningAlgValues: ASYMMETRIC_ALGS,
      requestObjectSigningAlgValues: ASYMMETRIC_ALGS,
      userinfoSigningAlgValues: ASYMMETRIC_ALGS,
      introspectionSigningAlgValues: ASYMMETRIC_ALGS,
      authorizationSigningAlgValues: ASYMMETRIC_ALGS,
      dPoPSigningAlgValues: [...dpopSigningAlgorithms],
    },
    clientDefaults: {
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'RS256',
      // RFC 9396 §10: every client may ask for our one type; a client registered with its own list keeps that.
      authorization_details_types: [AGENT_ACTION],
    },
    extraClientMetadata: {
      // org_id: the organization an operator registers the client into (adapters/client-store.ts keeps it in its column).
      // The client record's members (policy/client-record.ts): an agent's rules, written by the agent store, and a
      // registered client's, set by the operator.
      properties: ['allowed_cors_origins', ...RECORD_MEMBERS, 'org_id', ...INTROSPECTION_RIGHTS_METADATA],
      validator(ctx, key, value, metadata) {
        if (key === 'allowed_cors_origins' && value !== undefined) {
          if (!Array.isArray(value) || !value.every(isOrigin)) {
            throw new errors.InvalidClientMetadata('allowed_cors_origins must be an array of origins (scheme://host[:port])');
          }
        }
        if (isRecordMember(key) && value !== undefined) checkMetadata(key, recordMetadata[key], value);
        if (key === 'default_scopes' && value !== undefined) checkDefaultScopesMetadata(value as string[], metadata.scope_patterns);
        if (key === 'org_id' && value !== undefined) checkMetadata(key, organizationId, value);
        const rightsProblem = introspectionRightsProblem(key, value);
        if (rightsProblem) throw new errors.InvalidClientMetadata(rightsProblem);
        // The validator runs once per extra property for every client the provider loads; the registration
        // rule needs to run once per registration, so it hangs off the single property we define.
        if (key === 'allowed_cors_origins') enforceRegistrationPolicy(ctx as KoaContextWithOIDC, metadata);
      },
    },

    scopes: [...OIDC_SCOPES],
    claims: {
      openid: ['sub'],
      profile: ['name', 'preferred_username'],
      email: ['email'],
    },
    async findAccount(_ctx, sub) {
      const user = await deps.users.findById(sub);
      if (!user) return undefined;
      return {
        accountId: user.id,
        async claims() {
          return { sub: user.id, preferred_username: user.username, name: user.name ?? undefined, email: user.email ?? undefined };
        },
      };
    },

    ttl: {
      AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? lifetimes.accessToken,
      ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? lifetimes.clientCredentials,
      AuthorizationCode: lifetimes.authorizationCode,
      IdToken: lifetimes.idToken,
      Interaction: lifetimes.interaction,
      Session: deps.sessionTtl ?? lifetimes.session,
      Grant: lifetimes.grant,
      BackchannelAuthenticationRequest: ciba.backchannelRequestLifetime,
      RefreshToken(ctx, token, client) {
        // A public client's refresh token that is not sender-constrained never outlives the chain it came
        // from: rotation must not extend its life indefinitely (OAuth 2.1 §4.3.1, RFC 9700 §4.14.2).
        const rotated = (ctx as KoaContextWithOIDC | undefined)?.oidc?.entities.RotatedRefreshToken;
        if (rotated && client.clientAuthMethod === 'none' && !token.isSenderConstrained()) {
          return rotated.remainingTTL;
        }
        return lifetimes.refreshToken;
      },
    },
    async loadExistingGrant(ctx) {
      const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session!.grantIdFor(ctx.oidc.client!.clientId);
      if (!grantId) return undefined;
      const grant = await ctx.oidc.provider.Grant.find(grantId);
      if (grant) includePreviouslyGrantedScopes(ctx.oidc.params as { scope?: string; resource?: string | string[] }, grant);
      return grant;
    },

    // OAuth 2.1 §4.3.1: refresh tokens rotate on every use; reuse of a rotated one revokes the grant.
    rotateRefreshToken: true,
    async issueRefreshToken(_ctx, client) {
      return client.grantTypeAllowed('refresh_token');
    },

    // Pass through claims our grants put on tokens (`act`, `owner`, ...): without this oidc-provider drops
    // `token.extra` on save. A client (or agent) that states who may act for it (RFC 8693 §4.4) has that
    // `may_act` in every access token it gets. Every access token carries the `org_id` it is issued under, and is
    // refused here when it would cross an organization's boundary (issuance/token-organization.ts).
    async extraTokenClaims(ctx, token) {
      await refuseUnboundTokenForDpopResource(token as unknown as { aud?: unknown; jkt?: string });
      const extra = (token as unknown as { extra?: Record<string, unknown> }).extra;
      // An exchanged token's actor of ours (an actor_token's subject; not a trusted issuer's, which names `iss`).
      const act = extra?.act as { sub?: unknown; iss?: unknown } | undefined;
      const actor = typeof act?.sub === 'string' && act.iss === undefined ? act.sub : undefined;
      const parties = token as unknown as { clientId?: string; accountId?: string; aud?: unknown; gty?: string };
      const orgId = await tokenOrganization({ clientId: parties.clientId, accountId: parties.accountId, aud: parties.aud, gty: parties.gty, actor }, deps.organizations);
      const client = ctx?.oidc?.client;
      const mayAct = client ? clientRecordOf(client).mayAct : undefined;
      const claims = { ...(mayAct && !extra?.may_act ? { ...extra, may_act: mayAct } : extra), org_id: orgId };
      const cibaActor = await ciba.cibaActorClaims(token as unknown as { gty?: string; clientId?: string; accountId?: string }, deps.agents);
      const roles = await userRoles(token as unknown as { accountId?: string; extra?: Record<string, unknown> });
      return cibaActor || roles ? { ...claims, ...cibaActor, ...roles } : claims;
    },
    formats: {
      customizers: {
        async jwt(_ctx, token, jwt) {
          await deps.jwtRecords.record(token as never, jwt.payload);
        },
      },
    },

    interactions: {
      url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
    },
    async renderError(ctx, out) {
      ctx.type = 'html';
      ctx.set(pageHeaders());
      ctx.body = errorPage({ error: String(out.error), description: out.error_description ? String(out.error_description) : undefined });
    },

    // Outbound fetches (client metadata documents, jwks_uri) go through oidc-provider's SSRF-protected dispatcher;
    // an operator who serves documents on private addresses (development, tests) lets them through.
    fetch(url, options) {
      if (deps.cimd.allowPrivateAddresses) delete (options as { dispatcher?: unknown }).dispatcher;
      return globalThis.fetch(url, options);
    },
    fetchResponseBodyLimits: { 'client_id metadata document': 5 * 1024, jwks_uri: 64 * 1024, sector_identifier_uri: 64 * 1024 },

    clientBasedCORS(_ctx, origin, client) {
      const metadata = client as unknown as { allowed_cors_origins?: string[]; redirectUris?: string[]; clientAuthMethod: string };
      return corsOriginAllowed(origin, {
        allowedCorsOrigins: metadata.allowed_cors_origins,
        redirectUris: metadata.redirectUris,
        isPublic: metadata.clientAuthMethod === 'none',
      });
    },

    discovery: {
      introspection_endpoint_auth_methods_supported: CONFIDENTIAL_AUTH_METHODS,
      revocation_endpoint_auth_methods_supported: [...CONFIDENTIAL_AUTH_METHODS, 'none'],
      introspection_endpoint_auth_signing_alg_values_supported: ASYMMETRIC_ALGS,
      revocation_endpoint_auth_signing_alg_values_supported: ASYMMETRIC_ALGS,
      // ID-JAG draft §6: the profile is listed, and then grant_types_supported has jwt-bearer (registered below).
      // Which IdPs are trusted is not disclosed (the draft forbids listing them).
      ...(deps.idJag?.enabled ? { authorization_grant_profiles_supported: [jwtBearer.ID_JAG_PROFILE] } : {}),
      // As an IdP (identity chaining §5, ID-JAG draft §6): the token types token exchange issues for another domain.
      identity_chaining_requested_token_types_supported: [TOKEN_TYPE.idJag],
    },

    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      userinfo: { enabled: true },
      jwtIntrospection: { enabled: true },
      introspection: {
        enabled: true,
        // RFC 7662 §2.1 requires the caller to be authorized; a public client has no credential, so it learns
        // nothing (every answer is `{"active": false}`), which also stops token scanning. A token our own rules
        // have killed (its agent suspended, say) is inactive even though it has not expired.
        async allowedPolicy(ctx, client, token) {
          if (client.clientAuthMethod === 'none') return false;
          // RFC 7662 §4: only a party entitled to the token learns about it (server/introspection-rights.ts).
          if (!introspectionRight(client, token)) {
            ctx.state.inactiveReason = 'the introspecting client is not entitled to this token (RFC 7662 §4)';
            return false;
          }
          const reason = await deps.liveness.inactiveReason(token);
          if (reason) ctx.state.inactiveReason = reason;
          return reason === undefined;
        },
      },
      revocation: {
        enabled: true,
        // RFC 7009 §2.1: a client may revoke only tokens issued to it. The refusal is spoken only to a party that
        // could learn about the token anyway; anyone else gets the 200 an unknown token gets (nothing revoked),
        // so probing token values and token_type_hints reveals nothing (server/introspection-rights.ts).
        async allowedPolicy(_ctx, client, token) {
          if (token.clientId === client.clientId) return true;
          if (client.clientAuthMethod !== 'none' && introspectionRight(client, token)) {
            throw new errors.InvalidRequest('the token was not issued to this client');
          }
          return false;
        },
      },
      registration: {
        enabled: true,
        // Anonymous registration is allowed and then narrowed by enforceRegistrationPolicy; the operator's
        // ADMIN_TOKEN, checked by server/registration-access.ts, lifts the narrowing.
        initialAccessToken: false,
      },
      registrationManagement: { enabled: true, rotateRegistrationAccessToken: true },
      resourceIndicators: {
        enabled: true,
        useGrantedResource: () => true,
        // RFC 9068 §3: a request naming scopes but no resource is for the one resource its scopes refer to
        // (policy/scope-resolution.ts). oidc-provider asks here at the authorization endpoint (before anyone is
        // asked to log in), for our client_credentials and token exchange grants, and, with `oneOf`, when a code
        // or refresh token covers several resources and the token request names none.
        async defaultResource(ctx, _client, oneOf) {
          const requested = apiScopes((ctx.oidc.params?.scope as string | undefined)?.split(' ') ?? [], OIDC_SCOPES);
          if (oneOf) {
            if (!requested.length) return oneOf;
            const granted = new Set([oneOf].flat());
            const decided = defaultResourceFor(requested, (await deps.resources.definingAnyScope(requested)).filter((r) => granted.has(r.identifier)));
            // Undecided: oidc-provider then asks for the one resource this token is for.
            return 'resource' in decided && decided.resource ? decided.resource : oneOf;
          }
          const decided = defaultResourceFor(requested, await deps.resources.definingAnyScope(requested));
          if ('refusal' in decided) throw new errors.InvalidScope(decided.refusal.description, decided.refusal.scope as string);
          return decided.resource;
        },
        async getResourceServerInfo(ctx, resourceIndicator, client) {
          const resource = await deps.resources.get(resourceIndicator);
          if (!resource) {
            throw new errors.InvalidTarget(`resource "${resourceIndicator}" is not registered at this authorization server`);
          }
          // The client's record (policy/client-record.ts) applies to every grant and at the authorization endpoint,
          // before anyone signs in: a resource outside its list is refused, as the grants of ours refuse it.
          checkResourceAllowed(clientRecordOf(client), resource.identifier);
          refuseScopesTheResourceLacks(ctx, resource);
          return {
            scope: (await scopesOffered(ctx, client, resource.scopes)).join(' '),
            audience: resource.identifier,
            accessTokenTTL: resource.accessTokenTtl,
            accessTokenFormat: resource.tokenFormat,
            ...(resource.tokenFormat === 'jwt' ? { jwt: { sign: { alg: resource.signingAlg ?? jwtAccessTokenAlg } } } : {}),
          };
        },
      },
      dPoP: {
        enabled: true,
        nonceSecret: deps.dpopNonceSecret,
        requireNonce: () => deps.dpopRequireNonce,
        allowReplay: false,
      },
      // draft-ietf-oauth-client-id-metadata-document, which MCP prefers to dynamic registration. oidc-provider
      // already counts only a 200 (redirects are not followed), requires client_id to equal the URL, refuses
      // shared-secret methods, caps the document at 5 KiB, caches only successes and refuses special-use
      // addresses at connect time; we add the same limits anonymous registration has.
      clientIdMetadataDocument: {
        enabled: deps.cimd.enabled,
        ack: 'draft-02',
        async allowClient(_ctx, client) {
          // Rights only the operator grants (policies, introspection) cannot come from a document anyone can publish.
          const claimed = OPERATOR_ONLY_METADATA.find((key) => (client.metadata() as Record<string, unknown>)[key] !== undefined);
          if (claimed) throw new errors.InvalidClientMetadata(`${claimed} can only be set by the operator, not in a client metadata document`);
          const problem = metadataDocumentClientProblem(client.metadata() as Parameters<typeof metadataDocumentClientProblem>[0]);
          if (problem) throw new errors.InvalidClientMetadata(problem);
          return true;
        },
        cacheDuration: { min: 30, max: 3600 },
      },
      // Human approval of agent actions: OpenID CIBA with RFC 9396 details of our type (grants/ciba.ts,
      // policy/authorization-details.ts). A token carries the details as approved (RFC 9396 §7), and so does
      // introspection (§9.1).
      ciba: ciba.cibaFeature(deps.ciba),
      richAuthorizationRequests: {
        enabled: true,
        types: { [AGENT_ACTION]: { validate: validateAgentAction } },
        async authorizationDetailsForGrantSource() {
          return undefined;
        },
        async authorizationDetailsForAccessToken(_ctx, _token, source) {
          return (source as { rar?: unknown } | undefined)?.rar as never;
        },
        async authorizationDetailsForIntrospection(_ctx, token) {
          return (token as unknown as { rar?: unknown }).rar as never;
        },
      },
      rpInitiatedLogout: {
        enabled: true,
        async logoutSource(ctx, form) {
          ctx.set(pageHeaders(formTargetOf(ctx.oidc.params?.post_logout_redirect_uri)));
          ctx.body = logoutPage({ host: ctx.host, form });
        },
        async postLogoutSuccessSource(ctx) {
          ctx.set(pageHeaders());
          ctx.body = loggedOutPage({ clientName: ctx.oidc.client?.clientName });
        },
      },
    },
  };

  function enforceRegistrationPolicy(ctx: KoaContextWithOIDC | undefined, metadata: unknown): void {
    const route = ctx?.oidc?.route;
    if (route !== 'registration' && route !== 'client_update') return;
    // Only the agent store makes an agent (its record lives there, with its credentials and lifecycle).
    if ((metadata as { client_kind?: unknown }).client_kind !== undefined) {
      throw new errors.InvalidClientMetadata('client_kind is set by the server: agents are created at /admin/agents');
    }
    const admin = route === 'registration' && deps.isAdminRegistration(ctx!);
    // Policies are the operator's to set (a delegation policy can allow impersonation); a client may not give
    // itself one through anonymous registration or change its own through RFC 7592.
    if (!admin) {
      const current = route === 'client_update' ? (ctx!.oidc.entities.Client as Record<string, unknown> | undefined) : undefined;
      for (const key of OPERATOR_ONLY_METADATA) {
        if (!isDeepStrictEqual((metadata as Record<string, unknown>)[key], current?.[key])) {
          const refusal = new errors.InvalidClientMetadata(`${key} can only be set by the operator, at registration with the initial access token`);
          // A registration only the initial access token allows, sent without one: 401, and the registration
          // middleware adds the Bearer challenge (RFC 7591 §3, RFC 6750 §3.1). An RFC 7592 update is refused as 400.
          if (route === 'registration') refusal.statusCode = 401;
          throw refusal;
        }
      }
    }
    const plainHttp = plainHttpRedirectProblem((metadata as { redirect_uris?: unknown }).redirect_uris);
    if (plainHttp) throw new errors.InvalidClientMetadata(plainHttp);
    if (admin) return;
    // An update through a registration access token (RFC 7592) may not turn a public client into more.
    if (route === 'client_update' && ctx!.oidc.entities.Client?.clientAuthMethod !== 'none') return;
    const problem = anonymousRegistrationProblem(metadata as Parameters<typeof anonymousRegistrationProblem>[0]);
    if (problem) throw new errors.InvalidClientMetadata(problem);
  }

  /**
   * At the authorization endpoint, before anyone signs in: one named resource and only scopes it does not define
   * (policy/scope-resolution.ts). The token endpoint's grants refuse the same through responseScope.
   */
  function refuseScopesTheResourceLacks(ctx: KoaContextWithOIDC, resource: { identifier: string; scopes: string[] }): void {
    const { route, params } = ctx.oidc;
    if (route !== 'authorization' && route !== 'pushed_authorization_request') return;
    if ([params?.resource].flat().filter(Boolean).length !== 1) return;
    const refusal = namedResourceRefusal(apiScopes((params?.scope as string | undefined)?.split(' ') ?? [], OIDC_SCOPES), resource);
    if (refusal) throw new errors.InvalidScope(refusal.description, refusal.scope as string);
  }

  /**
   * The resource's scopes a client may be asked about at the authorization endpoint: for a client with scope
   * patterns, those its own and its roles' patterns allow (the consent page then never offers one it cannot
   * have); one it names that they do not allow is refused. The token endpoint's grants apply the patterns themselves (issuance/pipeline.ts), and a code or refresh
   * token carries only what was granted here, so no other route pays for the roles lookup.
   */
  async function scopesOffered(ctx: KoaContextWithOIDC, client: Parameters<typeof rulesFor>[0], scopes: string[]): Promise<string[]> {
    const route = ctx.oidc?.route;
    if (!clientRecordOf(client).scopePatterns || (route !== 'authorization' && route !== 'pushed_authorization_request')) return scopes;
    const rules = await rulesFor(client, deps);
    const allowed = allowedPatterns(rules)!;
    // Asked for by name and outside the patterns: refused at once (RFC 6749 §4.1.2.1), as the token endpoint does.
    const requested = new Set((ctx.oidc.params?.scope as string | undefined)?.split(' ') ?? []);
    const refused = scopes.find((scope) => requested.has(scope) && !scopeAllowed(scope, allowed));
    if (refused) throw new errors.InvalidScope(`scope "${refused}" is not allowed for this ${clientNoun(rules.record)}`, refused);
    return scopes.filter((scope) => scopeAllowed(scope, allowed));
  }

  /** A resource registered as DPoP-only (RFC 9449) never gets a Bearer token, whatever the grant. */
  async function refuseUnboundTokenForDpopResource(token: { aud?: unknown; jkt?: string }): Promise<void> {
    if (token.jkt || typeof token.aud !== 'string') return;
    const resource = await deps.resources.get(token.aud);
    if (resource?.dpopRequired) {
      throw new errors.InvalidRequest(`resource "${resource.identifier}" accepts only DPoP-bound access tokens: send a DPoP proof (RFC 9449)`);
    }
  }

  function isRecordMember(key: string): key is RecordMember {
    return (RECORD_MEMBERS as string[]).includes(key);
  }

  /** As for an agent (server/agent-input.ts): defaults the patterns do not allow could never be used. */
  function checkDefaultScopesMetadata(defaults: string[], patterns: unknown): void {
    if (!Array.isArray(patterns)) throw new errors.InvalidClientMetadata('default_scopes: needs scope_patterns, which they must be inside');
    const [outside] = scopesNotAllowed(defaults, patterns as string[]);
    if (outside !== undefined) throw new errors.InvalidClientMetadata(`default_scopes: "${outside}" is not allowed by scope_patterns`);
  }

  function checkMetadata(key: string, schema: z.ZodType, value: unknown): void {
    const parsed = schema.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new errors.InvalidClientMetadata(`${[key, ...issue.path].join('.')}: ${issue.message}`);
    }
  }

  // A user's token (authorization code, refresh, CIBA) names the roles the user holds directly, as an agent's does
  // (issuance/pipeline.ts): resource servers read `roles` the same way whoever the subject is. A token whose
  // grant already set them (an agent's own) keeps its own.
  async function userRoles(token: { accountId?: string; extra?: Record<string, unknown> }): Promise<{ roles: string[] } | undefined> {
    if (!token.accountId || token.extra?.roles) return undefined;
    const { roles } = await deps.roles.grantsOf({ type: 'user', id: token.accountId });
    return roles.length ? { roles } : undefined;
  }

  const provider = new Provider(deps.issuer, configuration);

  // Client secrets are stored hashed (adapters/client-store.ts); this is the comparison oidc-provider exposes
  // for that purpose (its maintainers' recommended extension point). An agent in a rotation's grace period has
  // more than one valid secret.
  provider.Client.prototype.compareClientSecret = async function compareClientSecret(this: { clientId: string; clientSecret?: string }, actual: string) {
    // Where the client is found decides which secrets count, never the spelling of its id.
    const agent = await deps.agents.get(this.clientId);
    const stored = agent ? undefined : await deps.registeredClients?.record(this.clientId);
    const hashes = agent ? agentSecretHashes(agent) : stored ? storedClientSecretHashes(stored) : typeof this.clientSecret === 'string' ? [this.clientSecret] : [];
    const matches = await Promise.all(hashes.map((hash) => deps.clientSecretMatches(hash, actual)));
    return matches.includes(true);
  };

  registerGrants(provider, deps);

  return provider;
}
