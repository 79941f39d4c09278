// The README's walk-through, executed: its shell blocks, in order, in one bash session against a fresh server started
// the way the README starts it, so the page cannot go stale. A person's browser is the sign-in stand-in ($BROWSER).
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeJwt, decodeProtectedHeader } from 'jose';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SIGN_IN_BROWSER = fileURLToPath(new URL('../support/sign-in-browser.ts', import.meta.url));
// What `npm start` and the CLI need from a checkout; the walk-through's own files land beside them, not in it.
const CHECKOUT = ['package.json', 'node_modules', 'bin', 'cli', 'server', 'config', 'adapters', 'grants', 'issuance', 'tokens', 'policy', 'keys', 'packages'];

/** The ```sh blocks between the walk-through markers, in order. */
function walkThroughBlocks(readme: string): string[] {
  const section = /<!-- walk-through: start -->([\s\S]*?)<!-- walk-through: end -->/.exec(readme)?.[1];
  if (!section) throw new Error('README.md has no walk-through markers');
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((match) => match[1]);
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('the README walk-through', () => {
  let dir: string;
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('runs block by block on a fresh clone and does what it says', async () => {
    dir = await mkdtemp(join(tmpdir(), 'agentauth-readme-'));
    for (const entry of CHECKOUT) await symlink(join(ROOT, entry), join(dir, entry));
    const blocks = walkThroughBlocks(await readFile(join(ROOT, 'README.md'), 'utf8'));
    expect(blocks.length).toBeGreaterThanOrEqual(5);
    const script = [
      'set -euo pipefail',
      ...blocks,
      // What the test checks afterwards, and the server the first block started.
      'for name in AGENT_ID USER_ID AGENT_TOKEN USER_TOKEN DELEGATED NESTED TXN_TOKEN WORKLOAD_ID; do printf "%s=%s\\n" "$name" "${!name}"; done > results.env',
      'kill %1; wait',
    ].join('\n');
    const run = spawn('bash', ['-c', script], {
      cwd: dir,
      detached: true,
      env: {
        PATH: process.env.PATH ?? '', HOME: dir, PORT: String(await freePort()), DATA_DIR: join(dir, 'data'),
        BROWSER: `${process.execPath} ${SIGN_IN_BROWSER}`, LOGIN_USERNAME: 'alice', LOGIN_PASSWORD: 'correct horse battery staple',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    run.stdout.on('data', (chunk) => { output += chunk; });
    run.stderr.on('data', (chunk) => { output += chunk; });
    const timer = setTimeout(() => process.kill(-run.pid!, 'SIGKILL'), 100_000);
    const code = await new Promise<number | null>((resolve) => run.once('close', resolve));
    clearTimeout(timer);
    // A block that failed ends the script before its `kill %1`: the server it started is still in the group.
    try {
      process.kill(-run.pid!, 'SIGKILL');
    } catch {
      // ESRCH: the group is gone, as it should be after a clean run.
    }
    expect(code, output).toBe(0);

    const results = Object.fromEntries((await readFile(join(dir, 'results.env'), 'utf8')).trim().split('\n').map((line) => line.split(/=(.*)/s).slice(0, 2)));
    const { AGENT_ID: agentId, USER_ID: userId } = results;
    expect(decodeJwt(results.AGENT_TOKEN)).toMatchObject({ sub: agentId, aud: 'https://api.example.com/', scope: 'invoices:read' });
    expect(decodeJwt(results.USER_TOKEN)).toMatchObject({ sub: userId, aud: 'https://api.example.com/' });
    expect(decodeJwt(results.DELEGATED)).toMatchObject({ sub: userId, act: { sub: agentId } });
    const nested = decodeJwt(results.NESTED) as { sub: string; act: { sub: string; act: { sub: string } } };
    expect(nested.sub).toBe(userId);
    expect(nested.act.act).toEqual({ sub: agentId });
    expect(nested.act.sub).not.toBe(agentId);
    expect(decodeProtectedHeader(results.TXN_TOKEN).typ).toBe('txntoken+jwt');
    expect(decodeJwt(results.TXN_TOKEN)).toMatchObject({ sub: userId, req_wl: results.WORKLOAD_ID, tctx: { action: 'pay', invoice: '4711' }, act: { sub: agentId } });
    // The introspections the page shows: active, then inactive for the revoked token and the one derived from it.
    expect([...output.matchAll(/^active:\s+(true|false)$/gm)].map((match) => match[1])).toEqual(['true', 'false', 'false']);
  }, 120_000);
});
