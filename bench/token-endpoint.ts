// `npm run bench`: our token and introspection endpoints against vanilla oidc-provider doing the same work,
// measured in the same run on the same machine and the same storage, printed as requests/s, p50/p99 and the
// ratio ours/vanilla. Both servers run as separate processes; the load comes from this one.
//
// Storage modes: `memory` (ours: process memory + embedded PGlite for clients; vanilla: the same memory adapter)
// and `redis` (ours: Redis + PostgreSQL; vanilla: the same Redis adapter). Choose with BENCH_MODES=memory,redis.
import { randomBytes } from 'node:crypto';
import { CONNECTIONS, DURATION, MODES, basicAuth, fmt, measure, pinned, startProcess, withStorage, type Measurement, type Target } from './harness.ts';

const RESOURCE = 'https://api.bench.test/';
const ADMIN_TOKEN = randomBytes(32).toString('base64url');
const adminHeaders = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };

async function startOurs(mode: string, storageEnv: Record<string, string>): Promise<Target> {
  const server = await startProcess('../server/main.ts', { PORT: '0', ADMIN_TOKEN, ...storageEnv });
  await fetch(`${server.url}/admin/resources`, {
    method: 'POST', headers: adminHeaders, body: JSON.stringify({ identifier: RESOURCE, scopes: ['read', 'write'], token_format: 'jwt', access_token_ttl: 600 }),
  });
  return { name: `ours (${mode})`, url: server.url, pid: server.pid, basic: await registerClient(server.url), stop: server.stop };
}

async function startVanilla(mode: string, storageEnv: Record<string, string>): Promise<Target> {
  const server = await startProcess('./vanilla-provider.ts', { BENCH_STORAGE: mode, BENCH_ADMIN_TOKEN: ADMIN_TOKEN, BENCH_RESOURCE: RESOURCE, ...storageEnv });
  return { name: `vanilla (${mode})`, url: server.url, pid: server.pid, basic: await registerClient(server.url), stop: server.stop };
}

/** The same dynamic registration (RFC 7591, initial access token) at both servers, so they load the same client. */
async function registerClient(url: string): Promise<string> {
  const response = await fetch(`${url}/reg`, {
    method: 'POST', headers: adminHeaders, body: JSON.stringify({ grant_types: ['client_credentials'], response_types: [], redirect_uris: [] }),
  });
  if (response.status !== 201) throw new Error(`registration at ${url} failed: ${response.status} ${await response.text()}`);
  const { client_id: id, client_secret: secret } = await response.json() as { client_id: string; client_secret: string };
  return basicAuth(id, secret);
}

async function scenarios(target: Target): Promise<Record<string, Measurement>> {
  const auth = { authorization: target.basic };
  const results: Record<string, Measurement> = {
    'client_credentials, opaque': await measure(`${target.url}/token`, auth, 'grant_type=client_credentials', target.pid),
    'client_credentials, JWT': await measure(`${target.url}/token`, auth, `grant_type=client_credentials&resource=${encodeURIComponent(RESOURCE)}&scope=read`, target.pid),
  };
  const opaque = await activeOpaqueToken(target);
  results['introspection, opaque'] = await measure(`${target.url}/token/introspection`, auth, `token=${opaque}`, target.pid);
  return results;
}

/** A fresh token that both servers must answer `active: true` for: a measured inactive answer is less work. */
async function activeOpaqueToken(target: Target): Promise<string> {
  const form = { authorization: target.basic, 'content-type': 'application/x-www-form-urlencoded' };
  const issued = await fetch(`${target.url}/token`, { method: 'POST', headers: form, body: 'grant_type=client_credentials' });
  const { access_token: token } = await issued.json() as { access_token: string };
  const introspected = await fetch(`${target.url}/token/introspection`, { method: 'POST', headers: form, body: `token=${token}` });
  const { active } = await introspected.json() as { active: boolean };
  if (!active) throw new Error(`${target.name} does not find the token it just issued`);
  return token;
}

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
      const cpu = (vanilla[scenario].cpuPerRequest ?? Number.NaN) / (ours[scenario].cpuPerRequest ?? Number.NaN);
      console.log(`  ratio ours/vanilla: ${(ours[scenario].rps / vanilla[scenario].rps).toFixed(2)} (req/s)${Number.isFinite(cpu) ? `, ${cpu.toFixed(2)} (CPU per request, inverted)` : ''}`);
    }
  });
}
