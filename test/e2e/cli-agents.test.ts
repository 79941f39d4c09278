// The operator CLI against a real server, run as operators run it: its own process, configured by environment.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { importJWK, type CryptoKey, type JWK } from 'jose';
import { createResource, createUser } from '../support/admin.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

const BIN = fileURLToPath(new URL('../../bin/agentauth.ts', import.meta.url));
const API = 'https://files.example.test/';

interface CliRun { code: number | null; stdout: string; stderr: string }

describe('agentauth CLI', () => {
  let server: TestServer;
  let dir: string;
  let owner: string;

  beforeAll(async () => {
    server = await startTestServer('embedded', 'e2e-cli');
    dir = await mkdtemp(join(tmpdir(), 'agentauth-cli-'));
    owner = (await createUser(server, 'olivia', 'correct horse battery staple')).id;
    await createResource(server, { identifier: API, scopes: ['files:read', 'files:write'], token_format: 'jwt', access_token_ttl: 300 });
  });
  afterAll(async () => {
    await server?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  function cli(args: string[], options: { stdin?: string; env?: Record<string, string> } = {}): Promise<CliRun> {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', HOME: dir, AGENTAUTH_URL: server.url, ADMIN_TOKEN: server.adminToken, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => { stdout += chunk; });
    child.stderr.on('data', (chunk) => { stderr += chunk; });
    child.stdin.end(options.stdin ?? '');
    return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
  }

  async function cliJson(args: string[], options?: { stdin?: string }): Promise<any> {
    const run = await cli([...args, '--json'], options);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    return JSON.parse(run.stdout);
  }

  const mode = async (path: string) => (await stat(path)).mode & 0o777;

  function expectOneLineFailure(run: CliRun, pattern: RegExp): void {
    expect(run.code).not.toBe(0);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(pattern);
    expect(run.stderr.trim().split('\n')).toHaveLength(1); // no stack trace
  }

  it('creates an Ed25519 agent with a 0600 key file, gets a token with it and decodes that token', async () => {
    const keyFile = join(dir, 'bot.key.json');
    const agent = await cliJson([
      'agents', 'create', '--name', 'cli-bot', '--owner', owner, '--scope', 'files:*', '--default-scope', 'files:read',
      '--resource', API, '--ttl', '120', '--key-file', keyFile,
    ]);
    expect(agent).toMatchObject({
      id: expect.stringMatching(/^agent_/), name: 'cli-bot', owner, status: 'active', scopes: ['files:*'],
      default_scopes: ['files:read'], resources: [API], access_token_ttl: 120, token_endpoint_auth_method: 'private_key_jwt',
      key_file: keyFile,
    });
    expect(agent.credentials).toHaveLength(1);
    expect(await mode(keyFile)).toBe(0o600);

    const token = await cliJson(['token', '--key-file', keyFile, '--resource', API]);
    expect(token).toMatchObject({ access_token: expect.any(String), token_type: 'Bearer', scope: 'files:read', expires_in: expect.any(Number) });
    expect(token.expires_in).toBeLessThanOrEqual(120);

    const decoded = await cliJson(['decode', token.access_token]);
    expect(decoded.header).toMatchObject({ typ: 'at+jwt', kid: expect.any(String) });
    expect(decoded.claims).toMatchObject({ iss: server.issuer, sub: agent.id, client_id: agent.id, aud: API, scope: 'files:read', owner });
    expect(decoded.act_chain).toEqual([]);

    const text = await cli(['decode', '-'], { stdin: token.access_token });
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`sub: ${agent.id}`);
    expect(text.stdout).toContain('act chain: none');
  });

  it('writes the key file under the agent id by default and refuses to overwrite one, registering nothing', async () => {
    const agent = await cliJson(['agents', 'create', '--name', 'default-path', '--owner', owner, '--scope', 'files:read']);
    const keyFile = `${agent.id}.key.json`;
    expect(agent.key_file).toBe(keyFile);
    expect(await mode(join(dir, keyFile))).toBe(0o600);

    const before = (await cliJson(['agents', 'list', '--owner', owner, '--limit', '200'])).items.length;
    const refused = await cli(['agents', 'create', '--name', 'again', '--owner', owner, '--scope', 'files:read', '--key-file', keyFile]);
    expectOneLineFailure(refused, /already exists; pass --force/);
    expect((await cliJson(['agents', 'list', '--owner', owner, '--limit', '200'])).items).toHaveLength(before);
  });

  it('rotates a key: the new key file works, the old key keeps working for the grace period', async () => {
    const oldKey = join(dir, 'rotating.key.json');
    const newKey = join(dir, 'rotating-2.key.json');
    const agent = await cliJson(['agents', 'create', '--name', 'rotating', '--owner', owner, '--scope', 'files:read', '--key-file', oldKey]);
    const rotated = await cliJson(['agents', 'rotate', agent.id, '--key-file', newKey, '--grace', '600']);
    expect(rotated.key_file).toBe(newKey);
    expect(rotated.credentials).toHaveLength(2);
    expect(await mode(newKey)).toBe(0o600);
    expect((await cliJson(['token', '--key-file', newKey])).access_token).toBeTruthy();
    expect((await cliJson(['token', '--key-file', oldKey])).access_token).toBeTruthy();
  });

  it('suspends and activates an agent, whose key file stops and starts working', async () => {
    const keyFile = join(dir, 'suspended.key.json');
    const agent = await cliJson(['agents', 'create', '--name', 'pausing', '--owner', owner, '--scope', 'files:read', '--key-file', keyFile]);
    expect((await cliJson(['agents', 'suspend', agent.id])).status).toBe('suspended');
    expectOneLineFailure(await cli(['token', '--key-file', keyFile]), /HTTP 401 invalid_client/);
    expect((await cliJson(['agents', 'activate', agent.id])).status).toBe('active');
    expect((await cliJson(['token', '--key-file', keyFile])).access_token).toBeTruthy();
  });

  it('creates a secret agent and rotates its secret, each shown once', async () => {
    const created = await cli(['agents', 'create', '--name', 'secretive', '--owner', owner, '--scope', 'files:read', '--secret']);
    expect(created.code).toBe(0);
    const [, secret] = /^client_secret: (\S+)$/m.exec(created.stdout) ?? [];
    expect(secret).toBeTruthy();
    const [, id] = /^id:\s+(\S+)$/m.exec(created.stdout) ?? [];
    const rotated = await cliJson(['agents', 'rotate', id, '--secret']);
    expect(rotated.client_secret).toEqual(expect.any(String));
    expect(rotated.client_secret).not.toBe(secret);
    expect(await cliJson(['agents', 'get', id])).not.toHaveProperty('client_secret');
  });

  it('gets, lists and deletes agents', async () => {
    const agent = await cliJson(['agents', 'create', '--name', 'short-lived', '--owner', owner, '--scope', 'files:read', '--secret']);
    expect((await cliJson(['agents', 'get', agent.id])).name).toBe('short-lived');
    const listed = await cli(['agents', 'list', '--owner', owner]);
    expect(listed.stdout).toMatch(new RegExp(`^${agent.id}\\s+short-lived\\s+active`, 'm'));
    expect(await cliJson(['agents', 'delete', agent.id])).toEqual({ id: agent.id, deleted: true });
    expectOneLineFailure(await cli(['agents', 'get', agent.id]), /^agentauth: HTTP 404 not_found/);
  });

  it('fails with one line, never a stack, on user errors', async () => {
    expectOneLineFailure(await cli(['agents', 'list'], { env: { ADMIN_TOKEN: 'wrong' } }), /HTTP 401/);
    expectOneLineFailure(await cli(['agents', 'list'], { env: { ADMIN_TOKEN: '' } }), /no admin token/);
    expectOneLineFailure(await cli(['agents', 'create', '--name', 'x', '--owner', 'nobody', '--scope', 'files:read', '--secret']), /HTTP 400 invalid_request: owner/);
    expectOneLineFailure(await cli(['agents', 'create', '--owner', owner, '--scope', 'files:read']), /--name is required/);
    expectOneLineFailure(await cli(['token', '--key-file', join(dir, 'missing.json')]), /cannot read key file/);
    expectOneLineFailure(await cli(['decode', 'opaque-token-value']), /opaque token/);
  });

  it('runs the whole lifecycle: CLI for the operator, openid-client for the agent', async () => {
    const issuer = new URL(server.issuer);
    const insecure = { execute: [oidc.allowInsecureRequests] };
    const rs = await oidc.dynamicClientRegistration(issuer, { grant_types: ['client_credentials'], response_types: [], redirect_uris: [], introspect_any_token: true }, undefined, {
      ...insecure, initialAccessToken: server.adminToken,
    });
    const introspector = await oidc.discovery(issuer, rs.clientMetadata().client_id, undefined, oidc.ClientSecretBasic(rs.clientMetadata().client_secret as string), insecure);
    const introspect = (token: string) => oidc.tokenIntrospection(introspector, token);
    const agentConfig = async (keyFile: string) => {
      const { agent_id: id, private_jwk: jwk } = JSON.parse(await readFile(keyFile, 'utf8')) as { agent_id: string; private_jwk: JWK };
      return oidc.discovery(issuer, id, undefined, oidc.PrivateKeyJwt((await importJWK(jwk, 'EdDSA')) as CryptoKey), insecure);
    };
    const tokenError = (promise: Promise<unknown>) => promise.then(() => 'issued', (error: { error?: string; cause?: { parameters?: { error?: string } }[] }) => error.error ?? error.cause?.[0]?.parameters?.error);

    const keyFile = join(dir, 'lifecycle.key.json');
    const agent = await cliJson(['agents', 'create', '--name', 'lifecycle', '--owner', owner, '--scope', 'files:*', '--default-scope', 'files:read', '--key-file', keyFile]);
    const config = await agentConfig(keyFile);
    const first = (await oidc.clientCredentialsGrant(config)).access_token;
    expect(await introspect(first)).toMatchObject({ active: true, sub: agent.id, client_id: agent.id, owner, scope: 'files:read' });

    await cliJson(['agents', 'suspend', agent.id]);
    expect(await tokenError(oidc.clientCredentialsGrant(config))).toBe('invalid_client');
    expect((await introspect(first)).active).toBe(false);

    await cliJson(['agents', 'activate', agent.id]);
    const second = (await oidc.clientCredentialsGrant(config)).access_token;
    expect((await introspect(second)).active).toBe(true);
    expect((await introspect(first)).active).toBe(false);

    const newKeyFile = join(dir, 'lifecycle-2.key.json');
    await cliJson(['agents', 'rotate', agent.id, '--key-file', newKeyFile, '--grace', '2']);
    const rotated = await agentConfig(newKeyFile);
    expect(await tokenError(oidc.clientCredentialsGrant(config))).toBe('issued');
    expect(await tokenError(oidc.clientCredentialsGrant(rotated))).toBe('issued');
    await new Promise((resolve) => setTimeout(resolve, 2_200));
    expect(await tokenError(oidc.clientCredentialsGrant(config))).toBe('invalid_client');
    expect(await tokenError(oidc.clientCredentialsGrant(rotated))).toBe('issued');

    await cliJson(['agents', 'revoke', agent.id]);
    expect(await tokenError(oidc.clientCredentialsGrant(rotated))).toBe('invalid_client');
    expect((await introspect(second)).active).toBe(false);
  });
});
