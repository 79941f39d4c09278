// What every benchmark here shares: servers under test as separate processes pinned to their own core, the load
// generator on another, fresh storage per run (a Redis key prefix and a PostgreSQL schema, or a temporary
// directory for the embedded mode), and one way to measure and print.
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync, spawn } from 'node:child_process';
import autocannon from 'autocannon';
import pg from 'pg';
import { Redis } from 'ioredis';

export const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const DATABASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const DURATION = Number(process.env.BENCH_DURATION ?? 6);
/** Measurements per scenario where two servers are compared, both loaded at once. */
export const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
export const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
export const MODES = (process.env.BENCH_MODES ?? 'memory,redis').split(',');

// On a small machine the load generator would steal the server's CPU and make every ratio noise: when
// `taskset` exists, this process keeps core 0 and the servers under test share core 1.
export const pinned = (() => {
  try {
    execFileSync('taskset', ['-p', '-c', '0', String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

export interface Target {
  name: string;
  url: string;
  pid: number;
  basic: string;
  /** Ours only: an agent's credentials (the product's main path); vanilla, which has no agents, uses `basic`. */
  agentBasic?: string;
  stop(): Promise<void>;
}
export interface Measurement {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  /** CPU time (all threads) the server spent per request, in µs; steadier than req/s on a shared machine. */
  cpuPerRequest?: number;
}

export async function startProcess(script: string, env: Record<string, string>): Promise<{ url: string; pid: number; stop(): Promise<void> }> {
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
      const match = /listening on (http:\/\/[^\s"]+)/.exec(output);
      if (match) { clearTimeout(timer); resolve(match[1]); }
    });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`${script} exited ${code}:\n${output}`)); });
  });
  return {
    url,
    pid: child.pid!,
    stop: () => new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    }),
  };
}

export function basicAuth(id: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

/** `serverPid`, when given, is read in /proc for the server's CPU time over the measured run. */
export async function measure(url: string, headers: Record<string, string>, body: string, serverPid?: number): Promise<Measurement> {
  const options = { url, method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body, connections: CONNECTIONS };
  await autocannon({ ...options, duration: 2 }); // warm-up: JIT, connection pools, caches
  const cpuBefore = serverPid ? cpuMillis(serverPid) : undefined;
  const result = await autocannon({ ...options, duration: DURATION });
  const cpu = serverPid && cpuBefore !== undefined ? cpuMillis(serverPid) - cpuBefore : undefined;
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.non2xx + result.errors + result.timeouts,
    ...(cpu !== undefined && result.requests.total ? { cpuPerRequest: (cpu * 1000) / result.requests.total } : {}),
  };
}

/** User + system CPU time of a process, all threads, in ms (Linux /proc; clock ticks are 10 ms). */
function cpuMillis(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return Number.NaN;
  }
}

export async function withStorage<T>(mode: string, run: (env: Record<string, string>) => Promise<T>): Promise<T> {
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

export const fmt = (m: Measurement) => `${m.rps.toFixed(0).padStart(6)} req/s  p50 ${String(m.p50).padStart(3)} ms  p99 ${String(m.p99).padStart(3)} ms${
  m.cpuPerRequest !== undefined && Number.isFinite(m.cpuPerRequest) ? `  ${m.cpuPerRequest.toFixed(0).padStart(4)} µs CPU/req` : ''}${m.errors ? `  (${m.errors} errors)` : ''}`;

