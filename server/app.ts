// The HTTP stack, top to bottom. oidc-provider is itself the Koa application; `provider.use` puts our
// middleware in front of its router, so each request passes these in order and then, if no route of ours
// answered, reaches the provider's own endpoints.
import type { Tracer } from '@opentelemetry/api';
import type { Context, Middleware, Next } from 'koa';
import compose from 'koa-compose';
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { OwnTokenVerifier } from '../keys/own-token-verifier.ts';
import type { AgentStore } from '../adapters/agent-store.ts';
import type { AuditLog } from '../adapters/audit-log.ts';
import type { Database } from '../adapters/database.ts';
import type { Principal, RoleStore } from '../adapters/role-store.ts';
import { StorageUnavailable } from '../adapters/dependency-faults.ts';
import type { ResourceStore } from '../adapters/resource-store.ts';
import type { UserStore } from '../adapters/user-store.ts';
import { requireAdminCredential } from './admin-scope.ts';
import { domainErrorAnswers } from './admin-domain-errors.ts';
import { auditIntrospectionAndRevocation, awaitIssuedTokenAudit } from './audit-events.ts';
import { discoveryAliases, serveDiscoveryAliases } from './discovery-aliases.ts';
import { accessLog } from './access-log.ts';
import { pinRequestOrigin, publishedDocumentCaching } from './issuer-origin.ts';
import { isClientDisconnect, logDisconnect } from './client-disconnect.ts';
import { HttpError, NotFound } from './http-error.ts';
import { jwtAccessTokenLookup, type JwtRecordIds } from './jwt-access-token-records.ts';
import { lineLogger, type Logger } from './logger.ts';
import type { ServerMetrics } from './metrics.ts';
import { observeRequests } from './observe-requests.ts';
import { requestMetrics } from './request-metrics.ts';
import { requestTracing } from './tracing.ts';
import { clientThrottling, registrationThrottling } from './throttling.ts';
import { clientAuthenticationAnswers } from './rfc-answers.ts';
import { registrationAnswers } from './registration-answers.ts';
import { validCredentials } from '../adapters/agent-store.ts';
import { clientSecretMatches, type PostgresClientAdapter } from '../adapters/client-store.ts';
import type { Throttles } from './throttles.ts';
import { OIDC_SCOPES } from './provider.ts';
import { hideStoredClientSecrets, registrableScopes, registrationAccess } from './registration-access.ts';
import { adminAgentRoutes } from './routes/admin-agents.ts';
import { adminClientRoutes } from './routes/admin-clients.ts';
import { adminAuditRoutes } from './routes/admin-audit.ts';
import { adminKeyRoutes } from './routes/admin-keys.ts';
import { adminIdJagAudienceRoutes } from './routes/admin-id-jag-audiences.ts';
import type { IdJagAudienceStore } from '../adapters/id-jag-audience-store.ts';
import type { SigningAlg } from '../keys/signing-keys.ts';
import { adminResourceRoutes } from './routes/admin-resources.ts';
import { adminRoleRoutes } from './routes/admin-roles.ts';
import { adminOrganizationRoutes } from './routes/admin-organizations.ts';
import type { OrganizationStore } from '../adapters/organization-store.ts';
import type { OrganizationLookups } from '../issuance/token-organization.ts';
import { adminApprovalRoutes } from './routes/admin-approvals.ts';
import type { ApprovalStore } from '../adapters/approval-store.ts';
import { protectedResourceMetadataRoutes } from './routes/protected-resource-metadata.ts';
import { adminUserRoutes } from './routes/admin-users.ts';
import { accessEvaluationRoutes, AUTHZEN_METADATA_PATH } from './routes/access-evaluation.ts';
import type { AccessFacts } from './access-facts.ts';
import type { PresentedTokens } from '../tokens/presented-tokens.ts';
import { healthRoutes, type ReadinessChecks } from './routes/health.ts';
import { interactionRoutes } from './routes/interactions.ts';
import { approvalsInboxRoutes, type InboxSessionStore } from './routes/approvals-inbox.ts';
import { metricsRoutes } from './routes/metrics.ts';

