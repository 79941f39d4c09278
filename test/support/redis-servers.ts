// Redis deployments a test starts for itself on free loopback ports, in a temporary directory: a 3-master Redis
// Cluster, or a master with one replica watched by one Sentinel. Every process is killed by `stop()`, and by
// an exit hook should the test file die first, so none outlives the run.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

export interface RedisDeployment {
  /** The REDIS_URL naming it. */
  url: string;
  stop(): Promise<void>;
}

export interface RedisClusterDeployment extends RedisDeployment {
  ports: number[];
  /** The nodes that are masters now (a replica becomes one when its master dies). */
  masterPorts(): Promise<number[]>;
  /** SIGKILLs one node. */
  kill(port: number): Promise<void>;
  /** Resolves once every live node reports `cluster_state:ok`. */
  clusterOk(): Promise<void>;
}

export interface RedisSentinelDeployment extends RedisDeployment {
  masterName: string;
  /** Data ports: the master's first, then the replica's (their roles swap on failover). */
  dataPorts: number[];
  sentinelPort: number;
  /** A plain connection to the sentinel, for SENTINEL commands. */
  sentinel: Redis;
}

const running = new Set<ChildProcess>();
process.once('exit', () => { for (const child of running) child.kill('SIGKILL'); });

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Three masters, every slot assigned, `cluster_state:ok` on each; with `replicas: 1` a replica per master too,
 * and a node timeout of one second so a replica takes over quickly when its master is killed.
 */
