// Embedded storage belongs to one process: a second server, or the offline key command, on a DATA_DIR in use
// refuses with one line and takes nothing from the first; a restart keeps the data and the development admin token.
import { spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rm } from 'node:fs/promises';
import { temporaryDirectory } from '../support/databases.ts';
import { logLines, runServerProcess, startServerProcess, type ServerProcess } from '../support/process.ts';

const KEYS_CLI = fileURLToPath(new URL('../../bin/keys.mjs', import.meta.url));

async function adminTokenOf(server: ServerProcess): Promise<string> {
  // Printed right after the listening line that startServerProcess waits for.
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const match = /development admin token \(kept in .*?\): ([^\s"]+)/.exec(server.output());
    if (match) return match[1];
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no admin token printed:\n${server.output()}`);
}

function runKeysCli(dataDir: string, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [KEYS_CLI, ...args], { env: { PATH: process.env.PATH ?? '', DATA_DIR: dataDir }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => { output += chunk; });
    child.stderr.on('data', (chunk) => { output += chunk; });
    child.on('exit', (code) => resolve({ code, output }));
  });
}

describe('one process per DATA_DIR', () => {
  let dataDir: string;
  let first: ServerProcess;
  let adminToken: string;

  beforeAll(async () => {
    dataDir = await temporaryDirectory('data-dir');
    first = await startServerProcess({ PORT: '0', DATA_DIR: dataDir });
    adminToken = await adminTokenOf(first);
  });
  afterAll(async () => {
    await first?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('keeps the generated admin token in DATA_DIR, readable by its owner only', async () => {
    expect((await stat(join(dataDir, 'admin-token'))).mode & 0o777).toBe(0o600);
    const response = await fetch(`${first.url}/admin/users`, {
      method: 'POST', headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'kept', password: 'correct horse battery staple' }),
    });
    expect(response.status).toBe(201);
  });

  it('refuses a second server on the same DATA_DIR with one line, and the first keeps serving', async () => {
    const second = await runServerProcess({ PORT: '0', DATA_DIR: dataDir }, 30_000);
    expect(second.code).toBe(1);
    // The progress line the start says before opening storage, then the one line that says why it stops.
    expect(logLines(second.output).map((line) => line.msg)).toEqual([
      expect.stringMatching(/^opening the embedded database in /),
      expect.stringMatching(/^agentauth failed to start: DATA_DIR .* is in use by another agentauth process/),
    ]);
    expect((await fetch(`${first.url}/healthz`)).status).toBe(200);
  }, 40_000);

  it('refuses the offline key command while the server runs', async () => {
    const keys = await runKeysCli(dataDir, ['list']);
    expect(keys.code).toBe(1);
    expect(keys.output.trim().split('\n')).toEqual([expect.stringMatching(/^keys: DATA_DIR .* is in use by another agentauth process/)]);
  }, 40_000);

  it('starts again on the same DATA_DIR with the same admin token and the same data', async () => {
    expect(await first.stop()).toBe(0);
    first = await startServerProcess({ PORT: '0', DATA_DIR: dataDir });
    expect(await adminTokenOf(first)).toBe(adminToken);
    const users = await fetch(`${first.url}/admin/users`, { headers: { authorization: `Bearer ${adminToken}` } });
    expect(users.status).toBe(200);
    expect(JSON.stringify(await users.json())).toContain('"kept"');
  }, 40_000);
});
