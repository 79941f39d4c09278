// The operator CLI's organizations (issue 18 part 2) against a real server, run in its own process as operators
// run it: `organizations create|list|show|update|delete` and the operator's credentials; a user, a resource, an
// agent and a role created in an organization with `--org`, the agent's token carrying it, an organization's
// credential used as the CLI's admin token, and an unknown organization refused in one line.
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

  function cli(args: string[], stdin = '', adminToken = server.adminToken): Promise<CliRun> {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', HOME: dir, AGENTAUTH_URL: server.url, ADMIN_TOKEN: adminToken },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => { stdout += chunk; });
    child.stderr.on('data', (chunk) => { stderr += chunk; });
    child.stdin.end(stdin);
    return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
  }

  async function cliJson(args: string[], stdin?: string, adminToken?: string): Promise<any> {
    const run = await cli([...args, '--json'], stdin, adminToken);
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

  it("creates, lists, shows, updates and deletes organizations, and issues, lists and revokes an operator's credentials", async () => {
    expect(await cliJson(['organizations', 'create', 'beta', '--name', 'Beta', '--allow-actor-org', 'acme'])).toEqual({
      id: 'beta', name: 'Beta', allowed_actor_orgs: ['acme'], created_at: expect.any(String),
    });
    const shown = await cli(['organizations', 'show', 'beta']);
    expect(shown.stdout).toMatch(/^actors from:\s+acme$/m);
    expect((await cli(['organizations', 'list'])).stdout).toMatch(/^beta\s+Beta\s+acme$/m);
    expect((await cliJson(['organizations', 'list'])).items.map((item: { id: string }) => item.id)).toEqual(['acme', 'beta', 'default']);
    expect(await cliJson(['organizations', 'update', 'beta', '--name', 'Beta Ltd', '--no-actor-orgs'])).toMatchObject({ name: 'Beta Ltd', allowed_actor_orgs: [] });
    const nothing = await cli(['organizations', 'update', 'beta']);
    expect([nothing.code, nothing.stderr.trim()]).toEqual([2, 'agentauth: nothing to change: give --name, --allow-actor-org or --no-actor-orgs (see agentauth organizations update --help)']);

    // The organization's operator: a credential that works as the CLI's admin token, for its organization only.
    const issued = await cliJson(['organizations', 'credentials', 'issue', 'beta']);
    expect(issued).toEqual({ id: expect.stringMatching(/^ocr_/), org_id: 'beta', created_at: expect.any(String), token: expect.stringMatching(/^oat_/) });
    const role = await cliJson(['roles', 'create', 'beta-reader', '--scope', 'beta:read'], undefined, issued.token);
    expect(role).toMatchObject({ name: 'beta-reader', org_id: 'beta' });
    expect((await cli(['roles', 'show', 'beta-reader'])).stdout).toMatch(/^organization:\s+beta$/m);
    const refused = await cli(['organizations', 'list'], '', issued.token);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^agentauth: HTTP 403 access_denied: an organization's admin credential manages only/);
    const listed = await cliJson(['organizations', 'credentials', 'list', 'beta']);
    expect(listed).toEqual({ items: [{ id: issued.id, org_id: 'beta', created_at: expect.any(String) }] });
    expect((await cli(['organizations', 'credentials', 'list', 'beta'])).stdout).toContain(issued.id);
    expect((await cli(['organizations', 'credentials', 'revoke', 'beta', issued.id])).stdout.trim()).toBe(`revoked credential ${issued.id} of organization beta`);
    expect((await cli(['roles', 'list'], '', issued.token)).stderr).toMatch(/HTTP 401/);

    // Deleted only once nothing belongs to it.
    const busy = await cli(['organizations', 'delete', 'beta']);
    expect([busy.code, busy.stderr.trim()]).toEqual([1, 'agentauth: HTTP 409 invalid_request: organization "beta" still has roles; delete them or move them first']);
    expect(await cliJson(['roles', 'delete', 'beta-reader'])).toEqual({ deleted: 'beta-reader' });
    expect((await cli(['organizations', 'delete', 'beta'])).stdout.trim()).toBe('deleted organization beta');
    const gone = await cli(['organizations', 'show', 'beta']);
    expect([gone.code, gone.stderr]).toEqual([1, expect.stringMatching(/HTTP 404/)]);
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
