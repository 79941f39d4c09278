// Two server processes behind one issuer on a Redis and a PostgreSQL of this test's own, which it stops and
// starts again: every request that needs the missing dependency answers 503 temporarily_unavailable within the
// bound, readiness says which one is missing, each instance logs the outage once and its end once, service
// resumes by itself, and the kill switch holds at both instances or does not happen.
import { request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logLines, startServerProcess, type ServerProcess } from '../support/process.ts';
import { startOwnPostgres, startOwnRedis, type OwnService } from '../support/own-services.ts';

const PUBLIC_HOST = 'auth.faults.test';
const ISSUER = `http://${PUBLIC_HOST}`;
const ADMIN_TOKEN = 'dependency-faults-admin-token-0123456789abcdef';
const REDIRECT_URI = 'http://127.0.0.1:9/callback';
const FILES = 'https://files.faults.test';
/** DEPENDENCY_TIMEOUT_MS is left at its default: this is the bound an outage must show within. */
const DEFAULT_BOUND_MS = 1000;
const READINESS_BOUND_MS = 250;

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: any;
  ms: number;
}

function call(instance: ServerProcess, method: string, path: string, options: { form?: Record<string, string>; json?: unknown; headers?: Record<string, string> } = {}): Promise<Answer> {
  const body = options.form ? new URLSearchParams(options.form).toString() : options.json !== undefined ? JSON.stringify(options.json) : undefined;
  const url = new URL(path, instance.url);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = request({
      host: url.hostname, port: url.port, path: `${url.pathname}${url.search}`, method,
      headers: {
        host: PUBLIC_HOST,
        ...(options.form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
        ...(options.json !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}),
        ...options.headers,
      },
    }, (res) => {
      let text = '';
      res.on('data', (chunk) => { text += chunk; });
      res.on('end', () => {
        let json: unknown;
        try { json = JSON.parse(text); } catch { json = undefined; }
        resolve({ status: res.statusCode!, headers: res.headers, text, json, ms: performance.now() - started });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

const admin = (instance: ServerProcess, method: string, path: string, json?: unknown) =>
  call(instance, method, path, { json, headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

function expectUnavailable(answer: Answer, bound = DEFAULT_BOUND_MS): void {
  expect(answer.status, answer.text).toBe(503);
  expect(answer.json).toEqual({ error: 'temporarily_unavailable', error_description: expect.any(String) });
  expect(answer.ms).toBeLessThan(bound);
}

/** Repeats `attempt` every 50 ms until it returns true; the time it took. */
async function timeUntil(attempt: () => Promise<boolean>, limitMs: number): Promise<number> {
  const started = performance.now();
  while (!(await attempt())) {
    if (performance.now() - started > limitMs) throw new Error(`not recovered within ${limitMs} ms`);
    await sleep(50);
  }
  return performance.now() - started;
}

const lines = (instance: ServerProcess, pattern: RegExp) => instance.output().split('\n').filter((line) => pattern.test(line)).length;
/** Waits until what the instances logged so far has reached their output: stdout is written in chunks, at most 100 ms after a line (server/logger.ts). */
const logFlushed = () => new Promise((resolve) => setTimeout(resolve, 300));

describe('dependency faults across two instances', () => {
  let redis: OwnService;
  let postgres: OwnService;
  let a: ServerProcess;
  let b: ServerProcess;
  /** Started while Redis is down. */
  let c: ServerProcess | undefined;
  let env: Record<string, string>;
  let client: string;
  let unusedClient: string;
  let publicClient: string;
  let ownerId: string;
  const agents: Record<'kept' | 'suspended', { id: string; auth: string }> = {} as never;
  const measured: Record<string, number> = {};

  const token = (instance: ServerProcess, auth: string, form: Record<string, string> = {}) =>
    call(instance, 'POST', '/token', { form: { grant_type: 'client_credentials', ...form }, headers: { authorization: auth } });
  const agentToken = (instance: ServerProcess, agent: { auth: string }) => token(instance, agent.auth, { scope: 'files:read' });
  const databaseStatus = async (id: string) => {
    const connection = new pg.Client({ connectionString: postgres.url });
    await connection.connect();
    try {
      return (await connection.query('select status from agents where id = $1', [id])).rows[0]?.status;
    } finally {
      await connection.end();
    }
  };

  beforeAll(async () => {
    [redis, postgres] = await Promise.all([startOwnRedis(), startOwnPostgres()]);
    env = { NODE_ENV: 'test', PORT: '0', ISSUER, REDIS_URL: redis.url, DATABASE_URL: postgres.url, ADMIN_TOKEN };
    a = await startServerProcess(env);
    b = await startServerProcess(env);

    const register = async (metadata: object) => {
      const registered = await admin(a, 'POST', '/reg', metadata);
      expect(registered.status, registered.text).toBe(201);
      return registered.json as { client_id: string; client_secret?: string };
    };
    const confidential = { grant_types: ['client_credentials'], response_types: [], redirect_uris: [] };
    const used = await register(confidential);
    client = basic(used.client_id, used.client_secret!);
    const unused = await register(confidential);
    unusedClient = basic(unused.client_id, unused.client_secret!);
    publicClient = (await register({ redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: 'none' })).client_id;

    expect((await admin(a, 'POST', '/admin/resources', { identifier: FILES, scopes: ['files:read'] })).status).toBe(201);
    const owner = await admin(a, 'POST', '/admin/users', { username: 'owner', password: 'correct horse battery staple', email: 'owner@example.com', name: 'Owner' });
    expect(owner.status, owner.text).toBe(201);
    ownerId = owner.json.id;
    for (const name of ['kept', 'suspended'] as const) {
      const created = await admin(a, 'POST', '/admin/agents', { name, owner: ownerId, scopes: ['files:read'] });
      expect(created.status, created.text).toBe(201);
      agents[name] = { id: created.json.id, auth: basic(created.json.id, created.json.client_secret) };
    }
    // Every instance has the client and both agents in its caches before anything fails.
    for (const instance of [a, b]) {
      expect((await token(instance, client)).status).toBe(200);
      for (const agent of Object.values(agents)) expect((await agentToken(instance, agent)).status).toBe(200);
    }
  });

  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await c?.stop();
    await redis?.dispose();
    await postgres?.dispose();
    console.log(`measured (ms): ${JSON.stringify(Object.fromEntries(Object.entries(measured).map(([k, v]) => [k, Math.round(v)])))}`);
  });

  const authorizationQuery = () => new URLSearchParams({
    client_id: publicClient, redirect_uri: REDIRECT_URI, response_type: 'code', scope: 'openid', state: 'st4te',
    code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256',
  });

  describe('Redis stopped', () => {
    let issued: string;
    let interaction: { path: string; cookie: string };

    beforeAll(async () => {
      issued = (await token(a, client)).json.access_token;
      // A sign-in begun before the outage, to be continued during it.
      const begun = await call(a, 'GET', `/auth?${authorizationQuery()}`);
      expect(begun.status).toBe(303);
      const cookies = ([] as string[]).concat(begun.headers['set-cookie'] ?? []).map((cookie) => cookie.split(';')[0]);
      interaction = { path: new URL(String(begun.headers.location), ISSUER).pathname, cookie: cookies.join('; ') };
      await redis.stop();
    });

    it('answers token, introspection and /auth with temporarily_unavailable within the bound, at both instances', async () => {
      for (const instance of [a, b]) {
        const refused = await token(instance, client);
        expectUnavailable(refused);
        measured.redisDownToken = Math.max(measured.redisDownToken ?? 0, refused.ms);
        const introspection = await call(instance, 'POST', '/token/introspection', { form: { token: issued }, headers: { authorization: client } });
        expectUnavailable(introspection);
        measured.redisDownIntrospection = Math.max(measured.redisDownIntrospection ?? 0, introspection.ms);

        // RFC 6749 §4.1.2.1: temporarily_unavailable goes back to the client's validated redirect_uri, since a
        // 503 cannot reach it through a redirect.
        const authorization = await call(instance, 'GET', `/auth?${authorizationQuery()}`);
        expect(authorization.ms).toBeLessThan(DEFAULT_BOUND_MS);
        measured.redisDownAuth = Math.max(measured.redisDownAuth ?? 0, authorization.ms);
        expect(authorization.status, authorization.text).toBe(303);
        const location = new URL(String(authorization.headers.location));
        expect(`${location.origin}${location.pathname}`).toBe(REDIRECT_URI);
        expect(Object.fromEntries(location.searchParams)).toMatchObject({ error: 'temporarily_unavailable', state: 'st4te', iss: ISSUER });

        // The sign-in page says so itself.
        const page = await call(instance, 'GET', interaction.path, { headers: { accept: 'text/html', cookie: interaction.cookie } });
        expect(page.status, page.text).toBe(503);
        expect(page.headers['content-type']).toMatch(/^text\/html/);
        expect(page.text).toContain('temporarily_unavailable');
        expect(page.ms).toBeLessThan(DEFAULT_BOUND_MS);
      }
    });

    it('is not ready (naming Redis) within 250 ms, and stays alive', async () => {
      for (const instance of [a, b]) {
        const ready = await call(instance, 'GET', '/readyz');
        expect(ready.status).toBe(503);
        expect(ready.json).toEqual({ status: 'unavailable', checks: { database: 'ok', redis: 'unavailable' } });
        expect(ready.ms).toBeLessThan(READINESS_BOUND_MS);
        measured.redisDownReadyz = Math.max(measured.redisDownReadyz ?? 0, ready.ms);
        expect((await call(instance, 'GET', '/healthz')).status).toBe(200);
      }
    });

    it('starts an instance all the same, which answers 503 rather than hanging', async () => {
      c = await startServerProcess(env);
      expectUnavailable(await token(c, client));
      expect((await call(c, 'GET', '/readyz')).json.checks.redis).toBe('unavailable');
    });

    it('refuses to suspend an agent it cannot announce at every instance, and changes nothing', async () => {
      const suspend = await admin(a, 'POST', `/admin/agents/${agents.kept.id}/suspend`);
      expectUnavailable(suspend);
      expect(await databaseStatus(agents.kept.id)).toBe('active');
    });

    it('resumes by itself when Redis is back, holding a suspension made the moment it returns at both instances', async () => {
      await sleep(1500); // several reconnection attempts, none of which may log
      await redis.start();
      const restarted = performance.now();
      // The suspension is made the moment A can announce it; B may not have resubscribed yet and must hold it
      // all the same: its caches were dropped with its subscription and stay unused until it is back.
      let suspend: Answer;
      do {
        suspend = await admin(a, 'POST', `/admin/agents/${agents.suspended.id}/suspend`);
      } while (suspend.status === 503 && performance.now() - restarted < 5000);
      expect(suspend.status, suspend.text).toBe(200);
      measured.redisSuspendPossibleAfter = performance.now() - restarted;
      for (let attempt = 0; attempt < 5; attempt += 1) {
        for (const instance of [b, a]) {
          const refused = await agentToken(instance, agents.suspended);
          expect([401, 503], refused.text).toContain(refused.status);
          if (refused.status === 401) expect(refused.json.error).toBe('invalid_client');
        }
      }
      await timeUntil(async () => (await token(a, client)).status === 200 && (await token(b, client)).status === 200, 5000);
      measured.redisRecovery = performance.now() - restarted;
      expect(measured.redisRecovery).toBeLessThan(3000);
      await timeUntil(async () => (await token(c!, client)).status === 200, 3000);
      expect((await agentToken(c!, agents.suspended)).status).toBe(401);
      await c!.stop();
      await logFlushed();
      for (const instance of [a, b]) {
        expect(lines(instance, /Redis is unavailable/)).toBe(1);
        expect(lines(instance, /Redis is back/)).toBe(1);
        expect(lines(instance, /Unhandled error event/)).toBe(0);
        expect((await call(instance, 'GET', '/readyz')).status).toBe(200);
      }
    });

    it('after the outage: the agent whose suspension failed gets tokens at both instances, the suspended one at neither', async () => {
      for (let attempt = 0; attempt < 5; attempt += 1) {
        for (const instance of [a, b]) {
          expect((await agentToken(instance, agents.kept)).status).toBe(200);
          const refused = await agentToken(instance, agents.suspended);
          expect(refused.status).toBe(401);
          expect(refused.json.error).toBe('invalid_client');
        }
      }
      expect(await databaseStatus(agents.kept.id)).toBe('active');
      expect(await databaseStatus(agents.suspended.id)).toBe('suspended');
    });
  });

  describe('PostgreSQL stopped', () => {
    beforeAll(async () => {
      // "Already in use": each instance has served the client and the agent since Redis came back (an instance
      // that lost the change feed forgets its caches, since it cannot know what changed meanwhile).
      for (const instance of [a, b]) {
        expect((await token(instance, client)).status).toBe(200);
        expect((await agentToken(instance, agents.kept)).status).toBe(200);
      }
      await postgres.stop();
    });

    it('keeps issuing and introspecting tokens for clients and agents already in use, from the caches', async () => {
      for (const instance of [a, b]) {
        const issued = await token(instance, client);
        expect(issued.status, issued.text).toBe(200);
        expect((await agentToken(instance, agents.kept)).status).toBe(200);
        const introspection = await call(instance, 'POST', '/token/introspection', { form: { token: issued.json.access_token }, headers: { authorization: client } });
        expect(introspection.json.active).toBe(true);
      }
    });

    it('answers what needs the database with temporarily_unavailable within the bound: admin API, a client not seen before', async () => {
      for (const instance of [a, b]) {
        const list = await admin(instance, 'GET', '/admin/agents');
        expectUnavailable(list);
        measured.databaseDownAdmin = Math.max(measured.databaseDownAdmin ?? 0, list.ms);
        expectUnavailable(await admin(instance, 'POST', `/admin/agents/${agents.kept.id}/suspend`));
        const unseen = await token(instance, unusedClient);
        expectUnavailable(unseen);
        measured.databaseDownUnseenClient = Math.max(measured.databaseDownUnseenClient ?? 0, unseen.ms);
      }
    });

    it('is not ready (naming the database) within 250 ms, and stays alive', async () => {
      for (const instance of [a, b]) {
        const ready = await call(instance, 'GET', '/readyz');
        expect(ready.status).toBe(503);
        expect(ready.json).toEqual({ status: 'unavailable', checks: { database: 'unavailable', redis: 'ok' } });
        expect(ready.ms).toBeLessThan(READINESS_BOUND_MS);
        measured.databaseDownReadyz = Math.max(measured.databaseDownReadyz ?? 0, ready.ms);
        expect((await call(instance, 'GET', '/healthz')).status).toBe(200);
      }
    });

    it('resumes by itself when PostgreSQL is back, after one log line for the outage and one for its end', async () => {
      await postgres.start();
      measured.databaseRecovery = await timeUntil(
        async () => (await admin(a, 'GET', `/admin/agents/${agents.kept.id}`)).status === 200 && (await admin(b, 'GET', `/admin/agents/${agents.kept.id}`)).status === 200,
        5000,
      );
      expect(measured.databaseRecovery).toBeLessThan(2000);
      for (const instance of [a, b]) {
        expect((await call(instance, 'GET', '/readyz')).status).toBe(200);
        expect((await token(instance, unusedClient)).status).toBe(200);
      }
      // The admin reads above may be answered from the caches: the first query to reach PostgreSQL may be the
      // token request's, so the line it causes is counted once the log has been written out.
      await logFlushed();
      for (const instance of [a, b]) {
        expect(lines(instance, /PostgreSQL is unavailable/)).toBe(1);
        expect(lines(instance, /PostgreSQL is back/)).toBe(1);
      }
    });
  });

  it('never answered 500 nor logged a server error', async () => {
    await logFlushed();
    for (const instance of [a, b]) {
      // A request that failed, inside oidc-provider or in our routes (other error lines, such as the audit log
      // retrying its writes while PostgreSQL is down, are expected here).
      expect(logLines(instance.output()).filter((line) => line.msg.startsWith('request failed'))).toEqual([]);
    }
  });

  it('shuts down cleanly while Redis is down', async () => {
    await redis.stop();
    const started = performance.now();
    expect(await a.stop()).toBe(0);
    expect(await b.stop()).toBe(0);
    expect(performance.now() - started).toBeLessThan(5000);
  });
});
