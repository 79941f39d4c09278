// Instances stopped under load, as operators stop them. Two server processes share one Redis and one PostgreSQL
// database behind one issuer; a keep-alive load runs through them as a load balancer would send it (a connection
// refused before anything was sent goes to the other instance; nothing else is retried).
// - SIGKILL: every token a client received has its `token.issued` row, the killed instance's included (its
//   unrelayed events are claimed by the survivor); embedded storage gets the same after a restart.
// - SIGTERM: the draining instance answers what it received, closes its keep-alive connections cleanly, and no
//   request fails at either instance.
import { Agent, request } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServerProcess, type ServerProcess } from '../support/process.ts';
import { createTestSchema, TEST_REDIS_URL, uniqueRedisPrefix, type TestSchema } from '../support/services.ts';

const ADMIN_TOKEN = 'crash-and-drain-admin-token-0123456789abcdef';
const ISSUER = 'http://auth.crash.test';
const RESOURCE = 'https://api.crash.test/';

interface Target { url: string; agent: Agent }

interface Outcome { status: number; requestId?: string; error?: string; connectRefused?: boolean }

function post(target: Target, path: string, form: Record<string, string>, authorization: string): Promise<Outcome> {
  const body = new URLSearchParams(form).toString();
  const url = new URL(path, target.url);
  return new Promise((resolve) => {
    let sent = false;
    const req = request({
      host: url.hostname, port: url.port, path: url.pathname, method: 'POST', agent: target.agent,
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body), authorization },
    }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, requestId: res.headers['x-request-id'] as string | undefined }));
      res.on('error', (error) => resolve({ status: 0, error: error.message }));
    });
    req.on('socket', (socket) => socket.once('connect', () => { sent = true; }));
    req.on('error', (error: NodeJS.ErrnoException) => {
      // Refused at connect: nothing reached the instance, so a load balancer sends it elsewhere.
      resolve({ status: 0, error: `${error.code ?? ''} ${error.message}`, connectRefused: error.code === 'ECONNREFUSED' && !sent });
    });
    req.end(body);
  });
}

interface LoadResult { received: Outcome[]; failed: Outcome[]; rerouted: number }

/** `workers` loops, each sending token requests round robin over the live targets until `until()` says stop. */
async function runLoad(targets: Target[], authorization: string, workers: number, until: () => boolean): Promise<LoadResult> {
  const result: LoadResult = { received: [], failed: [], rerouted: 0 };
  const down = new Set<Target>();
  let turn = 0;
  await Promise.all(Array.from({ length: workers }, async () => {
    while (!until()) {
      const live = targets.filter((target) => !down.has(target));
      if (live.length === 0) return;
      let target = live[turn++ % live.length];
      let outcome = await post(target, '/token', { grant_type: 'client_credentials', resource: RESOURCE, scope: 'read' }, authorization);
      while (outcome.connectRefused) {
        down.add(target);
        const next = targets.find((candidate) => !down.has(candidate));
        if (!next) return;
        result.rerouted += 1;
        target = next;
        outcome = await post(target, '/token', { grant_type: 'client_credentials', resource: RESOURCE, scope: 'read' }, authorization);
      }
      if (outcome.status === 200) result.received.push(outcome);
      else result.failed.push(outcome);
      // A moment between requests, as real clients have: their keep-alive sockets sit idle now and then, which is
      // when a server that closes idle connections at shutdown races the client's next request.
      await sleep(Math.random() * 10);
    }
  }));
  return result;
}

