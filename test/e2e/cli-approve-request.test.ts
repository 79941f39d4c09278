// `agentauth approve-request` as an agent runs it (a child process with its key file): it asks its owner through
// CIBA, waits, and prints the token once the operator approves; a denial and an expiry end it with exit 1 and the
// reason; an agent_action token comes back bound (RFC 9449 cnf.jkt) to the key file's key.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { calculateJwkThumbprint, decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminRequest, createResource, createUser } from '../support/admin.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

const BIN = fileURLToPath(new URL('../../bin/agentauth.ts', import.meta.url));
const PAYMENTS = 'https://payments.cli-approve-request.example.test/';

describe('agentauth approve-request', () => {
  let server: TestServer;
  let keyFile: string;

  function cli(args: string[]) {
    const child = spawn(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH ?? '', AGENTAUTH_URL: server.url, ADMIN_TOKEN: server.adminToken }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => { stdout += chunk; });
    child.stderr.on('data', (chunk) => { stderr += chunk; });
    return {
      stderr: () => stderr,
      done: new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr }))),
    };
  }

  /** The pending approval whose binding message is `message`, once the CLI's request has reached the server. */
  async function pending(message: string, running?: ReturnType<typeof cli>): Promise<string> {
    let ended: { code: number | null; stderr: string } | undefined;
    void running?.done.then((result) => { ended = result; });
    for (let attempt = 0; attempt < 300; attempt += 1) {
      if (ended) throw new Error(`the CLI ended (exit ${ended.code}) before asking: ${ended.stderr}`);
      const listed = await (await adminRequest(server, 'GET', '/admin/approvals?status=pending&limit=200')).json() as { items: { id: string; binding_message: string }[] };
      const found = listed.items.find((item) => item.binding_message === message);
      if (found) return found.id;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`no pending approval "${message}"`);
  }

  beforeAll(async () => {
    server = await startTestServer('embedded', 'e2e-cli-approve-request', { CIBA_POLL_INTERVAL: '1' });
    const owner = await createUser(server, 'olga', 'correct horse battery staple');
    await createResource(server, { identifier: PAYMENTS, scopes: ['payments:write'], token_format: 'jwt' });
    keyFile = join(await mkdtemp(join(tmpdir(), 'approve-request-')), 'bot.key.json');
    const created = await cli(['agents', 'create', '--name', 'invoice-bot', '--owner', owner.id, '--scope', 'payments:**', '--key-file', keyFile]).done;
    expect(created.code, created.stderr).toBe(0);
  }, 120_000);
  afterAll(() => server?.stop());

  it('waits for the approval and prints the token for the approved scope', async () => {
    const running = cli(['approve-request', '--key-file', keyFile, '--scope', 'payments:write', '--resource', PAYMENTS, '--binding-message', 'Pay invoice 4711', '--wait', '--json']);
    const id = await pending('Pay invoice 4711', running);
    // The approval is recorded before the CLI has the server's answer, so its message may follow a moment later.
    await expect.poll(() => running.stderr(), { timeout: 10_000 }).toMatch(/waiting for a decision on "Pay invoice 4711"/);
    expect((await adminRequest(server, 'POST', `/admin/approvals/${id}/approve`)).status).toBe(200);
    const { code, stdout, stderr } = await running.done;
    expect(code, stderr).toBe(0);
    const token = JSON.parse(stdout) as { access_token: string; token_type: string };
    expect(token.token_type.toLowerCase()).toBe('bearer');
    // The agent acts for the owner who approved (RFC 8693 §4.1 act).
    expect(decodeJwt(token.access_token)).toMatchObject({ aud: PAYMENTS, scope: 'payments:write', act: { sub: expect.stringMatching(/^agent_/) } });
  });

  it('an agent_action token is DPoP-bound to the key file\'s key; --raw prints the token alone', async () => {
    const action = { type: 'agent_action', action: 'pay_invoice', locations: [PAYMENTS], parameters: { invoice: '4711', amount: '1200.00' }, request: { method: 'POST', url: `${PAYMENTS}invoices/4711/pay` } };
    const running = cli(['approve-request', '--key-file', keyFile, '--scope', 'payments:write', '--resource', PAYMENTS, '--binding-message', 'Pay invoice 4713',
      '--authorization-details', JSON.stringify([action]), '--wait', '--raw']);
    expect((await adminRequest(server, 'POST', `/admin/approvals/${await pending('Pay invoice 4713', running)}/approve`)).status).toBe(200);
    const { code, stdout, stderr } = await running.done;
    expect(code, stderr).toBe(0);
    const { private_jwk: { d: _d, ...publicJwk } } = JSON.parse(await readFile(keyFile, 'utf8')) as { private_jwk: Record<string, string> };
    expect(decodeJwt(stdout.trim())).toMatchObject({ cnf: { jkt: await calculateJwkThumbprint(publicJwk as never) }, authorization_details: [expect.objectContaining({ type: 'agent_action', action: 'pay_invoice', parameters: { invoice: '4711', amount: '1200.00' } })] });
  });

  it('a denial ends it with exit 1 and the reason', async () => {
    const running = cli(['approve-request', '--key-file', keyFile, '--scope', 'payments:write', '--resource', PAYMENTS, '--binding-message', 'Pay invoice 4712', '--wait']);
    expect((await adminRequest(server, 'POST', `/admin/approvals/${await pending('Pay invoice 4712', running)}/deny`, { reason: 'not this month' })).status).toBe(200);
    const { code, stdout, stderr } = await running.done;
    expect({ code, stdout }).toEqual({ code: 1, stdout: '' });
    expect(stderr).toMatch(/^agentauth: denied: not this month$/m);
  });

  it('nobody deciding before requested_expiry ends it with exit 1, expired', async () => {
    const { code, stderr } = await cli(['approve-request', '--key-file', keyFile, '--scope', 'payments:write', '--resource', PAYMENTS, '--binding-message', 'Pay invoice 4717', '--requested-expiry', '2', '--wait']).done;
    expect(code).toBe(1);
    expect(stderr).toMatch(/^agentauth: expired: nobody decided before the request expired$/m);
  });

  it('without --wait prints the auth_req_id; --timeout gives up without deciding anything', async () => {
    const started = await cli(['approve-request', '--key-file', keyFile, '--scope', 'payments:write', '--resource', PAYMENTS, '--binding-message', 'Pay invoice 4714', '--json']).done;
    expect(started.code, started.stderr).toBe(0);
    expect(JSON.parse(started.stdout)).toEqual({ auth_req_id: expect.any(String), expires_in: expect.any(Number), interval: 1 });
    const waited = await cli(['approve-request', '--key-file', keyFile, '--scope', 'payments:write', '--resource', PAYMENTS, '--binding-message', 'Pay invoice 4715', '--wait', '--timeout', '2']).done;
    expect(waited.code).toBe(1);
    expect(waited.stderr).toMatch(/no decision within 2 seconds; the request stays pending/);
    await pending('Pay invoice 4715');
  });

  it('refuses bad input: no binding message, malformed details (exit 2), an unknown user (the server\'s error)', async () => {
    const missing = await cli(['approve-request', '--key-file', keyFile, '--scope', 'payments:write']).done;
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--binding-message is required/);
    const malformed = await cli(['approve-request', '--key-file', keyFile, '--binding-message', 'x', '--authorization-details', '{"type":"agent_action"}']).done;
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toMatch(/must be a JSON array of objects/);
    const unknown = await cli(['approve-request', '--key-file', keyFile, '--scope', 'payments:write', '--resource', PAYMENTS, '--binding-message', 'Pay invoice 4716', '--login-hint', 'nobody-such']).done;
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^agentauth: unknown_user_id: /m);
  });
});
