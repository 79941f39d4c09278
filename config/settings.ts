// Typed settings from the environment, validated once at start. A bad value stops the process with one line
// naming the variable; nothing else in the code reads process.env.
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { z } from 'zod';
import { delegationDefaults, dependencyTimeoutMs, lifetimes, redisKeyPrefix, transactionTokenDefaults } from './defaults.ts';
import { quotableValue, withoutCredentials } from './quoted-value.ts';
import { parseRedisUrl, type RedisTarget } from './redis-url.ts';
import { parseTrustedIssuers, type TrustedIssuerConfig } from './trusted-issuers.ts';
import { rateLimitsFrom, type RateLimits } from './rate-limits.ts';
import { scryptGateDefaults, type ScryptGateLimits } from '../adapters/scrypt-gate.ts';

export interface Settings {
  nodeEnv: 'development' | 'production' | 'test';
  port: number;
  /** Undefined when ISSUER is unset: the issuer is then http://localhost:<the port actually bound>. */
  issuer: string | undefined;
  /** Undefined when TRUST_DOMAIN is unset: the trust domain is then the issuer. */
  trustDomain: string | undefined;
  /** The Redis deployment REDIS_URL names (one server, a Cluster, or Sentinel); undefined when unset. */
  redis: RedisTarget | undefined;
  databaseUrl: string | undefined;
  /** Prefix of every Redis key we write, so several deployments can share one Redis. */
  redisKeyPrefix: string;
  /** Milliseconds a Redis or PostgreSQL call may take before the request is answered 503 temporarily_unavailable. */
  dependencyTimeoutMs: number;
  /** On SIGTERM, how long idle keep-alive connections stay open for one last request (answered `Connection: close`). */
  shutdownIdleGraceMs: number;
  adminToken: string;
  /** True when ADMIN_TOKEN was not set and one was generated for this development run. */
  adminTokenGenerated: boolean;
  dataDir: string;
  /** Trust X-Forwarded-* from a TLS-terminating load balancer (DPoP `htu` and issuer URLs need it there). */
  trustProxy: boolean;
  /** RFC 9449 §8: require a server-provided DPoP nonce on every proof. */
  dpopRequireNonce: boolean;
  /** Token exchange (RFC 8693) defaults; clients and agents may carry overrides. */
  delegation: { maxDepth: number; humanRootRequired: boolean; impersonation: boolean };
  /** Issuers whose JWTs token exchange accepts as subject (and actor) tokens. */
  trustedIssuers: TrustedIssuerConfig[];
  /** Client ID Metadata Documents (MCP's preferred client identification). */
  cimd: { enabled: boolean; allowPrivateAddresses: boolean };
  /** Transaction tokens: lifetime in seconds; largest request_context / request_details (and rctx / tctx) in bytes. */
  transactionTokens: { lifetime: number; maxContextBytes: number };
  /** Least severe level written to the JSON log (pino levels; `silent` writes nothing). */
  logLevel: LogLevel;
  /** Bearer credential /metrics requires; undefined: /metrics is open (keep it off the public network). */
  metricsToken: string | undefined;
  /** `otlp`: a span per request (and storage call) exported over OTLP/HTTP, configured by the OTEL_* variables. */
  tracing: 'off' | 'otlp';
  /** Seconds a sign-in (the `_session` cookie) lasts. */
  sessionTtl: number;
  /** CIBA §7.3 `interval`: seconds a client waits between polls of a backchannel request (CIBA_POLL_INTERVAL). */
  cibaPollInterval: number;
  /** An https URL told of every approval waiting for a person (APPROVAL_WEBHOOK_URL); undefined: none. */
  approvalWebhookUrl: string | undefined;
  /** Abuse limits (RATE_LIMIT_*); an absent one is off. */
  rateLimits: RateLimits;
  /** Password hashing admitted at once and queued (SCRYPT_CONCURRENCY, SCRYPT_QUEUE). */
  scrypt: ScryptGateLimits;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export class ConfigurationError extends Error {
  readonly variable: string;
  constructor(variable: string, message: string) {
    super(`${variable}: ${message}`);
    this.name = 'ConfigurationError';
    this.variable = variable;
  }
}

const booleanFlag = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

const urlWithProtocols = (protocols: string[], what: string) =>
  z.string().refine((value) => {
    try {
      return protocols.includes(new URL(value).protocol);
    } catch {
      return false;
    }
  }, `must be a ${what} URL (${protocols.map((p) => `${p}//`).join(' or ')})`);

const issuerUrl = z.string().refine((value) => {
  try {
    const url = new URL(value);
    // RFC 8414 §2: the issuer is an https URL with no query or fragment (http only for local development).
    return ['https:', 'http:'].includes(url.protocol) && !url.search && !url.hash && !value.endsWith('/');
  } catch {
    return false;
  }
}, 'must be an http(s) URL without query, fragment or trailing slash');

const schema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  ISSUER: issuerUrl.optional(),
  TRUST_DOMAIN: z.string().min(1).optional(),
  REDIS_URL: z.string().transform((value, ctx) => {
    try {
      return parseRedisUrl(value);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: (error as Error).message });
      return z.NEVER;
    }
  }).optional(),
  DATABASE_URL: urlWithProtocols(['postgres:', 'postgresql:'], 'PostgreSQL').optional(),
  REDIS_KEY_PREFIX: z.string().regex(/^[\w:.-]{1,64}$/, 'must be 1-64 characters of letters, digits, ":", ".", "-" or "_"').default(redisKeyPrefix),
  DEPENDENCY_TIMEOUT_MS: z.coerce.number().int().min(50).max(60_000).default(dependencyTimeoutMs),
  // Long enough for a busy client to send on each idle keep-alive socket once more; under the 10 s shutdown bound.
  SHUTDOWN_IDLE_GRACE_MS: z.coerce.number().int().min(0).max(8000).default(2000),
  ADMIN_TOKEN: z.string().min(32, 'must be at least 32 characters').optional(),
  DATA_DIR: z.string().min(1).default('./data'),
  TRUST_PROXY: booleanFlag.default(false),
  DPOP_REQUIRE_NONCE: booleanFlag.default(false),
  CIMD_ENABLED: booleanFlag.default(true),
  CIMD_ALLOW_PRIVATE_ADDRESSES: booleanFlag.default(false),
  DELEGATION_MAX_DEPTH: z.coerce.number().int().min(1).max(20).default(delegationDefaults.maxDepth),
  DELEGATION_HUMAN_ROOT_REQUIRED: booleanFlag.default(delegationDefaults.humanRootRequired),
  DELEGATION_IMPERSONATION: booleanFlag.default(delegationDefaults.impersonation),
  // The draft wants Txn-Tokens short-lived, "on the order of minutes or less": an hour is the most we allow.
  TXN_TOKEN_LIFETIME: z.coerce.number().int().min(1).max(3600).default(transactionTokenDefaults.lifetime),
  TXN_TOKEN_MAX_CONTEXT_BYTES: z.coerce.number().int().min(64).max(32_768).default(transactionTokenDefaults.maxContextBytes),
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  TRACING: z.enum(['off', 'otlp']).optional(),
  // Five minutes is the shortest sign-in that lets a person finish a consent; 30 days the longest we call a session.
  SESSION_TTL: z.coerce.number().int().min(300).max(30 * 24 * 3600).default(lifetimes.session),
  // CIBA §7.3 says a client polls every 5 seconds unless told otherwise; a minute is already slow for a person.
  CIBA_POLL_INTERVAL: z.coerce.number().int().min(1).max(60).default(5),
  // The body is a signed JWT about a person's pending decision: only ever sent over TLS.
  APPROVAL_WEBHOOK_URL: urlWithProtocols(['https:'], 'https').optional(),
  // Below libuv's 4 threads, which signing shares (see adapters/scrypt-gate.ts); each derivation holds 32 MiB.
  SCRYPT_CONCURRENCY: z.coerce.number().int().min(1).max(16).default(scryptGateDefaults.concurrency),
  SCRYPT_QUEUE: z.coerce.number().int().min(0).max(10_000).default(scryptGateDefaults.queue),
  TRUSTED_ISSUERS: z.string().transform((value, ctx) => {
    try {
      return parseTrustedIssuers(value);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: (error as Error).message });
      return z.NEVER;
    }
  }).optional(),
});