export interface AppDependencies {
  provider: Provider;
  issuer: string;
  adminToken: string;
  ownTokens: OwnTokenVerifier;
  jwtRecords: JwtRecordIds;
  users: UserStore;
  resources: ResourceStore;
  agents: AgentStore;
  audit: AuditLog;
  /** The durable database, for the admin routes over records no store owns (signing keys). */
  db: Database;
  csrfKey: string;
  readiness: ReadinessChecks;
  logger: Logger;
  metrics: ServerMetrics;
  /** Bearer token /metrics requires; undefined: open. */
  metricsToken: string | undefined;
  /** Set when tracing is on. */
  tracer?: Tracer;
  /** The authorization servers we issue ID-JAGs for (/admin/id-jag-audiences). */
  idJagAudiences: IdJagAudienceStore;
  /** The abuse limits (RATE_LIMIT_*). */
  throttles: Throttles;
  /** Organizations and cross-organization delegation (/admin/organizations). */
  organizations: OrganizationStore;
  /** What the isolation rules read of a client and a user: the sign-in refuses what the token endpoint would. */
  organizationLookups: OrganizationLookups;
  /** Roles and their holders (/admin/roles). */
  roles: RoleStore;
  /** The organization of a user or an operator-registered client, undefined for none (only they hold roles). */
  principalOrganization: (principal: Principal) => Promise<string | undefined>;
  /** The JWS algorithms we hold signing keys for: what a resource's signing_alg may name. */
  signingAlgs: readonly SigningAlg[];
  /** Our own access tokens, as the permission check verifies its callers' (and those in `context`). */
  presented: Pick<PresentedTokens, 'ownAccessToken'>;
  /** What the permission check (AuthZEN) reads about subjects and tokens. */
  accessFacts: AccessFacts;
  /** Approvals of backchannel requests and clients' approval tiers (/admin/approvals, /admin/approval-tiers). */
  approvals: ApprovalStore;
  /** The organization of a client (agent or registered), undefined for none. */
  clientOrganization: (clientId: string) => Promise<string | undefined>;
  /** Operator-registered clients with their lifecycle (/admin/clients). */
  registeredClients: PostgresClientAdapter;
  /** The approvals inbox's sign-in sessions (Redis or memory). */
  inboxSessions: InboxSessionStore;
}

