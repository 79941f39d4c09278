// The approvals inbox in a real browser: Debian's headless Chromium (never downloaded) driven by playwright-core.
// The owner signs in, sees the agent's request with its binding message and details, approves it, and the agent's
// poll then gets the token. A screenshot of the inbox is kept in test-artifacts/ (gitignored).
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as oidc from 'openid-client';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminRequest, createResource, createUser } from '../support/admin.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

const PAYMENTS = 'https://payments.inbox-browser.example.test/';
const PASSWORD = 'correct horse battery staple';

describe('approvals inbox in headless Chromium', () => {
  let server: TestServer;
  let browser: BrowserContext;
  let profile: string;
  let agentConfig: oidc.Configuration;

  beforeAll(async () => {
    server = await startTestServer('embedded', 'e2e-inbox-browser', { CIBA_POLL_INTERVAL: '1' });
    const owner = await createUser(server, 'olga', PASSWORD);
    await createResource(server, { identifier: PAYMENTS, scopes: ['payments:write'], token_format: 'jwt' });
    const agent = (await (await adminRequest(server, 'POST', '/admin/agents', { name: 'invoice-bot', owner: owner.id, scopes: ['payments:**'] })).json()) as { id: string; client_secret: string };
    agentConfig = await oidc.discovery(new URL(server.issuer), agent.id, undefined, oidc.ClientSecretBasic(agent.client_secret), { execute: [oidc.allowInsecureRequests] });
    profile = await mkdtemp(join(tmpdir(), 'agentauth-chromium-'));
    // A fresh profile directory each run (playwright passes it as --user-data-dir).
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 390, height: 844 },
    });
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    if (profile) await rm(profile, { recursive: true, force: true });
  });

  it('signs in, shows the request, approves it; the agent then gets its token', async () => {
    const started = await oidc.initiateBackchannelAuthentication(agentConfig, {
      scope: 'openid payments:write', login_hint: 'owner', binding_message: 'Pay invoice 4711',
      authorization_details: JSON.stringify([{ type: 'agent_action', action: 'payments.create', locations: [PAYMENTS], parameters: { amount: '120.00', currency: 'EUR', creditor: 'ACME' } }]),
    });
    const page = await browser.newPage();
    const violations: string[] = [];
    page.on('console', (message) => { if (/Content Security Policy/i.test(message.text())) violations.push(message.text()); });
    const first = await page.goto(`${server.url}/approvals`);
    expect(first!.headers()['content-security-policy']).toMatch(/^default-src 'none'/);
    await page.fill('#username', 'olga');
    await page.fill('#password', PASSWORD);
    await page.click('button[type=submit]');
    const card = page.locator('article', { hasText: 'Pay invoice 4711' });
    await expect(card.textContent()).resolves.toMatch(/invoice-bot[\s\S]*payments\.create[\s\S]*ACME/);
    await mkdir('test-artifacts', { recursive: true });
    await page.screenshot({ path: 'test-artifacts/approvals-inbox.png', fullPage: true });
    await card.locator('button', { hasText: 'Approve' }).click();
    await page.waitForSelector('text=History');
    // agent_action tokens are action-bound: the token request carries a DPoP proof (action-bound-tokens.test.ts).
    const tokens = await oidc.pollBackchannelAuthenticationGrant(agentConfig, started, undefined, { DPoP: oidc.getDPoPHandle(agentConfig, await oidc.randomDPoPKeyPair()) });
    expect(tokens.authorization_details).toEqual([expect.objectContaining({ action: 'payments.create' })]);
    // The inline stylesheet is allowed by its hash: the page renders with no CSP violation.
    expect(violations).toEqual([]);
  });
});
