// `agentauth clients …` against a real server, in its own process: an RFC 7591 client registered with the
// initial access token is listed, shown, suspended (refused), activated, rotated, revoked and deleted.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/server.ts';

const BIN = fileURLToPath(new URL('../../bin/agentauth.ts', import.meta.url));

interface CliRun { code: number | null; stdout: string; stderr: string }

describe('agentauth clients', () => {
  let server: TestServer;
  let clientId: string;
  let secret: string;

  beforeAll(async () => {
    server = await startTestServer('embedded', 'e2e-cli-clients');
    const registered = await fetch(new URL('/reg', server.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${server.adminToken}` },
      body: JSON.stringify({ grant_types: ['client_credentials'], response_types: [], redirect_uris: [], client_name: 'cli-client' }),
    });
    const body = (await registered.json()) as any;
    clientId = body.client_id;
    secret = body.client_secret;
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
  });

  function cli(args: string[]): Promise<CliRun> {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { PATH: process.env.PATH ?? '', AGENTAUTH_URL: server.url, ADMIN_TOKEN: server.adminToken },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => { stdout += chunk; });
    child.stderr.on('data', (chunk) => { stderr += chunk; });
    return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
  }

  async function cliJson(args: string[]): Promise<any> {
    const run = await cli([...args, '--json']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    return JSON.parse(run.stdout);
  }

  async function tokenStatus(value: string): Promise<number> {
    const response = await fetch(new URL('/token', server.url), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(value)}`).toString('base64')}` },
      body: new URLSearchParams({ grant_type: 'client_credentials' }),
    });
    return response.status;
  }

  it('lists, shows, suspends, activates, rotates, revokes and deletes a registered client', async () => {
    expect((await cliJson(['clients', 'list'])).items.map((item: any) => item.client_id)).toContain(clientId);
    const listed = await cli(['clients', 'list']);
    expect(listed.stdout).toMatch(/CLIENT_ID\s+KIND\s+STATUS/);
    expect(await cliJson(['clients', 'show', clientId])).toMatchObject({ client_id: clientId, kind: 'registered', status: 'active' });

    expect((await cliJson(['clients', 'suspend', clientId])).status).toBe('suspended');
    expect(await tokenStatus(secret)).toBe(401);
    expect((await cliJson(['clients', 'activate', clientId])).status).toBe('active');
    expect(await tokenStatus(secret)).toBe(200);

    const rotated = await cli(['clients', 'rotate', clientId]);
    expect(rotated.code).toBe(0);
    const newSecret = /client_secret: (\S+)/.exec(rotated.stdout)![1];
    expect(await tokenStatus(secret)).toBe(401);
    expect(await tokenStatus(newSecret)).toBe(200);

    expect((await cliJson(['clients', 'revoke', clientId])).status).toBe('revoked');
    const refused = await cli(['clients', 'activate', clientId]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/revoked/);

    expect((await cliJson(['clients', 'delete', clientId])).deleted).toBe(true);
    const gone = await cli(['clients', 'show', clientId]);
    expect(gone.code).not.toBe(0);
    expect(gone.stderr).toMatch(/not found|404/i);
  }, 60_000);
});