export function composeApp(deps: AppDependencies): Provider {
  const { provider } = deps;
  const path = (route: string) => new URL(provider.urlFor(route)).pathname;

  const registrationPath = path('registration');
  const introspectionPath = path('introspection');
  const revocationPath = path('revocation');
  const tokenPath = path('token');
  const parPath = path('pushed_authorization_request');

  // Run in front of oidc-provider's own endpoints of the same paths.
  const registration = compose<Context>([
    registrationAnswers(deps.issuer),
    registrationAccess({ adminToken: deps.adminToken, registrationPath }),
    registrationThrottling(deps.throttles, registrationPath),
    hideStoredClientSecrets(registrationPath),
    registrableScopes({ registrationPath, supportedScopes: OIDC_SCOPES }),
  ] as Middleware[]);
  const throttleClients = clientThrottling(deps.throttles);
  // Inside the client limits, which count only the provider's refusals of a client it knows.
  const rfcAnswers = clientAuthenticationAnswers({
    issuer: deps.issuer,
    paths: new Set([tokenPath, introspectionPath, revocationPath, parPath]),
    audit: deps.audit,
    async inactiveClient(clientId) {
      // Where the client is found decides the rule, never the spelling of its id.
      const agent = await deps.agents.get(clientId);
      if (agent) {
        if (agent.status === 'active') return undefined;
        return { status: agent.status, secretHashes: validCredentials(agent).flatMap((credential) => (credential.secretHash ? [credential.secretHash] : [])) };
      }
      const stored = await deps.registeredClients.record(clientId);
      if (!stored || stored.status === 'active') return undefined;
      return { status: stored.status, secretHashes: stored.secretHash ? [stored.secretHash] : [] };
    },
    secretMatches: clientSecretMatches,
  }) as Middleware;
  const tokenChecks = compose<Context>([
    throttleClients,
    rfcAnswers,
    jwtAccessTokenLookup({ verifier: deps.ownTokens, records: deps.jwtRecords, paths: [introspectionPath, revocationPath] }),
    auditIntrospectionAndRevocation(deps.audit, { introspection: introspectionPath, revocation: revocationPath }),
  ] as Middleware[]);
  const discoveryAlias = serveDiscoveryAliases(deps.issuer);

  // Our own routes.
  const health = healthRoutes(deps.readiness);
  const interactions = interactionRoutes({ provider, users: deps.users, csrfKey: deps.csrfKey, audit: deps.audit, throttle: deps.throttles.login, organizations: deps.organizationLookups });
  const adminUsers = adminUserRoutes({ users: deps.users, agents: deps.agents, roles: deps.roles, audit: deps.audit });
  const adminResources = adminResourceRoutes({
    resources: deps.resources,
    limitedTo: async (identifier, options) => [...await deps.agents.idsLimitedTo(identifier, options), ...await deps.registeredClients.idsLimitedTo(identifier, options)].slice(0, options.limit),
    audit: deps.audit,
    issuer: deps.issuer,
    signingAlgs: deps.signingAlgs,
  });
  const adminAgents = adminAgentRoutes({ agents: deps.agents, resources: deps.resources, audit: deps.audit, users: deps.users, organizations: deps.organizations, roles: deps.roles });
  const adminClients = adminClientRoutes({ agents: deps.agents, clients: deps.registeredClients, audit: deps.audit, resources: deps.resources, roles: deps.roles });
  const adminAudit = adminAuditRoutes(deps.audit);
  const adminKeys = adminKeyRoutes(deps.db);
  const adminIdJagAudiences = adminIdJagAudienceRoutes(deps.idJagAudiences, deps.issuer);
  const adminOrganizations = adminOrganizationRoutes({ organizations: deps.organizations, audit: deps.audit });
  const adminRoles = adminRoleRoutes({ roles: deps.roles, audit: deps.audit, principalOrganization: deps.principalOrganization, organizations: deps.organizations });
  const adminApprovals = adminApprovalRoutes({ provider, approvals: deps.approvals, users: deps.users, audit: deps.audit, clientOrganization: deps.clientOrganization, logger: deps.logger });
  const admin = compose<Context>([
    // ADMIN_TOKEN, or an organization's credential confined to that organization's users, agents and resources.
    requireAdminCredential({ adminToken: deps.adminToken, credentialFor: (token) => deps.organizations.credentialFor(token) }),
    noIdsWithNul,
    domainErrorAnswers(),
    ...[adminUsers, adminResources, adminAgents, adminClients, adminAudit, adminKeys, adminIdJagAudiences, adminRoles, adminOrganizations, adminApprovals].flatMap((router) => [router.routes(), router.allowedMethods()]),
  ] as Middleware[]);
  const ours = compose<Context>([health.routes(), interactions.routes()] as Middleware[]);
  const inbox = approvalsInboxRoutes({
    provider, approvals: deps.approvals, users: deps.users, audit: deps.audit, throttle: deps.throttles.login, sessions: deps.inboxSessions,
    csrfKey: deps.csrfKey, secureCookies: deps.issuer.startsWith('https:'), logger: deps.logger,
  });
  const metrics = metricsRoutes(deps.metrics, deps.metricsToken).routes() as Middleware;
  const resourceMetadata = protectedResourceMetadataRoutes({ issuer: deps.issuer, resources: deps.resources, ownScopes: OIDC_SCOPES.filter((scope) => scope !== 'offline_access') }).routes() as Middleware;

  const accessEvaluationRouter = accessEvaluationRoutes({ issuer: deps.issuer, provider, adminToken: deps.adminToken, presented: deps.presented, facts: deps.accessFacts, audit: deps.audit });
  const accessEvaluation = compose<Context>([accessEvaluationRouter.routes(), accessEvaluationRouter.allowedMethods()] as Middleware[]);

  pinRequestOrigin(provider, deps.issuer);
  const discoveryPaths = new Set(['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration', ...discoveryAliases(deps.issuer).keys()]);

  provider.use(observeRequests([accessLog(deps.logger), requestMetrics(deps.metrics), ...(deps.tracer ? [requestTracing(deps.tracer)] : [])]));
  provider.use(errorsAsJson(deps.logger));
  provider.use(publishedDocumentCaching({ metadata: (requested) => discoveryPaths.has(requested), jwks: path('jwks') }));
  // One dispatch by path rather than a chain every request walks: the token endpoint, the busiest, meets nothing of
  // ours beyond the request observation, error rendering, the client limits and its audit, and each group below
  // only ever acts under its own paths.
  const tokenEndpoint = (ctx: Context, next: Next) => throttleClients(ctx, () => rfcAnswers(ctx, () => awaitIssuedTokenAudit(ctx as unknown as KoaContextWithOIDC, next)));
  provider.use((ctx, next) => {
    const requested = ctx.path;
    if (requested === tokenPath) return tokenEndpoint(ctx, next);
    if (requested === introspectionPath || requested === revocationPath) return tokenChecks(ctx, next);
    if (requested === parPath) return rfcAnswers(ctx, next);
    if (requested === registrationPath || requested.startsWith(`${registrationPath}/`)) return registration(ctx, next);
    if (requested === '/admin' || requested.startsWith('/admin/')) return admin(ctx, next);
    if (requested === '/healthz' || requested === '/readyz' || requested.startsWith('/interaction/')) return ours(ctx, next);
    if (requested === '/approvals' || requested.startsWith('/approvals/')) return inbox(ctx, next);
    if (requested === '/metrics') return metrics(ctx, next);
    if (requested === AUTHZEN_METADATA_PATH || requested.startsWith('/access/v1/')) return accessEvaluation(ctx, next);
    if (requested.startsWith('/.well-known/oauth-protected-resource') || requested.startsWith('/resources/')) return resourceMetadata(ctx, next);
    return discoveryAlias(ctx, next);
  });

  return provider;
}

