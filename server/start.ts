// Wires storage, keys and the HTTP app together and listens. Used by `npm start` (server/main.ts), by the
// tests (one or several instances in or out of process) and by the benchmark.
import { once, type EventEmitter } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { trace, type TracerProvider } from '@opentelemetry/api';
import type { JSONWebKeySet, JWK } from 'jose';
import type Provider from 'oidc-provider';
import { AuditLog } from '../adapters/audit-log.ts';
import { localAuditTrail, RedisAuditStream, type AuditTrail } from '../adapters/audit-stream.ts';
import { LocalChangeFeed, RedisChangeFeed, type ChangeFeed } from '../adapters/change-feed.ts';
import { ReadThroughCache } from '../adapters/read-through-cache.ts';
import { ApprovalStore } from '../adapters/approval-store.ts';
import { RateCounter } from '../adapters/rate-limit-counters.ts';
import { RoleStore } from '../adapters/role-store.ts';
import { OrganizationStore } from '../adapters/organization-store.ts';
import { AgentStore } from '../adapters/agent-store.ts';
import { ClientAdapter } from '../adapters/client-adapter.ts';
import { PostgresClientAdapter, clientSecretMatches } from '../adapters/client-store.ts';
import { openDatabase, type Database } from '../adapters/database.ts';
import { closeRedis, redisFaultOptions } from '../adapters/dependency-faults.ts';
import { DependencyState, watchRedis } from '../adapters/dependency-state.ts';
import { memoryAdapterFactory, type MemoryAdapter } from '../adapters/memory-adapter.ts';
import { redisAdapterFactory, type RedisAdapter } from '../adapters/redis-adapter.ts';
import { connectRedis, type RedisClient } from '../adapters/redis-connection.ts';
import { ResourceStore } from '../adapters/resource-store.ts';
import { UserStore } from '../adapters/user-store.ts';
import { clockTolerance } from '../config/defaults.ts';
import type { Settings } from '../config/settings.ts';
import { ensureServerSecrets } from '../keys/server-secrets.ts';
import { ensureSigningKeys, heldSigningAlgs, loadSigningKeys } from '../keys/signing-keys.ts';
import { OwnTokenVerifier } from '../keys/own-token-verifier.ts';
import { TokenSigner } from '../keys/token-signer.ts';
import { approvalWebhook } from './approval-webhook.ts';
import { TokenLineage, type TokenRef } from '../adapters/token-lineage.ts';
import { PresentedTokens } from '../tokens/presented-tokens.ts';
import { TrustedIssuers } from '../tokens/trusted-issuers.ts';
import { composeApp } from './app.ts';
import { AccessFacts } from './access-facts.ts';
import { createThrottles } from './throttles.ts';
import { IdJagVerifier } from '../tokens/id-jag-verifier.ts';
import { IdJagAudienceStore } from '../adapters/id-jag-audience-store.ts';
import { scryptGate } from '../adapters/scrypt-gate.ts';
import { auditProviderEvents } from './audit-events.ts';
import { drainable } from './drain.ts';
import { storableClients } from './storable-text.ts';
import { logAppErrors } from './client-disconnect.ts';
import { createProvider } from './provider.ts';
import { JwtRecordIds } from './jwt-access-token-records.ts';
import { isAdminRegistration } from './registration-access.ts';
import { TokenLiveness } from '../tokens/token-liveness.ts';
import { createLogger, lineLogger, type Logger } from './logger.ts';
import { ServerMetrics } from './metrics.ts';
import { logProviderErrors } from './provider-logging.ts';
import { countTokenOutcomes } from './request-metrics.ts';
import { tracedAdapter, tracerFrom } from './tracing.ts';

export interface RunningServer {
  url: string;
  issuer: string;
  storage: { sessions: 'redis' | 'memory'; database: 'postgres' | 'embedded' };
  provider: Provider;
  db: Database;
  users: UserStore;
  resources: ResourceStore;
  agents: AgentStore;
  audit: AuditLog;
  logger: Logger;
  /** This instance's metrics (GET /metrics); e.g. registerAuditBacklog for another audit queue. */
  metrics: ServerMetrics;
  /** Stops accepting requests, lets in-flight ones finish, flushes audit events and closes storage. */
  close(): Promise<void>;
}

