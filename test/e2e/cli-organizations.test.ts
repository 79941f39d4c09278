// The operator CLI's `--org` (issue 18 part 2) against a real server, run in its own process as operators run it:
// a user, a resource and an agent created in an organization, the agent's token carrying it, and an unknown
// organization refused in one line.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminRequest } from '../support/admin.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

const BIN = fileURLToPath(new URL('../../bin/agentauth.ts', import.meta.url));
const API = 'https://api.acme.cli.example.test/';

interface CliRun { code: number | null; stdout: string; stderr: string }

describe('agentauth CLI with organizations', () => {
  let server: TestServer;
  let dir: string;

  beforeAll(async () => {
    server = await startTestServer('embedded', 'e2e-cli-orgs');
    dir = await mkdtemp(join(tmpdir(), 'agentauth-cli-orgs-'));
    expect((await adminRequest(server, 'POST', '/admin/organizations', { id: 'acme', name: 'Acme' })).status).toBe(201);
  });
  afterAll(async () => {
    await server?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  function cli(args: string[], stdin = ''): Promise<CliRun> {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', HOME: dir, AGENTAUTH_URL: server.url, ADMIN_TOKEN: server.adminToken },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => { stdout += chunk; });
    child.stderr.on('data', (chunk) => { stderr += chunk; });
    child.stdin.end(stdin);
    return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
  }

  async function cliJson(args: string[], stdin?: string): Promise<any> {
    const run = await cli([...args, '--json'], stdin);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    return JSON.parse(run.stdout);
  }

  it('creates a user, a resource and an agent in an organization; the agent gets a token carrying it', async () => {
    const user = await cliJson(['users', 'create', '--username', 'ada', '--password-stdin', '--org', 'acme'], 'correct horse battery staple\n');
    expect(user).toMatchObject({ username: 'ada', org_id: 'acme' });
    expect(await cliJson(['resources', 'create', '--identifier', API, '--scope', 'acme:read', '--org', 'acme'])).toMatchObject({ identifier: API, org_id: 'acme' });
    const keyFile = join(dir, 'acme.key.json');
    const agent = await cliJson(['agents', 'create', '--name', 'acme-bot', '--owner', user.id, '--scope', 'acme:read', '--org', 'acme', '--key-file', keyFile]);
    expect(agent).toMatchObject({ org_id: 'acme' });
    const shown = await cli(['agents', 'get', agent.id]);
    expect(shown.stdout).toMatch(/^organization:\s+acme$/m);
    const token = await cli(['token', '--key-file', keyFile, '--scope', 'acme:read', '--resource', API, '--raw']);
    expect(token.code, token.stderr).toBe(0);
    expect(decodeJwt(token.stdout.trim())).toMatchObject({ sub: agent.id, aud: API, org_id: 'acme' });
  });

  it('refuses an organization that does not exist, in one line, creating nothing', async () => {
    const run = await cli(['users', 'create', '--username', 'nobody', '--password-stdin', '--org', 'ghost'], 'correct horse battery staple\n');
    expect(run.code).not.toBe(0);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/org_id: "ghost" is not an organization/);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    const users = await cliJson(['users', 'list']);
    expect(users.items.map((item: { username: string }) => item.username)).toEqual(['ada']);
  });
});
