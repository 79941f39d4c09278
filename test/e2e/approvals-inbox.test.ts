// The approvals inbox over HTTP with a cookie-keeping client (test/support/browser.ts), on both storage modes:
// an agent asks its owner through CIBA (openid-client), the owner signs in at /approvals, sees the request and
// approves it, and the agent's poll gets the token with the approved authorization_details; denial is
// access_denied; CSRF, other users, strong tier without the password and malformed input are refused with
// HTML and nothing decided.
import { decodeJwt } from 'jose';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminRequest, createResource, createUser } from '../support/admin.ts';
import { Browser, signInToInbox, type Page } from '../support/browser.ts';
import { STORAGE_MODES, startTestServer, type TestServer } from '../support/server.ts';

const PAYMENTS = 'https://payments.inbox.example.test/';
const PASSWORD = 'correct horse battery staple';
const insecure = { execute: [oidc.allowInsecureRequests] };

describe.each(STORAGE_MODES)('approvals inbox (%s)', (mode) => {
  let server: TestServer;
  let agentConfig: oidc.Configuration;
  let agentId: string;

  beforeAll(async () => {
    server = await startTestServer(mode, `e2e-inbox-${mode}`, { CIBA_POLL_INTERVAL: '1' });
    const owner = await createUser(server, 'olga', PASSWORD);
    await createUser(server, 'mallory', PASSWORD);
    await createResource(server, { identifier: PAYMENTS, scopes: ['payments:write'], token_format: 'jwt' });
    const agent = (await (await adminRequest(server, 'POST', '/admin/agents', { name: 'invoice-bot', owner: owner.id, scopes: ['payments:**'] })).json()) as { id: string; client_secret: string };
    agentId = agent.id;
    await adminRequest(server, 'PUT', `/admin/approval-tiers/${agent.id}`, {
      rules: [{ type: 'agent_action', when: [{ field: 'parameters.amount', op: '>', value: 1000 }], tier: 'strong' }], default: 'soft',
    });
    agentConfig = await oidc.discovery(new URL(server.issuer), agent.id, undefined, oidc.ClientSecretBasic(agent.client_secret), insecure);
  }, 180_000);
  afterAll(() => server?.stop());

  const ask = (message: string, amount = '120.00') => oidc.initiateBackchannelAuthentication(agentConfig, {
    scope: 'openid payments:write', login_hint: 'owner', binding_message: message,
    authorization_details: JSON.stringify([{ type: 'agent_action', action: 'payments.create', locations: [PAYMENTS], parameters: { amount, currency: 'EUR', creditor: 'ACME <b>' } }]),
  });

  const signIn = (username: string) => signInToInbox(server.url, username, PASSWORD);
  const card = (page: Page, message: string) => page.html.split('<article').find((part) => part.includes(message));
  const statusOf = async (message: string) => {
    const listed = (await (await adminRequest(server, 'GET', `/admin/approvals?client_id=${encodeURIComponent(agentId)}&limit=200`)).json()) as { items: { binding_message: string; status: string; id: string }[] };
    return listed.items.find((item) => item.binding_message === message)!;
  };

  it('sign in, see the request with its details, approve: the agent gets the token with the approved details', async () => {
    const started = await ask('Pay invoice 4711');
    const { browser, page } = await signIn('olga');
    expect(page.status).toBe(200);
    const shown = card(page, 'Pay invoice 4711')!;
    expect(shown).toContain('invoice-bot');
    expect(shown).toContain('payments.create');
    expect(shown).toContain('ACME &lt;b&gt;');
    const decided = await browser.submit(page, new RegExp(`/${(await statusOf('Pay invoice 4711')).id}/approve$`), {}, 'never:') as Page;
    expect(decided.status).toBe(200);
    // agent_action tokens are action-bound: the token request carries a DPoP proof (action-bound-tokens.test.ts).
    const tokens = await oidc.pollBackchannelAuthenticationGrant(agentConfig, started, undefined, { DPoP: oidc.getDPoPHandle(agentConfig, await oidc.randomDPoPKeyPair()) });
    expect(decodeJwt(tokens.access_token)).toMatchObject({ authorization_details: [expect.objectContaining({ action: 'payments.create' })] });
    expect((await statusOf('Pay invoice 4711')).status).toBe('approved');
    expect(decided.html).toMatch(/History[\s\S]*Pay invoice 4711/);
  });

  it('deny: access_denied for the agent', async () => {
    const started = await ask('Pay invoice 4712');
    const { browser, page } = await signIn('olga');
    await browser.submit(page, new RegExp(`/${(await statusOf('Pay invoice 4712')).id}/deny$`), {}, 'never:');
    await expect(oidc.pollBackchannelAuthenticationGrant(agentConfig, started, undefined, { DPoP: oidc.getDPoPHandle(agentConfig, await oidc.randomDPoPKeyPair()) })).rejects.toMatchObject({ error: 'access_denied' });
  });

  it('refuses a missing or wrong CSRF token, another user, and a strong approval without the password; nothing decided', async () => {
    await ask('Pay invoice 4713');
    await ask('Pay invoice 4714', '5000');
    const { id } = await statusOf('Pay invoice 4713');
    const strong = (await statusOf('Pay invoice 4714')).id;
    const { browser, page } = await signIn('olga');
    for (const form of [{} as Record<string, string>, { csrf: 'wrong' }]) {
      const answer = await browser.request(`${server.url}/approvals/${id}/approve`, { form });
      expect(answer.status).toBe(403);
      expect(answer.headers.get('content-type')).toMatch(/html/);
    }
    const mallory = await signIn('mallory');
    expect(mallory.page.html).not.toContain('Pay invoice 4713');
    const csrf = /name="csrf" value="([^"]+)"/.exec(mallory.page.html)![1];
    expect((await mallory.browser.request(`${server.url}/approvals/${id}/approve`, { form: { csrf } })).status).toBe(404);
    const strongAnswer = await browser.submit(page, new RegExp(`/${strong}/approve$`), {}, 'never:') as Page;
    expect(strongAnswer.status).toBe(403);
    expect((await statusOf('Pay invoice 4713')).status).toBe('pending');
    expect((await statusOf('Pay invoice 4714')).status).toBe('pending');
    const withPassword = await browser.submit(page, new RegExp(`/${strong}/approve$`), { password: PASSWORD }, 'never:') as Page;
    expect(withPassword.status).toBe(200);
    expect((await statusOf('Pay invoice 4714')).status).toBe('approved');
  });

  it('answers malformed and oversized input with HTML 4xx, never 500; a strict CSP on every page', async () => {
    const browser = new Browser();
    const first = await browser.request(`${server.url}/approvals`);
    expect(first.headers.get('content-security-policy')).toMatch(/^default-src 'none'; style-src 'sha256-[^']+'; form-action 'self'; frame-ancestors 'none'/);
    const answers = [
      await fetch(`${server.url}/approvals/sign-in`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }),
      await fetch(`${server.url}/approvals/sign-in`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'x='.padEnd(2_000_000, 'a') }),
      await fetch(`${server.url}/approvals/sign-in`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '%%%' }),
      await fetch(`${server.url}/approvals/${'x'.repeat(5000)}/approve`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'csrf=1' }),
      await fetch(`${server.url}/approvals/nope`),
    ];
    for (const answer of answers) {
      expect(answer.status).toBeGreaterThanOrEqual(400);
      expect(answer.status).toBeLessThan(500);
      expect(answer.headers.get('content-type')).toMatch(/html/);
    }
  });
});
