// `npm run bench`: our token and introspection endpoints against vanilla oidc-provider doing the same work,
// measured in the same run on the same machine and the same storage, printed as requests/s, p50/p99 and the
// ratio ours/vanilla. Both servers run as separate processes; the load comes from this one.
//
// Storage modes: `memory` (ours: process memory + embedded PGlite for clients; vanilla: the same memory adapter)
// and `redis` (ours: Redis + PostgreSQL; vanilla: the same Redis adapter). Choose with BENCH_MODES=memory,redis.
import {
  CONNECTIONS, DURATION, MODES, ROUNDS, fmt, measure, pinned, withStorage, type Measurement, type Target,
} from './harness.ts';
import { RESOURCE, startOurs, startVanilla } from './servers.ts';

interface Scenario {
  name: string;
  /** Path and form body to send to this target (the introspected token is each server's own), and who sends it. */
  request(target: Target): Promise<{ path: string; body: string; basic?: string }>;
}

const SCENARIOS: Scenario[] = [
  { name: 'client_credentials, opaque', request: async () => ({ path: '/token', body: 'grant_type=client_credentials' }) },
  {
    name: 'client_credentials, JWT',
    request: async () => ({ path: '/token', body: `grant_type=client_credentials&resource=${encodeURIComponent(RESOURCE)}&scope=read` }),
  },
  {
    // The product's main path: an agent (its scope patterns, resources, owner and roles on the token); vanilla,
    // which has no agents, does the same request as its registered client.
    name: 'client_credentials, JWT, agent (vanilla: its client)',
    request: async (target) => ({ path: '/token', body: `grant_type=client_credentials&resource=${encodeURIComponent(RESOURCE)}&scope=read`, basic: target.agentBasic }),
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

interface Comparison {
  /** Each server loaded on its own: its throughput and latency. */
  alone: Measurement[];
  /** Both servers loaded at the same moment, per round. */
  together: Measurement[][];
}

/**
 * Each server alone once, for its own throughput and latency; then both side by side, ROUNDS times, for the ratio.
 * Loaded at the same moment on the same core, the two meet the same machine (other tenants, frequency, storage
 * growing as tokens pile up), which runs taken in turns did not: on a shared VM their ratio drifted by ±0.1 from
 * run to run. CPU per request, read for each process, does not depend on how the core was shared between them;
 * requests/s side by side do, so throughput is compared from the runs alone. Sharing a core also means sharing its
 * caches, which may weigh more on the server with the larger working set: both kinds of ratio are printed.
 */
async function compare(scenario: Scenario, targets: Target[]): Promise<Comparison> {
  const requests = await Promise.all(targets.map((target) => scenario.request(target)));
  const load = (target: Target, index: number) => measure(`${target.url}${requests[index].path}`, { authorization: requests[index].basic ?? target.basic }, requests[index].body, target.pid);
  const alone: Measurement[] = [];
  for (const [index, target] of targets.entries()) alone.push(await load(target, index));
  const together: Measurement[][] = [];
  for (let round = 0; round < ROUNDS; round++) together.push(await Promise.all(targets.map(load)));
  return { alone, together };
}

const mean = (values: number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;

console.log(`token endpoint benchmark: ${CONNECTIONS} connections per server, ${DURATION} s alone and ${ROUNDS} × ${DURATION} s side by side per scenario, node ${process.version}${pinned ? ', load on core 0, servers on core 1' : ''}`);
for (const mode of MODES) {
  await withStorage(mode, (vanillaStorage) => withStorage(mode, async (ourStorage) => {
    const targets = [await startVanilla(mode, vanillaStorage), await startOurs(mode, ourStorage)];
    try {
      console.log(`\n== ${mode} storage ==`);
      for (const scenario of SCENARIOS) {
        const { alone: [vanilla, ours], together } = await compare(scenario, targets);
        console.log(scenario.name);
        console.log(`  vanilla  ${fmt(vanilla)}`);
        console.log(`  ours     ${fmt(ours)}`);
        // Side by side, the core is not always shared evenly, so their req/s are no ratio; CPU per request is.
        const cpu = together.map(([v, o]) => (v.cpuPerRequest ?? Number.NaN) / (o.cpuPerRequest ?? Number.NaN));
        console.log(`  side by side, CPU per request vanilla/ours: ${cpu.map((ratio) => ratio.toFixed(2)).join(' ')}`);
        const cpuAlone = (vanilla.cpuPerRequest ?? Number.NaN) / (ours.cpuPerRequest ?? Number.NaN);
        console.log(`  ratio ours/vanilla: ${(ours.rps / vanilla.rps).toFixed(2)} (req/s alone), ${cpuAlone.toFixed(2)} (CPU per request alone, inverted), ${mean(cpu).toFixed(2)} (CPU per request side by side, inverted)`);
      }
    } finally {
      await Promise.all(targets.map((target) => target.stop()));
    }
  }));
}
