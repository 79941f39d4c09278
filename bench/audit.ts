// `npm run bench:audit`: what making an issued token's audit event durable costs per token, against the buffered
// write it replaced (recorded in memory, written within a second), measured in the same run on the same storage.
//
// For each storage (Redis stream + PostgreSQL relay; embedded PGlite group commit) it records BENCH_EVENTS events
// of the size the token endpoint records, BENCH_CONCURRENCY at a time as concurrent token requests would:
// - buffered: `AuditLog.record` (the baseline), then the flush that writes them;
// - durable: `recordDurably`, each awaited as the token endpoint awaits it, then whatever the relay still has to do.
// Printed: CPU µs per event in this process (request thread and relay together, since an instance does both),
// the wall time a request waits for its event (p50/p99), and the ratio durable / buffered.
import { performance } from 'node:perf_hooks';
import { AuditLog, type AuditEvent } from '../adapters/audit-log.ts';
import { localAuditTrail, RedisAuditStream, type AuditTrail } from '../adapters/audit-stream.ts';
import { openDatabase } from '../adapters/database.ts';
import { connectRedis } from '../adapters/redis-connection.ts';
import { parseRedisUrl } from '../config/redis-url.ts';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 20_000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const DATABASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';

function event(i: number): AuditEvent {
  return {
    event: 'token.issued', outcome: 'success', clientId: 'agent_bench', subject: 'agent_bench',
    requestId: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, sourceIp: '127.0.0.1',
    details: { grant_type: 'client_credentials', scope: 'read', audience: 'https://api.example.com/' },
  };
}

interface Figures { cpuUs: number; p50Ms: number; p99Ms: number }

async function run(label: string, record: (e: AuditEvent) => Promise<void> | void, settle: () => Promise<void>): Promise<Figures> {
  const waits: number[] = [];
  let next = 0;
  const cpu = process.cpuUsage();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < EVENTS) {
      const i = next++;
      const started = performance.now();
      await record(event(i));
      waits.push(performance.now() - started);
      // A token request is not only its audit event: give the event loop a turn as a request would.
      await new Promise((resolve) => setImmediate(resolve));
    }
  }));
  await settle();
  const used = process.cpuUsage(cpu);
  waits.sort((a, b) => a - b);
  const figures = { cpuUs: (used.user + used.system) / EVENTS, p50Ms: waits[Math.floor(waits.length / 2)], p99Ms: waits[Math.floor(waits.length * 0.99)] };
  console.log(`  ${label.padEnd(34)} ${figures.cpuUs.toFixed(1).padStart(7)} µs CPU/event   wait p50 ${figures.p50Ms.toFixed(3)} ms  p99 ${figures.p99Ms.toFixed(3)} ms`);
  return figures;
}

async function postgresSchema(): Promise<{ url: string; drop: () => Promise<void> }> {
  const schema = `bench_audit_${process.pid}`;
  const admin = new pg.Client({ connectionString: DATABASE_URL });
  await admin.connect();
  await admin.query(`create schema ${schema}`);
  const url = new URL(DATABASE_URL);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return { url: url.toString(), drop: async () => { await admin.query(`drop schema ${schema} cascade`); await admin.end(); } };
}

async function redisAndPostgres(): Promise<void> {
  console.log(`Redis stream + PostgreSQL relay (${EVENTS} events, ${CONCURRENCY} concurrent)`);
  const schema = await postgresSchema();
  const database = await openDatabase({ url: schema.url, dataDir: tmpdir() });
  const redis = connectRedis(parseRedisUrl(REDIS_URL), { enableAutoPipelining: true });
  const prefix = `bench-audit-${process.pid}:`;
  try {
    const buffered = new AuditLog(database.db, { maxBatch: 2000 });
    const baseline = await run('buffered (baseline)', (e) => buffered.record(e), () => buffered.flush());
    await buffered.close();
    const local = new AuditLog(database.db, { maxBatch: 2000 });
    const stream: AuditTrail = new RedisAuditStream(redis, local, { prefix, log: (line) => console.error(line) });
    const durable = await run('durable (stream, relayed)', (e) => stream.recordDurably(e), () => local.flush());
    await stream.close();
    console.log(`  ratio durable / buffered CPU: ${(durable.cpuUs / baseline.cpuUs).toFixed(2)} (+${(durable.cpuUs - baseline.cpuUs).toFixed(1)} µs per token)`);
  } finally {
    await redis.del(`${prefix}audit:stream`);
    redis.disconnect();
    await database.close();
    await schema.drop();
  }
}

async function embedded(): Promise<void> {
  console.log(`Embedded PGlite (${EVENTS} events, ${CONCURRENCY} concurrent)`);
  const dir = await mkdtemp(join(tmpdir(), 'bench-audit-'));
  const database = await openDatabase({ dataDir: dir });
  try {
    const buffered = new AuditLog(database.db, { maxBatch: 2000 });
    const baseline = await run('buffered (baseline)', (e) => buffered.record(e), () => buffered.flush());
    await buffered.close();
    const local = new AuditLog(database.db, { maxBatch: 2000 });
    const trail = localAuditTrail(local);
    const durable = await run('durable (group commit)', (e) => trail.recordDurably(e), () => local.flush());
    await trail.close();
    console.log(`  ratio durable / buffered CPU: ${(durable.cpuUs / baseline.cpuUs).toFixed(2)} (+${(durable.cpuUs - baseline.cpuUs).toFixed(1)} µs per token)`);
  } finally {
    await database.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const modes = (process.env.BENCH_MODES ?? 'redis,embedded').split(',');
if (modes.includes('redis')) await redisAndPostgres();
if (modes.includes('embedded')) await embedded();
