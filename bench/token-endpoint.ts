// `npm run bench`: our token and introspection endpoints against vanilla oidc-provider doing the same work,
// measured in the same run on the same machine and the same storage, printed as requests/s, p50/p99 and the
// ratio ours/vanilla. Both servers run as separate processes, measured in turns; the load comes from this one.
//
// Storage modes: `memory` (ours: process memory + embedded PGlite for clients; vanilla: the same memory adapter)
// and `redis` (ours: Redis + PostgreSQL; vanilla: the same Redis adapter). Choose with BENCH_MODES=memory,redis.
import { randomBytes } from 'node:crypto';
import {
  CONNECTIONS, DURATION, MODES, ROUNDS, basicAuth, combine, fmt, measure, pinned, startProcess, withStorage, type Measurement, type Target,
} from './harness.ts';

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

interface Scenario {
  name: string;
  /** Path and form body to send to this target (the introspected token is each server's own). */
  request(target: Target): Promise<{ path: string; body: string }>;
}

const SCENARIOS: Scenario[] = [
  { name: 'client_credentials, opaque', request: async () => ({ path: '/token', body: 'grant_type=client_credentials' }) },
  {
    name: 'client_credentials, JWT',
    request: async () => ({ path: '/token', body: `grant_type=client_credentials&resource=${encodeURIComponent(RESOURCE)}&scope=read` }),
  },
  { name: 'introspection, opaque', request: async (target) => ({ path: '/token/introspection', body: `token=${await activeOpaqueToken(target)}` }) },
];

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

/**
 * Both servers measured in alternation, ROUNDS times each, so drift on a shared machine (other tenants, storage
 * growing as tokens pile up) lands on both rather than on whichever happened to run second.
 */
async function compare(scenario: Scenario, targets: Target[]): Promise<Measurement[]> {
  const runs: Measurement[][] = targets.map(() => []);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [index, target] of targets.entries()) {
      const { path, body } = await scenario.request(target);
      runs[index].push(await measure(`${target.url}${path}`, { authorization: target.basic }, body, target.pid));
    }
  }
  return runs.map(combine);
}

console.log(`token endpoint benchmark: ${CONNECTIONS} connections, ${ROUNDS} × ${DURATION} s per scenario and server, alternating, node ${process.version}${pinned ? ', load on core 0, servers on core 1' : ''}`);
for (const mode of MODES) {
  await withStorage(mode, (vanillaStorage) => withStorage(mode, async (ourStorage) => {
    const targets = [await startVanilla(mode, vanillaStorage), await startOurs(mode, ourStorage)];
    try {
      console.log(`\n== ${mode} storage ==`);
      for (const scenario of SCENARIOS) {
        const [vanilla, ours] = await compare(scenario, targets);
        console.log(scenario.name);
        console.log(`  vanilla  ${fmt(vanilla)}`);
        console.log(`  ours     ${fmt(ours)}`);
        const cpu = (vanilla.cpuPerRequest ?? Number.NaN) / (ours.cpuPerRequest ?? Number.NaN);
        console.log(`  ratio ours/vanilla: ${(ours.rps / vanilla.rps).toFixed(2)} (req/s)${Number.isFinite(cpu) ? `, ${cpu.toFixed(2)} (CPU per request, inverted)` : ''}`);
      }
    } finally {
      await Promise.all(targets.map((target) => target.stop()));
    }
  }));
}