export async function startRedisCluster(options: { replicas?: 0 | 1 } = {}): Promise<RedisClusterDeployment> {
  const replicas = options.replicas ?? 0;
  const dir = await mkdtemp(join(tmpdir(), 'agentauth-redis-cluster-'));
  const children = new Map<number, ChildProcess>();
  const stop = () => stopAll([...children.values()], dir);
  try {
    // A cluster node also listens on port + 10000 for its cluster bus.
    const ports = await freePorts(3 * (1 + replicas), true);
    for (const port of ports) {
      children.set(port, await startRedisProcess(port, dir, [
        '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--cluster-node-timeout', replicas ? '1000' : '15000',
        '--dbfilename', `dump-${port}.rdb`,
      ]));
    }
    await run('redis-cli', ['--cluster', 'create', ...ports.map((port) => `127.0.0.1:${port}`), '--cluster-replicas', String(replicas), '--cluster-yes']);
    const clusterOk = () => waitFor('cluster_state:ok on every node', async () => {
      const live = [...children].filter(([, child]) => child.exitCode === null && child.signalCode === null).map(([port]) => port);
      const states = await Promise.all(live.map((port) => withRedis(port, undefined, (redis) => redis.cluster('INFO'))));
      return states.every((info) => /cluster_state:ok/.test(String(info)));
    });
    await clusterOk();
    await waitFor('every replica in sync', async () => {
      const infos = await Promise.all(ports.map((port) => withRedis(port, undefined, (redis) => redis.info('replication'))));
      return infos.every((info) => /role:master/.test(info) || /master_link_status:up/.test(info));
    });
    return {
      url: `redis+cluster://${ports.map((port) => `127.0.0.1:${port}`).join(',')}`,
      ports,
      stop,
      async masterPorts() {
        const roles = await Promise.all(ports.map(async (port) => {
          const child = children.get(port)!;
          if (child.exitCode !== null || child.signalCode !== null) return undefined;
          return ((await withRedis(port, undefined, (redis) => redis.call('ROLE'))) as unknown[])[0] === 'master' ? port : undefined;
        }));
        return roles.filter((port): port is number => port !== undefined);
      },
      async kill(port) {
        const child = children.get(port)!;
        const exited = once(child, 'exit');
        child.kill('SIGKILL');
        await exited;
      },
      clusterOk,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

export interface SentinelPasswords {
  /** `requirepass` of the master and the replica (and the sentinel's `auth-pass` for them). */
  data?: string;
  /** `requirepass` of the sentinel itself. */
  sentinel?: string;
}

/** A master, one replica and one Sentinel (quorum 1) watching them as `mymaster`, each password-protected if asked. */
export async function startRedisSentinel(passwords: SentinelPasswords = {}): Promise<RedisSentinelDeployment> {
  const masterName = 'mymaster';
  const dir = await mkdtemp(join(tmpdir(), 'agentauth-redis-sentinel-'));
  const children: ChildProcess[] = [];
  let sentinel: Redis | undefined;
  const stop = async () => {
    sentinel?.disconnect();
    await stopAll(children, dir);
  };
  try {
    const [masterPort, replicaPort, sentinelPort] = await freePorts(3, false);
    const dataAuth = passwords.data ? ['--requirepass', passwords.data, '--masterauth', passwords.data] : [];
    children.push(await startRedisProcess(masterPort, dir, ['--dbfilename', `dump-${masterPort}.rdb`, ...dataAuth], [], passwords.data));
    children.push(await startRedisProcess(replicaPort, dir, ['--dbfilename', `dump-${replicaPort}.rdb`, ...dataAuth, '--replicaof', '127.0.0.1', String(masterPort)], [], passwords.data));
    await waitFor('the replica in sync', async () => /master_link_status:up/.test(await withRedis(replicaPort, passwords.data, (redis) => redis.info('replication'))));
    // Sentinel rewrites its configuration file, so it gets one of its own.
    const config = join(dir, 'sentinel.conf');
    await writeFile(config, [
      `port ${sentinelPort}`, 'bind 127.0.0.1', `dir ${dir}`,
      `sentinel monitor ${masterName} 127.0.0.1 ${masterPort} 1`,
      `sentinel down-after-milliseconds ${masterName} 1000`,
      `sentinel failover-timeout ${masterName} 10000`,
      ...(passwords.data ? [`sentinel auth-pass ${masterName} ${passwords.data}`] : []),
      ...(passwords.sentinel ? [`requirepass ${passwords.sentinel}`] : []),
    ].join('\n'));
    children.push(await startRedisProcess(sentinelPort, dir, [], [config, '--sentinel'], passwords.sentinel));
    sentinel = new Redis({ port: sentinelPort, host: '127.0.0.1', password: passwords.sentinel, maxRetriesPerRequest: 1 });
    const watcher = sentinel;
    // SENTINEL FAILOVER needs a replica the sentinel has seen healthy.
    await waitFor('the sentinel to see the replica', async () => {
      const replicas = (await watcher.call('SENTINEL', 'REPLICAS', masterName)) as string[][];
      return replicas.some((fields) => fields[fields.indexOf('master-link-status') + 1] === 'ok' && !fields[fields.indexOf('flags') + 1].includes('down'));
    });
    return { url: `redis+sentinel://127.0.0.1:${sentinelPort}/${masterName}`, masterName, dataPorts: [masterPort, replicaPort], sentinelPort, sentinel, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** One redis-server with extra arguments (say, `--requirepass`). */
export async function startRedisServer(args: string[] = [], password?: string): Promise<RedisDeployment & { port: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'agentauth-redis-'));
  const [port] = await freePorts(1, false);
  const children: ChildProcess[] = [];
  try {
    children.push(await startRedisProcess(port, dir, args, [], password));
  } catch (error) {
    await stopAll(children, dir);
    throw error;
  }
  return { url: `redis://127.0.0.1:${port}`, port, stop: () => stopAll(children, dir) };
}

async function startRedisProcess(port: number, dir: string, args: string[], config: string[] = [], password?: string): Promise<ChildProcess> {
  // A replica's first sync would otherwise wait 5 s (repl-diskless-sync-delay) for more replicas to join it.
  const child = spawn('redis-server', [...config, '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--repl-diskless-sync-delay', '0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let output = '';
  child.stdout!.on('data', (chunk) => { output += chunk; });
  child.stderr!.on('data', (chunk) => { output += chunk; });
  child.once('exit', () => running.delete(child));
  try {
    await waitFor(`redis-server on port ${port}`, async () => {
      if (child.exitCode !== null) throw new Error(`redis-server on port ${port} exited with ${child.exitCode}:\n${output}`);
      return (await withRedis(port, password, (redis) => redis.ping()).catch(() => '')) === 'PONG';
    });
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return child;
}

async function stopAll(children: ChildProcess[], dir: string): Promise<void> {
  await Promise.all(children.map(async (child) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  }));
  await rm(dir, { recursive: true, force: true });
}

/** One short-lived connection that never retries, for probing a server that may not be up yet. */
async function withRedis<T>(port: number, password: string | undefined, use: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis({ port, host: '127.0.0.1', password, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 500 });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    return await use(redis);
  } finally {
    redis.disconnect();
  }
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (chunk) => { output += chunk; });
    child.stderr!.on('data', (chunk) => { output += chunk; });
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`${command} ${args.join(' ')} exited with ${code}:\n${output}`));
    });
  });
}

/** Ports free on loopback right now (and, for cluster nodes, their bus port 10000 above too). */
export async function freePorts(count: number, withBusPort: boolean): Promise<number[]> {
  const ports: number[] = [];
  while (ports.length < count) {
    const port = withBusPort ? 20_000 + Math.floor(Math.random() * 30_000) : await anyFreePort();
    if (ports.includes(port)) continue;
    if (withBusPort && !((await isFree(port)) && (await isFree(port + 10_000)))) continue;
    ports.push(port);
  }
  return ports;
}

function anyFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}
