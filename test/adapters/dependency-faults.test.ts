import { performance } from 'node:perf_hooks';
import { Redis, ReplyError } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { isPostgresOutage, isRedisOutage, redisFaultOptions, StorageUnavailable } from '../../adapters/dependency-faults.ts';
import { DependencyState, watchRedis } from '../../adapters/dependency-state.ts';
import { openDatabase } from '../../adapters/database.ts';
import { redisAdapterFactory } from '../../adapters/redis-adapter.ts';
import { freePort } from '../support/own-services.ts';

const coded = (message: string, code: string) => Object.assign(new Error(message), { code });

describe('StorageUnavailable', () => {
  it('is an exposed 503 temporarily_unavailable that oidc-provider renders as the client sees it', () => {
    const error = new StorageUnavailable('redis', new Error('Command timed out'));
    expect(error).toMatchObject({ status: 503, statusCode: 503, expose: true, error: 'temporarily_unavailable', message: 'temporarily_unavailable', dependency: 'redis' });
    expect(error.error_description).toMatch(/unavailable; try again/);
    // Shown in oidc-provider's debug log only, never to the client.
    expect(error.error_detail).toBe('Command timed out');
  });
});

describe('which failures are an outage', () => {
  it('Redis: no connection, no answer in time, a dropped connection, or Redis not ready to serve', () => {
    for (const error of [
      new Error("Stream isn't writeable and enableOfflineQueue options is false"),
      new Error('Command timed out'),
      new Error('Connection is closed.'),
      new Error('Reached the max retries per request limit (which is 0). Refer to "maxRetriesPerRequest" option for details.'),
      coded('connect ECONNREFUSED 127.0.0.1:1', 'ECONNREFUSED'),
      new ReplyError('LOADING Redis is loading the dataset in memory'),
      new ReplyError('CLUSTERDOWN The cluster is down'),
    ]) expect(isRedisOutage(error), error.message).toBe(true);
  });

  it('Redis: a reply error of ours (a bug) or an OAuth error stays what it is', () => {
    for (const error of [
      new ReplyError('WRONGTYPE Operation against a key holding the wrong kind of value'),
      new ReplyError('ERR Error running script'),
      new TypeError('cannot read properties of undefined'),
      new StorageUnavailable('redis'),
    ]) expect(isRedisOutage(error), error.message).toBe(false);
    expect(isRedisOutage('Command timed out')).toBe(false);
  });

  it('PostgreSQL: unreachable, dropped or shut down, out of connection slots, no answer in time', () => {
    for (const error of [
      coded('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED'),
      new Error('Connection terminated unexpectedly'),
      new Error('timeout exceeded when trying to connect'),
      new Error('Query read timeout'),
      coded('terminating connection due to administrator command', '57P01'),
      coded('the database system is starting up', '57P03'),
      coded('sorry, too many clients already', '53300'),
      coded('connection failure', '08006'),
    ]) expect(isPostgresOutage(error), error.message).toBe(true);
  });

  it('PostgreSQL: constraint violations and SQL errors stay what they are (stores and routes handle them)', () => {
    for (const error of [
      coded('insert or update on table "agents" violates foreign key constraint', '23503'),
      coded('duplicate key value violates unique constraint', '23505'),
      coded('syntax error at or near "selec"', '42601'),
      new Error('the embedded database is closed'),
    ]) expect(isPostgresOutage(error), error.message).toBe(false);
  });
});

describe('DependencyState', () => {
  it('logs one line when the dependency goes down and one when it is back, however often either is seen', () => {
    const logged: string[] = [];
    const state = new DependencyState('database', (line) => logged.push(line));
    state.up();
    expect(logged).toEqual([]);
    for (let i = 0; i < 5; i += 1) state.down('connect ECONNREFUSED');
    expect(state.available).toBe(false);
    for (let i = 0; i < 5; i += 1) state.up();
    expect(state.available).toBe(true);
    expect(logged).toEqual([
      'PostgreSQL is unavailable (connect ECONNREFUSED); requests that need it answer 503 temporarily_unavailable until it is back',
      'PostgreSQL is back; serving again',
    ]);
  });
});

describe('against a Redis that is not there', () => {
  const logged: string[] = [];
  let redis: Redis;
  afterAll(() => redis?.disconnect());

  it('refuses every adapter call at once with StorageUnavailable, and logs the outage once', async () => {
    redis = new Redis(`redis://127.0.0.1:${await freePort()}`, redisFaultOptions(1000));
    watchRedis(redis, new DependencyState('redis', (line) => logged.push(line)));
    const adapter = redisAdapterFactory(redis, { prefix: 'test:', clockTolerance: 0 })('AccessToken');
    await new Promise((resolve) => setTimeout(resolve, 300)); // several reconnection attempts
    const started = performance.now();
    await expect(adapter.find('token')).rejects.toBeInstanceOf(StorageUnavailable);
    await expect(adapter.upsert('token', { jti: 'token' }, 60)).rejects.toBeInstanceOf(StorageUnavailable);
    await expect(adapter.consume('token')).rejects.toBeInstanceOf(StorageUnavailable);
    await expect(adapter.revokeByGrantId('grant')).rejects.toBeInstanceOf(StorageUnavailable);
    expect(performance.now() - started).toBeLessThan(100);
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatch(/^Redis is unavailable/);
  });
});

describe('against a PostgreSQL that is not there', () => {
  it('fails to open within the bound, saying why', async () => {
    const started = performance.now();
    await expect(openDatabase({ url: `postgres://postgres@127.0.0.1:${await freePort()}/test`, dataDir: '/nonexistent', timeoutMs: 500 }))
      .rejects.toThrow(/database migrations could not run: .*ECONNREFUSED/);
    expect(performance.now() - started).toBeLessThan(500);
  });
});
