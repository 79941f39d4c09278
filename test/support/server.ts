// Starts a complete server for a test file on one of the two storage modes, each with storage of its own:
// `redis+postgres` (a fresh Redis key prefix and PostgreSQL schema) or `embedded` (process memory and PGlite
// in a fresh temporary directory).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSettings } from '../../config/settings.ts';
import { startServer, type RunningServer, type StartOptions } from '../../server/start.ts';
import { connectTestRedis, createTestSchema, dropRedisPrefix, TEST_REDIS_URL, uniqueRedisPrefix } from './services.ts';

export type StorageMode = 'redis+postgres' | 'embedded';
export const STORAGE_MODES: StorageMode[] = ['redis+postgres', 'embedded'];

export interface TestServer extends RunningServer {
  adminToken: string;
  mode: StorageMode;
  /** Tokens and codes the provider has stored or issued so far (for "nothing was issued" assertions). */
  issuedCount(): number;
  /** Another instance on the same Redis and PostgreSQL with the same issuer (redis+postgres mode only). */
  startSibling(): Promise<RunningServer>;
  stop(): Promise<void>;
}

const ISSUED_EVENTS = [
  'access_token.saved', 'access_token.issued', 'client_credentials.saved', 'client_credentials.issued',
  'refresh_token.saved', 'authorization_code.saved',
];

export async function startTestServer(mode: StorageMode, label: string, env: Record<string, string> = {}, options: StartOptions = {}): Promise<TestServer> {
  const adminToken = 'test-admin-token-0123456789abcdef0123456789';
  const cleanups: (() => Promise<void>)[] = [];
  let storageEnv: Record<string, string>;
  let redisPrefix: string | undefined;
  if (mode === 'redis+postgres') {
    const schema = await createTestSchema(label);
    cleanups.push(() => schema.drop());
    redisPrefix = uniqueRedisPrefix(label);
    const prefix = redisPrefix;
    cleanups.push(async () => {
      const redis = connectTestRedis();
      await dropRedisPrefix(redis, prefix);
      await redis.quit();
    });
    storageEnv = { REDIS_URL: TEST_REDIS_URL, DATABASE_URL: schema.url, REDIS_KEY_PREFIX: redisPrefix };
  } else {
    const dir = await mkdtemp(join(tmpdir(), `agentauth-${label}-`));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    storageEnv = { DATA_DIR: dir };
  }
  // Warnings and errors only: an access line per request would bury the test output.
  // No keep-alive grace at close: the test's own idle sockets would hold every close for the whole grace.
  const settings = loadSettings({ NODE_ENV: 'test', PORT: '0', ADMIN_TOKEN: adminToken, LOG_LEVEL: 'warn', SHUTDOWN_IDLE_GRACE_MS: '0', ...storageEnv, ...env });
  const server = await startServer(settings, options);
  let issued = 0;
  for (const event of ISSUED_EVENTS) server.provider.on(event as never, () => { issued += 1; });
  const siblings: RunningServer[] = [];
  return {
    ...server,
    adminToken,
    mode,
    issuedCount: () => issued,
    async startSibling() {
      if (mode !== 'redis+postgres') throw new Error('only the redis+postgres mode can run several instances');
      const sibling = await startServer(loadSettings({ NODE_ENV: 'test', PORT: '0', ADMIN_TOKEN: adminToken, LOG_LEVEL: 'warn', SHUTDOWN_IDLE_GRACE_MS: '0', ...storageEnv, ...env, ISSUER: server.issuer }), options);
      siblings.push(sibling);
      return sibling;
    },
    async stop() {
      for (const sibling of siblings) await sibling.close();
      await server.close();
      for (const cleanup of cleanups.reverse()) await cleanup();
    },
  };
}
