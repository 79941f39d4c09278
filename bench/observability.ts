// `npm run bench:observability`: what the access log and the metrics cost per request, two ways in one run.
//
// 1. In process, exact: the request-observing middleware (request id, log context, timing) alone, then with each
//    observer of a token request: the access line at `warn` (disabled) and at `info` (written to /dev/null through
//    the same asynchronous destination as stdout), the metrics update, and everything together. Printed as µs per
//    request and as the difference to the middleware alone.
// 2. End to end: two server processes on the same storage, LOG_LEVEL=warn and LOG_LEVEL=info, loaded side by
//    side with client_credentials (as bench/token-endpoint.ts does); their CPU per request and its ratio. Both
//    keep metrics on (they always are), so this difference is the access line alone, stdout pipe included.
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { accessLog } from '../server/access-log.ts';
import { createLogger } from '../server/logger.ts';
import { ServerMetrics } from '../server/metrics.ts';
import { observeRequests, type RequestObserver } from '../server/observe-requests.ts';
import { requestMetrics } from '../server/request-metrics.ts';
import { CONNECTIONS, DURATION, MODES, ROUNDS, basicAuth, fmt, measure, pinned, startProcess, withStorage, type Measurement } from './harness.ts';

const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 200_000);

/** A Koa context as the observers see one at the end of a successful client_credentials request. */
function tokenRequestContext() {
  const headers: Record<string, string> = {
    host: 'localhost:3000', 'content-type': 'application/x-www-form-urlencoded', 'content-length': '29',
    authorization: 'Basic Y2xpZW50OnNlY3JldA==', accept: '*/*', 'user-agent': 'bench', connection: 'keep-alive',
  };
  const client = { clientId: 'bench-client', grantTypeAllowed: (type: string) => type === 'client_credentials' };
  return {
    method: 'POST', path: '/token', headers, state: {} as Record<string, unknown>, status: 200,
    body: { access_token: 'x'.repeat(43), token_type: 'Bearer', expires_in: 3600 },
    _matchedRoute: '/token',
    oidc: { route: 'token', client, params: { grant_type: 'client_credentials' } },
    get: (name: string) => headers[name] ?? '',
    set: () => undefined,
  };
}

async function microseconds(observers: RequestObserver[]): Promise<number> {
  const middleware = observeRequests(observers);
  const ctx = tokenRequestContext();
  const next = () => Promise.resolve();
  // A server turns the event loop between requests, which lets the log destination's writes complete; a loop
  // of resolved promises alone never would, and the unwritten lines would pile up in its buffer.
  const turn = () => new Promise((resolve) => setImmediate(resolve));
  for (let i = 0; i < 20_000; i++) {
    await middleware(ctx as never, next); // warm-up
    if (i % 16 === 0) await turn();
  }
  const started = process.hrtime.bigint();
  for (let i = 0; i < ITERATIONS; i++) {
    await middleware(ctx as never, next);
    if (i % 16 === 0) await turn();
  }
  // The event loop turns count too: they are where the log's write(2) calls run.
  return Number(process.hrtime.bigint() - started) / 1000 / ITERATIONS;
}

async function inProcess(): Promise<void> {
  const devNull = async () => {
    const destination = pino.destination({ dest: '/dev/null', sync: false });
    await new Promise((resolve) => destination.once('ready', resolve));
    return destination;
  };
  const atWarn = createLogger({ level: 'warn', destination: await devNull() });
  const atInfo = createLogger({ level: 'info', destination: await devNull() });
  const metrics = new ServerMetrics();
  const cases: [string, RequestObserver[]][] = [
    ['middleware alone (request id, log context, timing)', []],
    ['+ access log at warn (line disabled)', [accessLog(atWarn)]],
    ['+ access log at info', [accessLog(atInfo)]],
    ['+ metrics', [requestMetrics(metrics)]],
    ['+ access log at info + metrics (as served)', [accessLog(atInfo), requestMetrics(metrics)]],
  ];
  console.log(`in process, ${ITERATIONS} token requests per case (µs per request; difference to the middleware alone)`);
  const results: number[] = [];
  for (const [name, observers] of cases) {
    // Best of three: the machine is shared, and the minimum is the cost without interference.
    const us = Math.min(await microseconds(observers), await microseconds(observers), await microseconds(observers));
    results.push(us);
    console.log(`  ${name.padEnd(52)} ${us.toFixed(2).padStart(6)} µs${results.length > 1 ? `  (+${(us - results[0]).toFixed(2)})` : ''}`);
  }
}

const ADMIN_TOKEN = randomBytes(32).toString('base64url');

async function startAt(level: string, storageEnv: Record<string, string>) {
  const server = await startProcess('../server/main.ts', { PORT: '0', ADMIN_TOKEN, LOG_LEVEL: level, ...storageEnv });
  const response = await fetch(`${server.url}/reg`, {
    method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ grant_types: ['client_credentials'], response_types: [], redirect_uris: [] }),
  });
  const { client_id: id, client_secret: secret } = await response.json() as { client_id: string; client_secret: string };
  return { ...server, level, basic: basicAuth(id, secret) };
}

const mean = (values: number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;

async function endToEnd(): Promise<void> {
  console.log(`\nend to end, client_credentials (opaque): LOG_LEVEL=warn vs info, ${CONNECTIONS} connections each, ${ROUNDS} × ${DURATION} s side by side${pinned ? ', servers on core 1' : ''}`);
  for (const mode of MODES) {
    await withStorage(mode, (warnStorage) => withStorage(mode, async (infoStorage) => {
      const servers = [await startAt('warn', warnStorage), await startAt('info', infoStorage)];
      try {
        const load = (server: (typeof servers)[number]) => measure(`${server.url}/token`, { authorization: server.basic }, 'grant_type=client_credentials', server.pid);
        const rounds: Measurement[][] = [];
        for (let round = 0; round < ROUNDS; round++) rounds.push(await Promise.all(servers.map(load)));
        console.log(`== ${mode} storage ==`);
        for (const [index, server] of servers.entries()) console.log(`  LOG_LEVEL=${server.level.padEnd(5)} ${rounds.map((round) => fmt(round[index])).join('\n                 ')}`);
        const cpu = (index: number) => mean(rounds.map((round) => round[index].cpuPerRequest ?? Number.NaN));
        console.log(`  CPU per request info − warn: ${(cpu(1) - cpu(0)).toFixed(1)} µs; ratio info/warn ${(cpu(1) / cpu(0)).toFixed(3)} (CPU ticks are 10 ms: a few µs is within noise)`);
      } finally {
        await Promise.all(servers.map((server) => server.stop()));
      }
    }));
  }
}

console.log(`observability cost benchmark, node ${process.version}`);
await inProcess();
if (process.env.BENCH_END_TO_END !== '0') await endToEnd();
process.exit(0);