// PostgreSQL text cannot hold U+0000, so an id carrying one names nothing (rather than failing in a query).
function noIdsWithNul(ctx: Context, next: Next): Promise<void> {
  if (/%00/i.test(ctx.path)) throw new NotFound('record');
  return next();
}

/**
 * Our routes throw HttpError, and StorageUnavailable when Redis or PostgreSQL cannot be reached (503, logged
 * once per outage where it is detected); anything else is a bug and becomes a 500 without internals (the stack
 * goes to the log, never to the client). oidc-provider renders its own errors before they reach this point.
 * An unknown path is a JSON 404, not Koa's plain-text one.
 */
function errorsAsJson(logger: Logger) {
  return async function renderErrors(ctx: Context, next: Next): Promise<void> {
    try {
      await next();
      // oidc-provider answers an error of its own (a body cut off mid-read) with 500 after the disconnect
      // was logged; nobody reads it, and it is not a server failure.
      if (ctx.state.disconnectLogged && ctx.status >= 500) {
        ctx.status = 400;
        ctx.body = { error: 'invalid_request', error_description: 'the client closed the connection before the request was complete' };
      }
      if (ctx.status === 404 && ctx.body == null) {
        ctx.status = 404;
        ctx.body = { error: 'not_found', error_description: `no endpoint at ${ctx.method} ${ctx.path}` };
      }
    } catch (error) {
      if (error instanceof HttpError) {
        ctx.status = error.status;
        ctx.set(error.headers);
        ctx.body = { error: error.error, error_description: error.message, ...(error.field ? { field: error.field } : {}) };
        return;
      }
      if (error instanceof StorageUnavailable) {
        ctx.status = error.statusCode;
        ctx.body = { error: error.error, error_description: error.error_description };
        return;
      }
      if (isClientDisconnect(error, ctx)) {
        // Nobody is left to read an answer; 400 keeps a disconnect out of the 5xx counts.
        logDisconnect(lineLogger(logger, 'info'), ctx, error);
        ctx.status = 400;
        ctx.body = { error: 'invalid_request', error_description: 'the client closed the connection before the request was complete' };
        return;
      }
      logger.error({ err: error, method: ctx.method, path: ctx.path }, 'request failed');
      ctx.status = 500;
      ctx.body = { error: 'server_error', error_description: 'the server failed to handle the request' };
    }
  };
}
