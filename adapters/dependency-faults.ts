// How an outage of Redis or PostgreSQL shows: one error, StorageUnavailable, raised where storage is called,
// which every endpoint renders as 503 `temporarily_unavailable` (RFC 6749 §4.1.2.1 / §5.2 usage) instead of a
// 500; which low-level failures count as an outage (anything else stays a bug); and the client options that
// make an outage show within one bounded time instead of queueing requests until the dependency returns.
import { errors } from 'oidc-provider';
import type { RedisOptions } from 'ioredis';
import type { RedisClient } from './redis-connection.ts';
import type { PoolConfig } from 'pg';

export type Dependency = 'redis' | 'database';

const DESCRIPTIONS: Record<Dependency, string> = {
  redis: 'the session and token store is unavailable; try again shortly',
  database: 'the database is unavailable; try again shortly',
};

/**
 * An oidc-provider error, so the provider renders it itself on its endpoints (JSON, the HTML error page, or a
 * redirect to a validated redirect_uri at /auth, which is what RFC 6749 §4.1.2.1 defines this code for);
 * server/app.ts renders it on ours.
 */
export class StorageUnavailable extends errors.CustomOIDCProviderError {
  readonly dependency: Dependency;

  constructor(dependency: Dependency, cause?: unknown) {
    super('temporarily_unavailable', DESCRIPTIONS[dependency], cause instanceof Error ? { cause } : undefined);
    this.name = 'StorageUnavailable';
    this.dependency = dependency;
    this.status = 503;
    this.statusCode = 503;
    // oidc-provider hides every 5xx as server_error unless told the error is meant for the client.
    this.expose = true;
  }
}

// Redis answers these while it cannot serve (still loading its data set, a script running, a cluster or
// replica not ready); every other reply error is a bug of ours and must stay one.
const UNAVAILABLE_REPLIES = /^(LOADING|BUSY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN)\b/;
// ioredis: no connection and no offline queue; no answer within commandTimeout; the connection closed under
// the command (without retries, or after them).
const REDIS_CONNECTION_FAILURES = /^(Stream isn't writeable|Command timed out|Connection is closed|Command aborted due to connection close|Reached the max retries per request limit)/;

const SOCKET_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE', 'ECONNABORTED']);

export function isRedisOutage(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === 'ReplyError') return UNAVAILABLE_REPLIES.test(error.message);
  return REDIS_CONNECTION_FAILURES.test(error.message) || SOCKET_ERRORS.has((error as { code?: string }).code ?? '');
}

// SQLSTATE class 08 (connection exception), 57P01-57P03 (the server is shutting down, crashed or starting), 53300
// (no connection slot left): the database cannot serve. node-postgres's own failures carry no SQLSTATE.
const UNAVAILABLE_SQLSTATE = /^(08...|57P0[123]|53300)$/;
const POSTGRES_CONNECTION_FAILURES = /^(Connection terminated|timeout exceeded when trying to connect|Query read timeout|Client has encountered a connection error)/;

export function isPostgresOutage(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: string }).code ?? '';
  return UNAVAILABLE_SQLSTATE.test(code) || SOCKET_ERRORS.has(code) || POSTGRES_CONNECTION_FAILURES.test(error.message);
}

/** The error to throw for a failed Redis call: StorageUnavailable for an outage, the error itself otherwise. */
export function redisFailure(error: unknown): unknown {
  return isRedisOutage(error) ? new StorageUnavailable('redis', error) : error;
}

export function postgresFailure(error: unknown): unknown {
  return isPostgresOutage(error) ? new StorageUnavailable('database', error) : error;
}

/**
 * ioredis, failing fast: a command is refused at once while disconnected (instead of waiting in the offline
 * queue), gets `timeoutMs` to be answered, and is never retried or resent after a reconnect (a consume resent
 * after its request was already answered 503 would be a second, unseen redemption). Reconnection keeps trying,
 * at most `timeoutMs` apart, so service resumes within about that long after Redis is back.
 */
export function redisFaultOptions(timeoutMs: number): RedisOptions {
  return {
    enableOfflineQueue: false,
    commandTimeout: timeoutMs,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    retryStrategy: (attempt) => Math.min(attempt * 50, timeoutMs),
  };
}

/**
 * Closes a connection made with redisFaultOptions: QUIT while connected; otherwise only stop reconnecting, since
 * without an offline queue a QUIT would be refused and the connection would go on reconnecting forever.
 */
export async function closeRedis(redis: RedisClient): Promise<void> {
  if (redis.status === 'ready') {
    try {
      await redis.quit();
      return;
    } catch {
      // Dropped while quitting: disconnect below.
    }
  }
  redis.disconnect();
}

/** node-postgres: connecting and each query get `timeoutMs`. */
export function postgresFaultOptions(timeoutMs: number): PoolConfig {
  return { connectionTimeoutMillis: timeoutMs, query_timeout: timeoutMs };
}
