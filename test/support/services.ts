// Real services for tests: Redis and PostgreSQL on loopback (started by .ci/run).
// Every test file gets its own Redis key prefix and its own PostgreSQL schema so files never see each
// other's data. A missing service fails the suite loudly: nothing is skipped for want of a service.
import { randomBytes } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';
import pg from 'pg';
import type { RedisClient } from '../../adapters/redis-connection.ts';

export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export function uniqueName(label: string): string {
  return `${label.replace(/[^a-z0-9]/gi, '_').toLowerCase()}_${randomBytes(5).toString('hex')}`;
}

/** A Redis key prefix no other test file uses, e.g. `test:redis_adapter_1a2b3c4d5e:`. */
export function uniqueRedisPrefix(label: string): string {
  return `test:${uniqueName(label)}:`;
}

export function connectTestRedis(): Redis {
  return new Redis(TEST_REDIS_URL, { lazyConnect: false, maxRetriesPerRequest: 1 });
}

/** Every key under the prefix; on a Cluster SCAN sees one node's keys only, so it runs on every master. */
export async function scanKeys(redis: RedisClient, prefix: string): Promise<string[]> {
  const nodes = redis instanceof Cluster ? redis.nodes('master') : [redis];
  const keys: string[] = [];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, batch] = await node.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
  }
  return keys;
}

/** Deletes every key under the prefix (for afterAll). */
export async function dropRedisPrefix(redis: RedisClient, prefix: string): Promise<void> {
  // One DEL per key: on a Cluster the keys live in different slots.
  await Promise.all((await scanKeys(redis, prefix)).map((key) => redis.del(key)));
}

export interface TestSchema {
  /** A DATABASE_URL whose connections use the fresh schema as their search_path. */
  url: string;
  schema: string;
  drop(): Promise<void>;
}

/** Creates a fresh PostgreSQL schema in the test database and a URL that selects it. */
export async function createTestSchema(label: string): Promise<TestSchema> {
  const schema = uniqueName(label);
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE SCHEMA "${schema}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(TEST_DATABASE_URL);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return {
    url: url.toString(),
    schema,
    async drop() {
      const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await client.connect();
      try {
        await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      } finally {
        await client.end();
      }
    },
  };
}

export interface IsolatedStorage {
  /** REDIS_URL, DATABASE_URL and REDIS_KEY_PREFIX for server processes sharing this storage. */
  env: Record<string, string>;
  dispose(): Promise<void>;
}

/** A fresh PostgreSQL schema and Redis key prefix for server processes a test starts itself. */
export async function isolatedStorage(label: string): Promise<IsolatedStorage> {
  const schema = await createTestSchema(label);
  const prefix = uniqueRedisPrefix(label);
  return {
    env: { REDIS_URL: TEST_REDIS_URL, DATABASE_URL: schema.url, REDIS_KEY_PREFIX: prefix },
    async dispose() {
      await schema.drop();
      const redis = connectTestRedis();
      await dropRedisPrefix(redis, prefix);
      await redis.quit();
    },
  };
}