export interface StartOptions {
  /** Listen address; loopback unless told otherwise. */
  host?: string;
  /** Where this instance logs; a JSON logger on stdout at LOG_LEVEL unless given. */
  logger?: Logger;
  /** Say each slow start-up step (opening storage, creating keys) at info even when LOG_LEVEL is quieter: `npm start`. */
  announceProgress?: boolean;
  /** Traces to this provider (tests: an in-memory exporter); otherwise to the global one when TRACING is on. */
  tracerProvider?: TracerProvider;
}

export async function startServer(settings: Settings, options: StartOptions = {}): Promise<RunningServer> {
  const logger = options.logger ?? createLogger({ level: settings.logLevel });
  const metrics = new ServerMetrics();
  // Start-up progress is written at info whatever LOG_LEVEL says (but silent), as main.ts does its start-up lines.
  const progress = options.announceProgress && settings.logLevel !== 'silent' ? logger.child({}, { level: 'info' }) : logger.child({}, { level: 'warn' });
  const tracerProvider = options.tracerProvider ?? (settings.tracing === 'otlp' ? trace.getTracerProvider() : undefined);
  const tracer = tracerProvider && tracerFrom(tracerProvider);
  const timeoutMs = settings.dependencyTimeoutMs;
  scryptGate.configure(settings.scrypt);
  const databaseState = new DependencyState('database', lineLogger(logger, 'warn', { dependency: 'database' }));
  metrics.watchDependency(databaseState);
  // A first start on embedded storage creates the database (PGlite), which takes seconds: say so before, not after.
  const startedAt = Date.now();
  progress.info(settings.databaseUrl ? 'connecting to PostgreSQL and applying migrations' : `opening the embedded database in ${settings.dataDir} (a first start creates it, which takes several seconds)`);
  const database = await openDatabase({ url: settings.databaseUrl, dataDir: settings.dataDir, timeoutMs, state: databaseState, log: lineLogger(logger, 'error') });
  const redis = settings.redis ? connectRedis(settings.redis, {
    enableAutoPipelining: true,
    // ioredis groups auto-pipelined commands by the slot of their first argument; these two name their stream
    // key later (XGROUP CREATE <key>, XREADGROUP … STREAMS <key>), so on a Cluster they would join a batch bound
    // for another node and fail it, with whatever token writes shared the batch.
    autoPipeliningIgnoredCommands: ['xgroup', 'xreadgroup'],
    ...redisFaultOptions(timeoutMs),
  }) : undefined;
  const redisState = new DependencyState('redis', lineLogger(logger, 'warn', { dependency: 'redis' }));
  if (redis) metrics.watchDependency(redisState);
  const unwatchRedis = redis ? watchRedis(redis, redisState) : () => undefined;
  const server: Server = createServer();
  const drain = drainable(server);
  const closeables: (() => Promise<void>)[] = [];
  try {
    progress.info(`database ready after ${Date.now() - startedAt} ms`);
    const createdKeys = await ensureSigningKeys(database.db);
    if (createdKeys.length > 0) progress.info(`created signing keys for ${createdKeys.join(', ')}`);
    const signingKeys = await loadSigningKeys(database.db);
    const secrets = await ensureServerSecrets(database.db);

    // The issuer may depend on the port actually bound (PORT=0 in tests), so listen before configuring.
    server.listen(settings.port, options.host ?? defaultHost(settings));
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    const issuer = settings.issuer ?? `http://localhost:${port}`;
    const trustDomain = settings.trustDomain ?? issuer;

    const untracedModels: (name: string) => MemoryAdapter | RedisAdapter = redis
      ? redisAdapterFactory(redis, { prefix: settings.redisKeyPrefix, clockTolerance })
      : memoryAdapterFactory({ clockTolerance });
    const storageSystem = redis ? 'redis' : 'memory';
    const models: typeof untracedModels = tracer ? (name) => tracedAdapter(untracedModels(name), name, storageSystem, tracer) : untracedModels;
    const changes: ChangeFeed = redis ? new RedisChangeFeed(redis, settings.redisKeyPrefix) : new LocalChangeFeed();
    closeables.push(() => changes.close());
    const clients = new PostgresClientAdapter(database.db, new ReadThroughCache('clients', changes));
    const users = new UserStore(database.db, new ReadThroughCache('user-cut-offs', changes));
    const resources = new ResourceStore(database.db, new ReadThroughCache('resources', changes), new ReadThroughCache('resource-catalogue', changes));
    const idJagAudiences = new IdJagAudienceStore(database.db);
    const agents = new AgentStore(database.db, new ReadThroughCache('agents', changes));
    const clientAdapter = new ClientAdapter(clients, agents);
    const clientModel = storableClients(clientAdapter);
    const approvals = new ApprovalStore(database.db, new ReadThroughCache('approval-policies', changes));
    const organizations = new OrganizationStore(database.db);
    // What the isolation rules read of a token's parties (issuance/token-organization.ts), at issuance and at CIBA.
    const externalSubjects = settings.trustedIssuers.flatMap((config) => (config.orgId ? [{ prefix: config.subjectPrefix, orgId: config.orgId }] : []));
    const organizationLookups = { agents, users, resources, organizations, registeredClients: clients, externalSubjects };
    const roles = new RoleStore(database.db, { graph: new ReadThroughCache('role-graph', changes), held: new ReadThroughCache('role-holders', changes) });
    // Not waiting for the change feed: the caches read the database until it is live. Commands are refused
    // while Redis is not connected, though, so the first requests get a moment for the connection to open.
    if (redis) await connected(redis, timeoutMs);
    const audit = new AuditLog(database.db, { maxBatch: 2000, log: lineLogger(logger, 'error', { component: 'audit' }) });
    // With Redis, events reach PostgreSQL through a stream every instance relays (no instance owns undelivered rows).
    const trail: AuditTrail = redis
      ? new RedisAuditStream(redis, audit, { prefix: settings.redisKeyPrefix, log: lineLogger(logger, 'warn', { component: 'audit' }) })
      : localAuditTrail(audit);
    metrics.registerAuditBacklog(() => trail.backlog());

    const ownTokens = new OwnTokenVerifier(issuer, publicJwks(signingKeys));
    const jwtRecords = new JwtRecordIds(secrets.jwtRecordKey);
    const lineage = new TokenLineage(models('TokenLineage'));
    // The liveness rules look up ancestor tokens through the provider, which is built just below.
    let provider!: Provider;
    const liveness = new TokenLiveness(agents, lineage, (ref: TokenRef) =>
      ref.kind === 'AccessToken' ? provider.AccessToken.find(ref.id) : provider.ClientCredentials.find(ref.id),
      { roles, registeredClient: (clientId) => clients.record(clientId), userCutOff: (userId) => users.tokensInvalidBefore(userId) });
    // An issuer trusted for ID-JAGs only (no audiences of its own) has no tokens token exchange accepts.
    const presented = new PresentedTokens({ ownTokens, jwtRecords, trusted: new TrustedIssuers(settings.trustedIssuers.filter((config) => config.audiences.length)), liveness, lineage, trustDomain, agents });
    provider = createProvider({
      issuer,
      adapter: (name) => (name === 'Client' ? clientModel : models(name)) as never,
      users,
      resources,
      organizations: organizationLookups,
      agents,
      roles,
      liveness,
      lineage,
      presented,
      idJag: new IdJagVerifier(settings.trustedIssuers, issuer),
      idJagAudiences,
      delegationDefaults: settings.delegation,
      transactionTokens: { trustDomain, signer: new TokenSigner(signingKeys), ...settings.transactionTokens },
      cimd: settings.cimd,
      signingKeys,
      cookieKeys: secrets.cookieKeys,
      dpopNonceSecret: secrets.dpopNonceSecret,
      jwtRecords,
      dpopRequireNonce: settings.dpopRequireNonce,
      isAdminRegistration,
      clientSecretMatches,
      registeredClients: clients,
      sessionTtl: settings.sessionTtl,
      ciba: {
        users,
        agents,
        roles,
        approvals,
        audit,
        polls: new RateCounter('ciba-poll', { points: 1, window: settings.cibaPollInterval, block: 0 }, { redis, prefix: settings.redisKeyPrefix }),
        pollInterval: settings.cibaPollInterval,
        organizations: organizationLookups,
        ...(settings.approvalWebhookUrl ? {
          pending: approvalWebhook({ url: settings.approvalWebhookUrl, issuer, signer: new TokenSigner(signingKeys), alg: heldSigningAlgs(signingKeys)[0], logger }),
        } : {}),
      },
    });
    provider.proxy = settings.trustProxy;
    auditProviderEvents(provider, trail);
    countTokenOutcomes(provider, metrics);
    logProviderErrors(provider, logger);
    // Koa's own `error` event (oidc-provider's types list only its events); without a listener Koa prints stacks.
    (provider as unknown as EventEmitter).on('error', logAppErrors(lineLogger(logger, 'error')));

    // Where the id is found decides what it is: the agent registry, then the registered clients.
    const clientOrganization = async (clientId: string) => (await agents.get(clientId))?.orgId ?? (await clients.record(clientId))?.orgId;
    composeApp({
      provider,
      issuer,
      adminToken: settings.adminToken,
      ownTokens,
      jwtRecords,
      users,
      resources,
      agents,
      audit,
      db: database.db,
      csrfKey: secrets.cookieKeys[0],
      readiness: {
        database: () => database.ping(),
        ...(redis ? { redis: () => redis.ping() } : {}),
      },
      logger,
      metrics,
      metricsToken: settings.metricsToken,
      tracer,
      idJagAudiences,
      throttles: createThrottles(settings.rateLimits, { redis, prefix: settings.redisKeyPrefix }),
      organizations,
      organizationLookups,
      roles,
      principalOrganization: async (principal) => principal.type === 'user' ? (await users.findById(principal.id))?.orgId : clientOrganization(principal.id),
      signingAlgs: heldSigningAlgs(signingKeys),
      presented,
      accessFacts: new AccessFacts({
        provider, agents, users, roles, resources, presented, delegationDefaults: settings.delegation, findClient: (clientId) => clientAdapter.find(clientId),
      }),
      approvals,
      clientOrganization,
      registeredClients: clients,
      inboxSessions: models('ApprovalInboxSession') as never,
    });
    server.on('request', provider.callback());

    let closing: Promise<void> | undefined;
    return {
      url: `http://127.0.0.1:${port}`,
      issuer,
      storage: { sessions: redis ? 'redis' : 'memory', database: database.mode },
      provider,
      db: database.db,
      users,
      resources,
      agents,
      audit,
      logger,
      metrics,
      close() {
        closing ??= (async () => {
          await drain(settings.shutdownIdleGraceMs);
          await trail.close();
          for (const close of closeables) await close();
          unwatchRedis();
          if (redis) await closeRedis(redis);
          await database.close();
        })();
        return closing;
      },
    };
  } catch (error) {
    server.close();
    for (const close of closeables) await close().catch(() => undefined);
    unwatchRedis();
    redis?.disconnect();
    await database.close();
    throw error;
  }
}

function connected(redis: RedisClient, timeoutMs: number): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    redis.once('ready', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

function defaultHost(settings: Settings): string {
  // In a container the server must be reachable from outside; on a developer's machine only from loopback.
  return settings.nodeEnv === 'production' ? '0.0.0.0' : '127.0.0.1';
}

function publicJwks(privateKeys: JWK[]): JSONWebKeySet {
  const privateMembers = new Set(['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k']);
  return { keys: privateKeys.map((jwk) => Object.fromEntries(Object.entries(jwk).filter(([key]) => !privateMembers.has(key)))) };
}
