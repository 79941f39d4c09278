// `agentauth approvals list|approve|deny` as an operator runs it (a child process with AGENTAUTH_URL and
// ADMIN_TOKEN): the agent's pending request is listed, approved (the agent's poll gets the token) and another denied.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminRequest, createResource, createUser } from '../support/admin.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

const BIN = fileURLToPath(new URL('../../bin/agentauth.ts', import.meta.url));
const PAYMENTS = 'https://payments.cli-approvals.example.test/';

describe('agentauth approvals', () => {
  let server: TestServer;
  let config: oidc.Configuration;

  beforeAll(async () => {
    server = await startTestServer('embedded', 'e2e-cli-approvals', { CIBA_POLL_INTERVAL: '1' });
    const owner = await createUser(server, 'olga', 'correct horse battery staple');
    await createResource(server, { identifier: PAYMENTS, scopes: ['payments:write'], token_format: 'jwt' });
    const agent = (await (await adminRequest(server, 'POST', '/admin/agents', { name: 'invoice-bot', owner: owner.id, scopes: ['payments:**'] })).json()) as { id: string; client_secret: string };
    config = await oidc.discovery(new URL(server.issuer), agent.id, undefined, oidc.ClientSecretBasic(agent.client_secret), { execute: [oidc.allowInsecureRequests] });
  }, 120_000);
  afterAll(() => server?.stop());

  function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const child = spawn(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH ?? '', AGENTAUTH_URL: server.url, ADMIN_TOKEN: server.adminToken }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => { stdout += chunk; });
    child.stderr.on('data', (chunk) => { stderr += chunk; });
    return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
  }

  it('a second approver approves with --user after the named user; the text says what is awaited', async () => {
    const cfo = await createUser(server, 'cfo', 'cfo password, long enough');
    const agentId = config.clientMetadata().client_id;
    expect((await adminRequest(server, 'PUT', `/admin/approval-tiers/${agentId}`, { rules: [{ scopes: ['payments:write'], tier: 'strong', second_approvers: [cfo.id] }] })).status).toBe(200);
    const started = await oidc.initiateBackchannelAuthentication(config, { scope: 'openid payments:write', login_hint: 'owner', binding_message: 'Pay invoice 4800' });
    const json = JSON.parse((await cli(['approvals', 'list', '--status', 'pending', '--json'])).stdout) as { items: { id: string; binding_message: string }[] };
    const id = json.items.find((item) => item.binding_message === 'Pay invoice 4800')!.id;
    const first = await cli(['approvals', 'approve', id, '--password', 'correct horse battery staple']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/status:\s+pending/);
    expect(first.stdout).toMatch(/awaiting:\s+a second approver/);
    const wrong = await cli(['approvals', 'approve', id, '--password', 'correct horse battery staple']);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/HTTP 400 invalid_request: user_id: .*waits for a second approver/);
    const second = await cli(['approvals', 'approve', id, '--user', cfo.id, '--password', 'cfo password, long enough']);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/status:\s+approved/);
    expect((await oidc.pollBackchannelAuthenticationGrant(config, started)).access_token).toEqual(expect.any(String));
    await adminRequest(server, 'DELETE', `/admin/approval-tiers/${agentId}`);
  });

  it('lists, approves and denies', async () => {
    const first = await oidc.initiateBackchannelAuthentication(config, { scope: 'openid payments:write', login_hint: 'owner', binding_message: 'Pay invoice 4711' });
    const second = await oidc.initiateBackchannelAuthentication(config, { scope: 'openid payments:write', login_hint: 'owner', binding_message: 'Pay invoice 4712' });
    const listed = await cli(['approvals', 'list', '--status', 'pending']);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(/Pay invoice 4711/);
    const json = JSON.parse((await cli(['approvals', 'list', '--status', 'pending', '--json'])).stdout) as { items: { id: string; binding_message: string }[] };
    const idOf = (message: string) => json.items.find((item) => item.binding_message === message)!.id;
    const approved = await cli(['approvals', 'approve', idOf('Pay invoice 4711')]);
    expect(approved.code, approved.stderr).toBe(0);
    expect(approved.stdout).toMatch(/approved/);
    expect((await oidc.pollBackchannelAuthenticationGrant(config, first)).access_token).toEqual(expect.any(String));
    const denied = await cli(['approvals', 'deny', idOf('Pay invoice 4712'), '--reason', 'not this month']);
    expect(denied.code, denied.stderr).toBe(0);
    await expect(oidc.pollBackchannelAuthenticationGrant(config, second)).rejects.toMatchObject({ error: 'access_denied', error_description: 'not this month' });
    const again = await cli(['approvals', 'approve', idOf('Pay invoice 4712')]);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/already denied/);
  });
});
