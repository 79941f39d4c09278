// The operator CLI (`bin/agentauth.mjs`, as installed) through the walk-through: users, resources, an agent, its
// token, a token exchange on behalf of a signed-in user, the audit trail, and clean-up; each through its own
// process, configured by environment, JSON answers parsed as JSON.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt } from 'jose';
import { startTestServer, type TestServer } from '../support/server.ts';

const BIN = fileURLToPath(new URL('../../bin/agentauth.mjs', import.meta.url));
const SIGN_IN_BROWSER = fileURLToPath(new URL('../support/sign-in-browser.ts', import.meta.url));
const API = 'https://reports.walkthrough.example.test/';
const PASSWORD = 'correct horse battery staple';

interface CliRun { code: number | null; stdout: string; stderr: string }

describe('agentauth CLI walk-through', () => {
  let server: TestServer;
  let dir: string;

  beforeAll(async () => {
    server = await startTestServer('embedded', 'e2e-cli-walkthrough');
    dir = await mkdtemp(join(tmpdir(), 'agentauth-cli-walkthrough-'));
  });
  afterAll(async () => {
    await server?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  function cli(args: string[], stdin = '', env: Record<string, string> = {}): Promise<CliRun> {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', HOME: dir, AGENTAUTH_URL: server.url, ADMIN_TOKEN: server.adminToken, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => { stdout += chunk; });
    child.stderr.on('data', (chunk) => { stderr += chunk; });
    child.stdin.end(stdin);
    return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
  }

  async function json(args: string[], stdin?: string, env?: Record<string, string>): Promise<any> {
    const run = await cli([...args, '--json'], stdin, env);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    return JSON.parse(run.stdout);
  }

  it('walks from an empty server to a delegated token and back', async () => {
    const user = await json(['users', 'create', '--username', 'wanda', '--email', 'wanda@example.com', '--password-stdin'], `${PASSWORD}\n`);
    expect(user).toMatchObject({ username: 'wanda', email: 'wanda@example.com' });
    expect(JSON.stringify(user)).not.toContain(PASSWORD);
    expect((await json(['users', 'list'])).items.map((item: { id: string }) => item.id)).toContain(user.id);

    const resource = await json(['resources', 'create', '--identifier', API, '--scope', 'reports:read', '--scope', 'reports:write', '--format', 'jwt', '--ttl', '300']);
    expect(resource).toMatchObject({ identifier: API, scopes: ['reports:read', 'reports:write'], token_format: 'jwt', access_token_ttl: 300 });
    expect((await cli(['resources', 'list'])).stdout).toMatch(new RegExp(`^${API.replace(/[.]/g, '\\.')}\\s+jwt\\s+reports:read reports:write$`, 'm'));

    const keyFile = join(dir, 'reporter.key.json');
    const agent = await json(['agents', 'create', '--name', 'reporter', '--owner', user.id, '--scope', 'reports:*', '--default-scope', 'reports:read', '--key-file', keyFile]);

    // The agent's own token, alone on stdout, piped into decode.
    const raw = await cli(['token', '--key-file', keyFile, '--resource', API, '--raw']);
    expect(raw.code).toBe(0);
    const own = raw.stdout.trim();
    expect(raw.stdout).toBe(`${own}\n`);
    expect(decodeJwt(own)).toMatchObject({ sub: agent.id, aud: API, scope: 'reports:read' });
    expect(await json(['decode'], own)).toMatchObject({ claims: { sub: agent.id } });

    // Acting for the user: the user signs in through the CLI (a browser on a loopback redirect), and the agent
    // exchanges the user's token for one of its own.
    const login = await cli(['login', '--scope', 'openid reports:read', '--resource', API, '--raw', '--timeout', '60'], '', {
      AGENTAUTH_URL: server.issuer, BROWSER: `${process.execPath} ${SIGN_IN_BROWSER}`, LOGIN_USERNAME: 'wanda', LOGIN_PASSWORD: PASSWORD,
    });
    expect(login.code).toBe(0);
    expect(login.stderr).toMatch(/^open this URL to sign in: http:\/\/localhost:\d+\/auth\?/m);
    expect(login.stderr).toMatch(/registered the CLI as client \S+; export AGENTAUTH_LOGIN_CLIENT_ID=/);
    const userToken = login.stdout.trim();
    expect(decodeJwt(userToken)).toMatchObject({ sub: user.id, aud: API, scope: 'reports:read' });
    const exchanged = await json(['exchange', '--key-file', keyFile, '--subject-token', '-', '--resource', API, '--scope', 'reports:read'], userToken);
    expect(exchanged.issued_token_type).toBe('urn:ietf:params:oauth:token-type:access_token');
    expect(decodeJwt(exchanged.access_token)).toMatchObject({ sub: user.id, act: { sub: agent.id }, aud: API });

    // The agent asks about the token it holds, revokes it, and asks again.
    expect(await json(['introspect', '--key-file', keyFile, '-'], exchanged.access_token)).toMatchObject({ active: true, sub: user.id, act: { sub: agent.id } });
    expect(await json(['revoke', '--key-file', keyFile, exchanged.access_token])).toEqual({ revoked: true });
    expect(await json(['introspect', '--key-file', keyFile, exchanged.access_token])).toEqual({ active: false });

    // A Txn-Token needs a workload the operator gave a txn_token_policy: the server's refusal is one line.
    const txn = await cli(['exchange', '--key-file', keyFile, '--subject-token', exchanged.access_token, '--txn-token']);
    expect(txn.code).toBe(1);
    expect(txn.stdout).toBe('');
    expect(txn.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^agentauth: HTTP 40\d \w+: /)]);

    const audit = await json(['audit', '--client-id', agent.id, '--event', 'token.issued']);
    expect(audit.items.length).toBeGreaterThanOrEqual(2);
    expect(audit.items.every((item: { event: string; client_id: string }) => item.event === 'token.issued' && item.client_id === agent.id)).toBe(true);

    expect((await cli(['agents', 'delete', agent.id])).code).toBe(0);
    expect(await json(['resources', 'delete', API])).toEqual({ deleted: API });
    expect(await json(['users', 'delete', user.id])).toEqual({ deleted: user.id });
    expect((await json(['users', 'list'])).items.map((item: { id: string }) => item.id)).not.toContain(user.id);
  });

  it('rotates signing keys through the admin API while the server holds its embedded database', async () => {
    const before = (await json(['keys', 'list'])).items as { kid: string; status: string }[];
    const rotated = await json(['keys', 'rotate', '--alg', 'ES256']);
    expect(rotated).toMatchObject({ published: [expect.any(String)], restart_required: true });
    const listed = (await json(['keys', 'list'])).items as { kid: string; status: string; alg: string }[];
    expect(listed).toHaveLength(before.length + 1);
    expect(listed.find((key) => key.kid === rotated.published[0])).toMatchObject({ alg: 'ES256', status: 'next' });
    expect(JSON.stringify(listed)).not.toMatch(/"d":/);
    expect(await json(['keys', 'promote'])).toMatchObject({ promoted: [rotated.published[0]] });
    expect(await json(['keys', 'prune'])).toEqual({ deleted: [], restart_required: true });
    const badAlg = await cli(['keys', 'rotate', '--alg', 'HS256']);
    expect(badAlg.code).toBe(1);
    expect(badAlg.stderr).toMatch(/^agentauth: HTTP 400 invalid_request: .*algs/);
  });

  it('registers, shows, lists and deletes an authorization server ID-JAGs are issued for', async () => {
    const target = 'https://as.partner.example.test';
    const created = await json(['id-jag-audiences', 'create', '--issuer', target, '--resource', 'https://mcp.partner.example.test/mcp', '--client', 'our-app=their-app', '--scope', 'tools:list', '--name', 'Partner']);
    expect(created).toMatchObject({ issuer: target, name: 'Partner', resources: ['https://mcp.partner.example.test/mcp'], clients: { 'our-app': 'their-app' }, scopes: ['tools:list'] });
    expect(await json(['id-jag-audiences', 'show', target])).toEqual(created);
    expect((await cli(['id-jag-audiences', 'list'])).stdout).toMatch(/^https:\/\/as\.partner\.example\.test\s+https:\/\/mcp\.partner\.example\.test\/mcp\s+our-app$/m);
    const duplicate = await cli(['id-jag-audiences', 'create', '--issuer', target, '--resource', 'https://mcp.partner.example.test/mcp', '--client', 'our-app=their-app']);
    expect(duplicate.code).toBe(1);
    expect(duplicate.stderr).toMatch(/^agentauth: HTTP 400 .*already registered/);
    expect(await json(['id-jag-audiences', 'delete', target])).toEqual({ deleted: target });
    expect((await json(['id-jag-audiences', 'list'])).items).toEqual([]);
  });

  it('creates inheriting roles, grants, shows, revokes and deletes them', async () => {
    const user = await json(['users', 'create', '--username', 'rolf', '--password-stdin'], `${PASSWORD}\n`);
    await json(['roles', 'create', 'reader', '--scope', 'reports:read']);
    const writer = await json(['roles', 'create', 'writer', '--scope', 'reports:write', '--inherits', 'reader', '--description', 'writes']);
    expect(writer).toMatchObject({ name: 'writer', inherits: ['reader'], effective_scopes: ['reports:write', 'reports:read'] });
    const cycle = await cli(['roles', 'create', 'loop', '--inherits', 'loop']);
    expect(cycle.code).toBe(1);
    expect(cycle.stderr).toMatch(/^agentauth: HTTP 400 invalid_request: inherits: would make roles inherit themselves: loop → loop$/m);
    expect(await json(['roles', 'grant', 'writer', '--user', user.id])).toEqual({ role: 'writer', user_id: user.id });
    expect((await json(['roles', 'list', '--user', user.id])).effective_scopes).toEqual(['reports:write', 'reports:read']);
    expect((await cli(['roles', 'show', 'writer'])).stdout).toMatch(new RegExp(`held by:\\s+user ${user.id}`));
    expect((await cli(['roles', 'list'])).stdout).toMatch(/^writer\s+reader\s+reports:write reports:read$/m);
    const inherited = await cli(['roles', 'delete', 'reader']);
    expect(inherited.code).toBe(1);
    expect(inherited.stderr).toMatch(/HTTP 409 .*inherited by "writer"/);
    expect(await json(['roles', 'revoke', 'writer', '--user', user.id])).toEqual({ revoked: 'writer', user_id: user.id });
    expect(await json(['roles', 'delete', 'writer'])).toEqual({ deleted: 'writer' });
    expect(await json(['roles', 'delete', 'reader'])).toEqual({ deleted: 'reader' });
  });

  it('refuses unusable command lines in one line with exit 2', async () => {
    for (const args of [['roles', 'grant', 'x'], ['roles', 'grant', 'x', '--user', 'u', '--client', 'c'], ['id-jag-audiences', 'create', '--issuer', 'https://as.example.test', '--resource', 'https://r.example.test', '--client', 'no-equals-sign'], ['users', 'create', '--username', 'x'], ['resources', 'create', '--identifier', API, '--format', 'xml'], ['exchange', '--subject-token', 't']]) {
      const run = await cli(args);
      expect(run.code).toBe(2);
      expect(run.stderr.trim().split('\n')).toHaveLength(1);
    }
  });
});
