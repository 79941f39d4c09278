// A Redis and a PostgreSQL of a test's own, on free loopback ports, that the test may stop and start again to
// show what an outage does (the shared services of services.ts must never be stopped). Both are killed when
// the test process exits, however it exits.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface OwnService {
  url: string;
  /** Stops the service as an outage would (connections are dropped); its data survives. */
  stop(): Promise<void>;
  /** Starts it again on the same port, resolving once it accepts connections. */
  start(): Promise<void>;
  /** Stops it for good and removes its files. */
  dispose(): Promise<void>;
}

/** A port nothing listens on right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export async function startOwnRedis(): Promise<OwnService> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  const kill = () => child?.kill('SIGKILL');
  process.once('exit', kill);

  const service: OwnService = {
    url: `redis://127.0.0.1:${port}`,
    async start() {
      // No persistence: a restart comes back empty, as a Redis that lost its data would (the adapter has to cope).
      child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
      await waitUntil(() => redisAnswers(port), `redis-server on port ${port} did not start`);
    },
    async stop() {
      const running = child;
      child = undefined;
      if (!running || running.exitCode !== null) return;
      const exited = new Promise((resolve) => running.once('exit', resolve));
      running.kill('SIGTERM');
      await exited;
    },
    async dispose() {
      await service.stop();
      process.removeListener('exit', kill);
    },
  };
  await service.start();
  return service;
}

/** A PostgreSQL cluster of its own (initdb in a temporary directory); its URL names the `postgres` database. */
export async function startOwnPostgres(): Promise<OwnService> {
  const bin = postgresBin();
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'agentauth-own-pg-'));
  const data = join(dir, 'data');
  // initdb refuses to run as root: the cluster belongs to the `postgres` user then.
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const [uid, gid] = ['-u', '-g'].map((flag) => Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim()));
    chownSync(dir, uid, gid);
  }
  const spawnTool = (tool: string, args: string[]) => asRoot
    ? spawnSync('runuser', ['-u', 'postgres', '--', join(bin, tool), ...args], { encoding: 'utf8' })
    : spawnSync(join(bin, tool), args, { encoding: 'utf8' });
  const run = (tool: string, args: string[]) => {
    const result = spawnTool(tool, args);
    if (result.status !== 0) throw new Error(`${tool} failed: ${result.stderr || result.stdout}`);
  };
  run('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '--no-instructions']);
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off`;
  let running = false;
  const stopNow = () => {
    if (running) spawnTool('pg_ctl', ['-D', data, '-m', 'immediate', 'stop']);
  };
  process.once('exit', stopNow);

  const service: OwnService = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async start() {
      run('pg_ctl', ['-D', data, '-l', join(dir, 'log'), '-o', options, '-w', '-t', '20', 'start']);
      running = true;
    },
    async stop() {
      if (!running) return;
      // Fast shutdown: open connections are terminated, as in a failover or a restart by the operator.
      run('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']);
      running = false;
    },
    async dispose() {
      await service.stop();
      process.removeListener('exit', stopNow);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await service.start();
  return service;
}

function postgresBin(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  const found = versions.map((version) => join(root, version, 'bin')).find((bin) => existsSync(join(bin, 'initdb')));
  if (!found) throw new Error(`no PostgreSQL server binaries (initdb) under ${root}`);
  return found;
}

function redisAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('error', () => resolve(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => {
      socket.destroy();
      resolve(data.toString().startsWith('+PONG'));
    });
  });
}

async function waitUntil(check: () => Promise<boolean>, failure: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(failure);
    await sleep(20);
  }
}