async function admin(url: string, method: string, path: string, body?: unknown): Promise<any> {
  const response = await fetch(new URL(path, url), {
    method, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await response.json();
  if (response.status >= 300) throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(json)}`);
  return json;
}

/** A confidential client for the load, and the resource it asks for (JWT access tokens, so nothing is stored but records). */
async function setUp(url: string, label: string): Promise<{ clientId: string; authorization: string }> {
  // The second test of a database finds the resource there already.
  await admin(url, 'POST', '/admin/resources', { identifier: RESOURCE, scopes: ['read'], token_format: 'jwt' }).catch((error: Error) => {
    if (!/already registered/.test(error.message)) throw error;
  });
  const user = await admin(url, 'POST', '/admin/users', { username: `owner-${label}`, password: 'correct horse battery staple' });
  const agent = await admin(url, 'POST', '/admin/agents', { name: `${label}-bot`, owner: user.id, scopes: ['read'], resources: [RESOURCE] });
  return { clientId: agent.id, authorization: `Basic ${Buffer.from(`${encodeURIComponent(agent.id)}:${encodeURIComponent(agent.client_secret)}`).toString('base64')}` };
}

function target(instance: ServerProcess): Target {
  return { url: instance.url, agent: new Agent({ keepAlive: true, maxSockets: 8 }) };
}

describe('two instances on Redis and PostgreSQL, one stopped under load', () => {
  let schema: TestSchema;
  let database: pg.Client;
  const instances: ServerProcess[] = [];

  async function start(extra: Record<string, string> = {}): Promise<ServerProcess> {
    const instance = await startServerProcess({
      NODE_ENV: 'test', PORT: '0', ISSUER, ADMIN_TOKEN, LOG_LEVEL: 'warn', REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: prefix, DATABASE_URL: schema.url, ...extra,
    }, 60_000);
    instances.push(instance);
    return instance;
  }
  const prefix = uniqueRedisPrefix('crash-drain');

  beforeAll(async () => {
    schema = await createTestSchema('crash_drain');
    database = new pg.Client({ connectionString: schema.url });
    await database.connect();
  });
  afterAll(async () => {
    for (const instance of instances) await instance.signal('SIGKILL');
    await database?.end();
    await schema?.drop();
  });

  async function issuedRows(clientId: string): Promise<Set<string>> {
    const { rows } = await database.query<{ request_id: string }>("select request_id from audit_events where event = 'token.issued' and client_id = $1", [clientId]);
    return new Set(rows.map((row) => row.request_id));
  }

  it('SIGKILL: every token a client received has its audit row, the killed instance\'s included', async () => {
    const [a, b] = [await start(), await start()];
    const { clientId, authorization } = await setUp(a.url, 'kill');
    let stop = false;
    const load = runLoad([target(a), target(b)], authorization, 16, () => stop);
    await sleep(1500);
    expect(await a.signal('SIGKILL')).toBe(null);
    await sleep(1000);
    stop = true;
    const { received, failed } = await load;
    // Requests in flight at the killed instance lose their connection; nothing else fails.
    expect(failed.filter((outcome) => !/ECONNRESET|socket hang up/.test(outcome.error ?? `${outcome.status}`))).toEqual([]);
    expect(received.length).toBeGreaterThan(100);

    // The survivor claims what the dead instance had not relayed once it has been idle (5 s), then relays it.
    const deadline = Date.now() + 20_000;
    let missing: string[] = [];
    do {
      const rows = await issuedRows(clientId);
      missing = received.map((outcome) => outcome.requestId!).filter((id) => !rows.has(id));
      if (missing.length === 0) break;
      await sleep(250);
    } while (Date.now() < deadline);
    expect(missing).toEqual([]);
    // Each received token exactly once; at most the killed instance's in-flight requests add a row for a token
    // nobody received (recorded, then the process died before the response left).
    const rows = await issuedRows(clientId);
    const { rows: [{ count }] } = await database.query<{ count: string }>("select count(*) from audit_events where event = 'token.issued' and client_id = $1", [clientId]);
    expect(Number(count)).toBe(rows.size);
    expect(rows.size - received.length).toBeLessThanOrEqual(failed.length);
    console.info(`SIGKILL: ${received.length} tokens received, ${failed.length} requests cut off, ${rows.size} token.issued rows, 0 missing`);
    await b.stop();
  }, 90_000);

  it('SIGTERM: the draining instance finishes what it received and no request fails at either', async () => {
    // The default grace (the test helper turns it off for every other test).
    const [a, b] = [await start({ SHUTDOWN_IDLE_GRACE_MS: '2000' }), await start({ SHUTDOWN_IDLE_GRACE_MS: '2000' })];
    const { authorization } = await setUp(a.url, 'drain');
    let stop = false;
    const targets = [target(a), target(b)];
    const load = runLoad(targets, authorization, 16, () => stop);
    await sleep(1500);
    const exit = a.signal('SIGTERM');
    await sleep(1500);
    stop = true;
    const { received, failed, rerouted } = await load;
    expect(await exit).toBe(0);
    console.info(`SIGTERM: ${received.length} tokens received, ${failed.length} failed, ${rerouted} connections refused and sent to the survivor`);
    expect(failed).toEqual([]);
    expect(rerouted).toBeGreaterThan(0);
    expect(received.length).toBeGreaterThan(100);
    await b.stop();
  }, 90_000);
});

describe('embedded storage, killed under load and started again', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'agentauth-crash-embedded-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps the audit row of every token it answered', async () => {
    const env = { NODE_ENV: 'test', PORT: '0', ISSUER, ADMIN_TOKEN, LOG_LEVEL: 'warn', DATA_DIR: dir };
    const first = await startServerProcess(env, 60_000);
    const { clientId, authorization } = await setUp(first.url, 'embedded');
    let stop = false;
    const load = runLoad([target(first)], authorization, 16, () => stop);
    await sleep(1500);
    expect(await first.signal('SIGKILL')).toBe(null);
    stop = true;
    const { received } = await load;
    expect(received.length).toBeGreaterThan(50);

    const again = await startServerProcess(env, 60_000);
    try {
      const ids = new Set<string>();
      let cursor: string | undefined;
      do {
        const page = await admin(again.url, 'GET', `/admin/audit?client_id=${encodeURIComponent(clientId)}&event=token.issued&limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
        for (const item of page.items) ids.add(item.request_id);
        cursor = page.next_cursor ?? undefined;
      } while (cursor);
      expect(received.map((outcome) => outcome.requestId!).filter((id) => !ids.has(id))).toEqual([]);
      console.info(`embedded SIGKILL: ${received.length} tokens received, ${ids.size} token.issued rows after restart, 0 missing`);
    } finally {
      await again.stop();
    }
  }, 120_000);
});
