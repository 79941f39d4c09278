// `npm run bench:profile`: where ours spends its CPU next to vanilla oidc-provider doing the same request. Both
// servers run under `node --cpu-prof` on the same storage and are loaded one after the other, so neither is
// preempted by the other, and only the samples of the measured window count. Printed per server: µs per request
// of the functions that cost most (inclusive of what they call), and self time by package, side by side. The
// profiler itself inflates every figure (sampling every 200 µs): compare the two servers, not with `npm run bench`.
//
// BENCH_PATH and BENCH_BODY choose the request (client_credentials for an opaque token by default), BENCH_MODES
// the storage, BENCH_DURATION the seconds each server is loaded; the profiles stay in BENCH_PROFILE_DIR (a
// temporary directory by default) for Chrome DevTools.
import { mkdtemp, readdir, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { CONNECTIONS, MODES, withStorage, type Target } from './harness.ts';
import { startOurs, startVanilla } from './servers.ts';

const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const PATH = process.env.BENCH_PATH ?? '/token';
const BODY = process.env.BENCH_BODY ?? 'grant_type=client_credentials';
const TOP = 30;
const OWN_FOLDERS = '(adapters|server|grants|issuance|policy|tokens|keys|config)';
const OWN_CODE = new RegExp(`^\\S+ ${OWN_FOLDERS}/`);

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Monotonic µs, the clock V8 stamps profile samples with. */
const now = () => Number(process.hrtime.bigint() / 1000n);

async function load(target: Target, seconds: number): Promise<number> {
  const result = await autocannon({
    url: `${target.url}${PATH}`, method: 'POST', connections: CONNECTIONS, duration: seconds, body: BODY,
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: target.basic },
  });
  if (result.non2xx + result.errors) throw new Error(`${target.name}: ${result.non2xx} non-2xx answers, ${result.errors} errors`);
  return result.requests.total;
}

/** The largest profile in `dir`: the main thread's (workers write their own). */
async function mainThreadProfile(dir: string): Promise<CpuProfile> {
  const files = await Promise.all((await readdir(dir)).map(async (name) => ({ path: join(dir, name), size: (await stat(join(dir, name))).size })));
  return JSON.parse(await readFile(files.sort((a, b) => b.size - a.size)[0].path, 'utf8')) as CpuProfile;
}

const frameName = (frame: CpuProfile['nodes'][number]['callFrame']) =>
  `${frame.functionName || '(anonymous)'} ${frame.url.replace(/^.*\/node_modules\//, '').replace(new RegExp(`^file://.*?/(?=${OWN_FOLDERS}/)`), '')}:${frame.lineNumber + 1}`;

function packageOf(url: string, functionName: string): string {
  if (!url) return functionName;
  if (url.startsWith('node:')) return 'node:' + url.slice(5).split('/')[0];
  const modules = url.split('node_modules/');
  if (modules.length > 1) {
    const parts = modules.at(-1)!.split('/');
    return parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
  }
  return url.replace(new RegExp(`^file://.*?/(?=${OWN_FOLDERS}/)`), '');
}

/** µs per request in the window [from, to]: inclusive per function, and self per package. */
function costs(profile: CpuProfile, from: number, to: number, requests: number) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const inclusive = new Map<string, number>();
  const byPackage = new Map<string, number>();
  let total = 0;
  let at = profile.startTime;
  profile.samples.forEach((id, index) => {
    const delta = profile.timeDeltas[index] ?? 0;
    at += delta;
    const node = byId.get(id)!;
    if (at < from || at > to || node.callFrame.functionName === '(idle)') return;
    total += delta;
    const own = packageOf(node.callFrame.url, node.callFrame.functionName);
    byPackage.set(own, (byPackage.get(own) ?? 0) + delta);
    const seen = new Set<string>();
    for (let current: number | undefined = id; current !== undefined; current = parent.get(current)) seen.add(frameName(byId.get(current)!.callFrame));
    for (const name of seen) inclusive.set(name, (inclusive.get(name) ?? 0) + delta);
  });
  const perRequest = (entries: Map<string, number>) => [...entries].map(([name, us]) => [name, us / requests] as const).sort((a, b) => b[1] - a[1]);
  return { total: total / requests, inclusive: perRequest(inclusive), byPackage: perRequest(byPackage) };
}

const column = (rows: (readonly [string, number])[], width: number) => rows.map(([name, us]) => `${us.toFixed(1).padStart(7)} µs  ${name}`.slice(0, width).padEnd(width));

const root = process.env.BENCH_PROFILE_DIR ?? await mkdtemp(join(tmpdir(), 'agentauth-profile-'));
console.log(`CPU profiles, POST ${PATH} ${BODY}: ${CONNECTIONS} connections, ${DURATION} s per server, profiles in ${root}`);
for (const mode of MODES) {
  await withStorage(mode, (vanillaStorage) => withStorage(mode, async (ourStorage) => {
    const profiling = (name: string) => ({ NODE_OPTIONS: `--cpu-prof --cpu-prof-interval=200 --cpu-prof-dir=${join(root, `${mode}-${name}`)}` });
    const targets = [await startVanilla(mode, vanillaStorage, profiling('vanilla')), await startOurs(mode, ourStorage, profiling('ours'))];
    const windows: { from: number; to: number; requests: number }[] = [];
    try {
      for (const target of targets) {
        await load(target, 3); // warm-up: JIT, connection pools, caches
        const from = now();
        const requests = await load(target, DURATION);
        windows.push({ from, to: now(), requests });
      }
    } finally {
      // Each writes its profile as it exits.
      await Promise.all(targets.map((target) => target.stop()));
    }
    const [vanilla, ours] = await Promise.all(['vanilla', 'ours'].map(async (name, index) => {
      const { from, to, requests } = windows[index];
      return costs(await mainThreadProfile(join(root, `${mode}-${name}`)), from, to, requests);
    }));
    console.log(`\n== ${mode} storage: main thread, non-idle, µs per request: vanilla ${vanilla.total.toFixed(0)}, ours ${ours.total.toFixed(0)}`);
    console.log('ours, our own functions, inclusive of what they call:');
    for (const line of column(ours.inclusive.filter(([name]) => OWN_CODE.test(name)).slice(0, TOP), 120)) console.log(`  ${line.trimEnd()}`);
    console.log(`${'self time by package, ours'.padEnd(62)}vanilla`);
    const left = column(ours.byPackage.slice(0, TOP), 60);
    const right = column(vanilla.byPackage.slice(0, TOP), 60);
    left.forEach((line, index) => console.log(`  ${line}${right[index] ?? ''}`.trimEnd()));
  }));
}