/** Parses settings from an environment; throws ConfigurationError naming the first bad variable. */
export function loadSettings(env: Record<string, string | undefined> = process.env): Settings {
  // Empty strings count as unset, as in most twelve-factor tooling.
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = schema.safeParse(present);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const variable = String(issue.path[0]);
    const quoted = quotableValue(variable, present[variable]);
    const message = withoutCredentials(issue.message);
    throw new ConfigurationError(variable, quoted === undefined ? message : `${message} (got ${quoted})`);
  }
  const v = parsed.data;

  if (v.NODE_ENV === 'production') {
    if (!v.REDIS_URL) throw new ConfigurationError('REDIS_URL', 'is required in production (embedded storage serves one instance only and loses sessions on restart)');
    if (!v.DATABASE_URL) throw new ConfigurationError('DATABASE_URL', 'is required in production (embedded PGlite is for development)');
    if (!v.ADMIN_TOKEN) throw new ConfigurationError('ADMIN_TOKEN', 'is required in production');
  }

  return {
    nodeEnv: v.NODE_ENV,
    port: v.PORT,
    issuer: v.ISSUER,
    trustDomain: v.TRUST_DOMAIN,
    redis: v.REDIS_URL,
    databaseUrl: v.DATABASE_URL,
    redisKeyPrefix: v.REDIS_KEY_PREFIX,
    dependencyTimeoutMs: v.DEPENDENCY_TIMEOUT_MS,
    shutdownIdleGraceMs: v.SHUTDOWN_IDLE_GRACE_MS,
    adminToken: v.ADMIN_TOKEN ?? randomBytes(32).toString('base64url'),
    adminTokenGenerated: !v.ADMIN_TOKEN,
    dataDir: resolve(v.DATA_DIR),
    trustProxy: v.TRUST_PROXY,
    dpopRequireNonce: v.DPOP_REQUIRE_NONCE,
    delegation: { maxDepth: v.DELEGATION_MAX_DEPTH, humanRootRequired: v.DELEGATION_HUMAN_ROOT_REQUIRED, impersonation: v.DELEGATION_IMPERSONATION },
    trustedIssuers: v.TRUSTED_ISSUERS ?? [],
    cimd: { enabled: v.CIMD_ENABLED, allowPrivateAddresses: v.CIMD_ALLOW_PRIVATE_ADDRESSES },
    transactionTokens: { lifetime: v.TXN_TOKEN_LIFETIME, maxContextBytes: v.TXN_TOKEN_MAX_CONTEXT_BYTES },
    logLevel: v.LOG_LEVEL,
    metricsToken: v.METRICS_TOKEN,
    // Naming an OTLP endpoint is asking for traces, unless TRACING says otherwise.
    tracing: v.TRACING ?? (present.OTEL_EXPORTER_OTLP_ENDPOINT || present.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ? 'otlp' : 'off'),
    sessionTtl: v.SESSION_TTL,
    cibaPollInterval: v.CIBA_POLL_INTERVAL,
    approvalWebhookUrl: v.APPROVAL_WEBHOOK_URL,
    rateLimits: rateLimitsFrom((variable) => present[variable], (variable, message) => {
      throw new ConfigurationError(variable, `${message} (got ${quotableValue(variable, present[variable]) ?? 'a value'})`);
    }),
    scrypt: { concurrency: v.SCRYPT_CONCURRENCY, queue: v.SCRYPT_QUEUE },
  };
}
