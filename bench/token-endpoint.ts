// `npm run bench`: our token and introspection endpoints against vanilla oidc-provider doing the same work,
// measured in the same run on the same machine and the same storage, printed as requests/s, p50/p99 and the
// ratio ours/vanilla. Both servers run as separate processes; the load comes from this one.
//
// Storage modes: `memory` (ours: process memory + embedded PGlite for clients; vanilla: its memory adapter)
// and `redis` (ours: Redis + PostgreSQL; vanilla: the same Redis adapter). Choose with BENCH_MODES=memory,redis.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync, spawn } from 'node:child_process';
import autocannon from 'autocannon';
import pg from 'pg';
import { Redis } from 'ioredis';

const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const DATABASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const DURATION = Number(process.env.BENCH_DURATION ?? 8);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const MODES = (process.env.BENCH_MODES ?? 'memory,redis').split(',');
const RESOURCE = 'https://api.bench.test/';
const ADMIN_TOKEN = randomBytes(32).toString('base64url');

// On a small machine the load generator would steal the server's CPU and make every ratio noise: when
// `taskset` exists, this process keeps core 0 and each server under test gets core 1 to itself.
const pinned = (() => {
  try {
    execFileSync('taskset', ['-p', '-c', '0', String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

interface Target { name: string; url: string; basic: string; stop(): Promise<void> }
interface Measurement { rps: number; p50: number; p99: number; errors: number }

async function startProcess(script: string, env: Record<string, string>): Promise<{ url: string; stop(): Promise<void> }> {
  const command = [process.execPath, fileURLToPath(new URL(script, import.meta.url))];
  const child = spawn(pinned ? 'taskset' : command[0], pinned ? ['-c', '1', ...command] : command.slice(1), {
    env: { PATH: process.env.PATH ?? '', NODE_ENV: 'test', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (c) => { output += c; });
  child.stderr.on('data', (c) => { output += c; });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} did not start:\n${output}`)), 30_000);
    child.stdout.on('data', () => {
      const match = /listening on (http:\/\/\S+)/.exec(output);
      if (match) { clearTimeout(timer); resolve(match[1]); }
    });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`${script} exited ${code}:\n${output}`)); });
  });
  return {
    url,
    stop: () => new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    }),
  };
}

async function startOurs(mode: string, storageEnv: Record<string, string>): Promise<Target> {
  const server = await startProcess('../server/main.ts', { PORT: '0', ADMIN_TOKEN, ...storageEnv });
  const admin = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
  await fetch(`${server.url}/admin/resources`, { method: 'POST', headers: admin, body: JSON.stringify({ identifier: RESOURCE, scopes: ['read', 'write'], token_format: 'jwt', access_token_ttl: 600 }) });
  const registered = await (await fetch(`${server.url}/reg`, {
    method: 'POST', headers: admin, body: JSON.stringify({ grant_types: ['client_credentials'], response_types: [], redirect_uris: [] }),
  })).json() as { client_id: string; client_secret: string };
  return { name: `ours (${mode})`, url: server.url, basic: basicAuth(registered.client_id, registered.client_secret), stop: server.stop };
}

async function startVanilla(mode: string, storageEnv: Record<string, string>): Promise<Target> {
  const clientId = 'bench-client';
  const clientSecret = randomBytes(32).toString('base64url');
  const server = await startProcess('./vanilla-provider.ts', {
    BENCH_STORAGE: mode, BENCH_CLIENT_ID: clientId, BENCH_CLIENT_SECRET: clientSecret, BENCH_RESOURCE: RESOURCE, ...storageEnv,
  });
  return { name: `vanilla (${mode})`, url: server.url, basic: basicAuth(clientId, clientSecret), stop: server.stop };
}

function basicAuth(id: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

async function measure(url: string, headers: Record<string, string>, body: string): Promise<Measurement> {
  const options = { url, method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body, connections: CONNECTIONS };
  await autocannon({ ...options, duration: 2 }); // warm-up: JIT, connection pools, caches
  const result = await autocannon({ ...options, duration: DURATION });
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, errors: result.non2xx + result.errors + result.timeouts };
}

async function scenarios(target: Target): Promise<Record<string, Measurement>> {
  const auth = { authorization: target.basic };
  const token = await fetch(`${target.url}/token`, { method: 'POST', headers: { ...auth, 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials' });
  const { access_token: opaque } = await token.json() as { access_token: string };
  return {
    'client_credentials, opaque': await measure(`${target.url}/token`, auth, 'grant_type=client_credentials'),
    'client_credentials, JWT': await measure(`${target.url}/token`, auth, `grant_type=client_credentials&resource=${encodeURIComponent(RESOURCE)}&scope=read`),
    'introspection, opaque': await measure(`${target.url}/token/introspection`, auth, `token=${opaque}`),
  };
}

async function withStorage<T>(mode: string, run: (env: Record<string, string>) => Promise<T>): Promise<T> {
  if (mode === 'memory') {
    const dir = await mkdtemp(join(tmpdir(), 'agentauth-bench-'));
    try {
      return await run({ DATA_DIR: dir });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  const schema = `bench_${randomBytes(4).toString('hex')}`;
  const prefix = `bench:${randomBytes(4).toString('hex')}:`;
  const admin = new pg.Client({ connectionString: DATABASE_URL });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  const url = new URL(DATABASE_URL);
  url.searchParams.set('options', `-c search_path=${schema}`);
  try {
    return await run({ REDIS_URL, DATABASE_URL: url.toString(), REDIS_KEY_PREFIX: prefix });
  } finally {
    await admin.query(`DROP SCHEMA ${schema} CASCADE`);
    await admin.end();
    const redis = new Redis(REDIS_URL);
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await Promise.all(keys.map((key) => redis.del(key)));
    } while (cursor !== '0');
    await redis.quit();
  }
}

const fmt = (m: Measurement) => `${m.rps.toFixed(0).padStart(6)} req/s  p50 ${String(m.p50).padStart(3)} ms  p99 ${String(m.p99).padStart(3)} ms${m.errors ? `  (${m.errors} errors)` : ''}`;

console.log(`token endpoint benchmark: ${CONNECTIONS} connections, ${DURATION} s per scenario, node ${process.version}${pinned ? ', load on core 0, server on core 1' : ''}`);
for (const mode of MODES) {
  await withStorage(mode, async (env) => {
    const results: Record<string, Record<string, Measurement>> = {};
    for (const start of [startVanilla, startOurs]) {
      const target = await start(mode, env);
      try {
        results[target.name] = await scenarios(target);
      } finally {
        await target.stop();
      }
    }
    const [vanilla, ours] = [results[`vanilla (${mode})`], results[`ours (${mode})`]];
    console.log(`\n== ${mode} storage ==`);
    for (const scenario of Object.keys(ours)) {
      console.log(`${scenario}`);
      console.log(`  vanilla  ${fmt(vanilla[scenario])}`);
      console.log(`  ours     ${fmt(ours[scenario])}`);
      console.log(`  ratio ours/vanilla: ${(ours[scenario].rps / vanilla[scenario].rps).toFixed(2)}`);
    }
  });
}
