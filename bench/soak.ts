// `npm run bench:soak`: memory over a long mixed load. Our server runs as its own process on each storage mode
// (BENCH_MODES) for SOAK_SECONDS (300), loaded with client_credentials for a JWT resource and an opaque one and
// introspection, while its resident set size is read from /proc every 10 s. Tokens live TOKEN_TTL seconds (60),
// so the live-token set (and what it holds in memory or Redis) stops growing after the first minute: from then on
// RSS should be flat. Printed: the samples, then RSS after the first TTL and at the end, and the growth between.
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import autocannon from 'autocannon';
import { Redis } from 'ioredis';
import { CONNECTIONS, MODES, REDIS_URL, basicAuth, pinned, startProcess, withStorage } from './harness.ts';

const SOAK_SECONDS = Number(process.env.SOAK_SECONDS ?? 300);
const SAMPLE_SECONDS = 10;
const TOKEN_TTL = Number(process.env.TOKEN_TTL ?? 60);
const JWT_RESOURCE = 'https://jwt.soak.test/';
const OPAQUE_RESOURCE = 'https://opaque.soak.test/';
const ADMIN_TOKEN = randomBytes(32).toString('base64url');
const admin = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };

function rssMb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((entry) => entry.startsWith('VmRSS:'))!;
  return Number(line.split(/\s+/)[1]) / 1024;
}

/** The server's own view of its memory (prom-client's default metrics): JS heap in use, and memory outside it. */
async function heapFigures(url: string): Promise<{ heap: number; external: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN) / 1024 / 1024;
  return { heap: value('nodejs_heap_size_used_bytes'), external: value('nodejs_external_memory_bytes') };
}

async function liveRedisKeys(prefix: string | undefined): Promise<number | undefined> {
  if (!prefix) return undefined;
  const redis = new Redis(REDIS_URL);
  let cursor = '0';
  let count = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 5000);
    cursor = next;
    count += keys.length;
  } while (cursor !== '0');
  await redis.quit();
  return count;
}

async function soak(mode: string): Promise<void> {
  await withStorage(mode, async (storageEnv) => {
    const server = await startProcess('../server/main.ts', { PORT: '0', ADMIN_TOKEN, RATE_LIMIT_CLIENT_REQUESTS: 'off', LOG_LEVEL: 'warn', ...storageEnv });
    try {
      for (const [identifier, format] of [[JWT_RESOURCE, 'jwt'], [OPAQUE_RESOURCE, 'opaque']]) {
        const created = await fetch(`${server.url}/admin/resources`, { method: 'POST', headers: admin, body: JSON.stringify({ identifier, scopes: ['read'], token_format: format, access_token_ttl: TOKEN_TTL }) });
        if (created.status !== 201) throw new Error(`resource: ${created.status} ${await created.text()}`);
      }
      const registered = await fetch(`${server.url}/reg`, { method: 'POST', headers: admin, body: JSON.stringify({ grant_types: ['client_credentials'], response_types: [], redirect_uris: [] }) });
      const { client_id: id, client_secret: secret } = await registered.json() as { client_id: string; client_secret: string };
      const form = { authorization: basicAuth(id, secret), 'content-type': 'application/x-www-form-urlencoded' };
      const issued = await fetch(`${server.url}/token`, { method: 'POST', headers: form, body: `grant_type=client_credentials&resource=${encodeURIComponent(OPAQUE_RESOURCE)}&scope=read` });
      const { access_token: introspected } = await issued.json() as { access_token: string };

      const samples: { at: number; rss: number; heap: number; external: number; keys?: number }[] = [];
      const started = Date.now();
      const sample = async () => samples.push({
        at: Math.round((Date.now() - started) / 1000), rss: rssMb(server.pid), ...(await heapFigures(server.url)), keys: await liveRedisKeys(storageEnv.REDIS_KEY_PREFIX),
      });
      await sample();
      const timer = setInterval(() => void sample(), SAMPLE_SECONDS * 1000);
      const result = await autocannon({
        url: server.url, connections: CONNECTIONS, duration: SOAK_SECONDS, headers: form,
        requests: [
          { method: 'POST', path: '/token', body: `grant_type=client_credentials&resource=${encodeURIComponent(JWT_RESOURCE)}&scope=read` },
          { method: 'POST', path: '/token', body: `grant_type=client_credentials&resource=${encodeURIComponent(OPAQUE_RESOURCE)}&scope=read` },
          { method: 'POST', path: '/token/introspection', body: `token=${introspected}` },
        ],
      });
      clearInterval(timer);
      await sample();

      console.log(`\n${mode}: ${result.requests.total} requests in ${SOAK_SECONDS} s (${result.requests.average.toFixed(0)} req/s), non-2xx ${result.non2xx + result.errors + result.timeouts}, p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms`);
      console.log('  at   RSS MB  heap MB  external MB  Redis keys');
      for (const entry of samples) {
        console.log(`  ${String(entry.at).padStart(3)}s ${entry.rss.toFixed(0).padStart(6)} ${entry.heap.toFixed(0).padStart(8)} ${entry.external.toFixed(0).padStart(12)}  ${entry.keys ?? '-'}`);
      }
      // A token's record outlives it by the clock tolerance (15 s), and embedded storage sweeps expired records
      // once a minute: from then on the live set is at its size, and what grows is not tokens.
      const settled = samples.find((entry) => entry.at >= TOKEN_TTL + 15 + 60 + SAMPLE_SECONDS) ?? samples[0];
      const last = samples[samples.length - 1];
      const minutes = (last.at - settled.at) / 60;
      const perMinute = (delta: number) => (delta / Math.max(minutes, 1 / 60)).toFixed(1);
      console.log(`  from ${settled.at} s (live set settled) to ${last.at} s: RSS ${(last.rss - settled.rss).toFixed(1)} MB (${perMinute(last.rss - settled.rss)} MB/min), `
        + `heap ${(last.heap - settled.heap).toFixed(1)} MB, external ${(last.external - settled.external).toFixed(1)} MB; peak RSS ${Math.max(...samples.map((entry) => entry.rss)).toFixed(0)} MB`);
    } finally {
      await server.stop();
    }
  });
}

console.log(`soak: ${SOAK_SECONDS} s per mode, tokens live ${TOKEN_TTL} s, ${CONNECTIONS} connections${pinned ? ', server and load on separate cores' : ''}`);
for (const mode of MODES) await soak(mode);
