// A flood of wrong passwords must not slow token signing: scrypt and WebCrypto share libuv's threadpool, so the
// scrypt gate (adapters/scrypt-gate.ts) keeps all but one thread free for signing. Measured through HTTP on one
// instance: JWT access tokens (client_credentials for a JWT resource) while 32 wrong-password POSTs are in flight.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { createResource, createUser } from '../support/admin.ts';
import { Browser } from '../support/browser.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

const insecure = { execute: [oidc.allowInsecureRequests] };
const API = 'https://api.example.test/';
const REDIRECT_URI = 'http://127.0.0.1:8976/callback';
const SAMPLES = 40;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

describe('login flood against token issuance (embedded storage)', () => {
  let server: TestServer;
  let config: oidc.Configuration;
  let login: { action: string; csrf: string; browser: Browser };

  beforeAll(async () => {
    // No sign-in limits: the flood stands for an attacker spread over usernames and addresses, whose every guess costs a scrypt.
    server = await startTestServer('embedded', 'e2e-login-flood', { RATE_LIMIT_LOGIN_ADDRESS: 'off', RATE_LIMIT_LOGIN_USERNAME: 'off' });
    const issuer = new URL(server.issuer);
    await createUser(server, 'victim', 'the real and long password');
    await createResource(server, { identifier: API, scopes: ['read'], token_format: 'jwt', access_token_ttl: 300 });
    const registered = await oidc.dynamicClientRegistration(issuer, {
      grant_types: ['client_credentials'], response_types: [], redirect_uris: [],
    }, undefined, { ...insecure, initialAccessToken: server.adminToken });
    config = await oidc.discovery(issuer, registered.clientMetadata().client_id, registered.clientMetadata(), oidc.ClientSecretBasic(registered.clientMetadata().client_secret as string), insecure);

    const publicClient = await oidc.dynamicClientRegistration(issuer, {
      redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: 'none', grant_types: ['authorization_code'], response_types: ['code'],
    }, oidc.None(), insecure);
    const browser = new Browser();
    const url = new URL(`${server.url}/auth`);
    url.search = new URLSearchParams({
      client_id: publicClient.clientMetadata().client_id, response_type: 'code', scope: 'openid', redirect_uri: REDIRECT_URI,
      code_challenge: oidc.randomPKCECodeVerifier(), code_challenge_method: 'plain',
    }).toString();
    url.searchParams.set('code_challenge', await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()));
    url.searchParams.set('code_challenge_method', 'S256');
    const page = await browser.navigate(url.href, REDIRECT_URI);
    if (page instanceof URL) throw new Error('expected the login page');
    login = {
      action: new URL(/action="([^"]+\/login)"/.exec(page.html)![1], server.url).href,
      csrf: /name="csrf" value="([^"]+)"/.exec(page.html)![1],
      browser,
    };
  });
  afterAll(() => server?.stop());

  async function issuanceLatencies(): Promise<number[]> {
    const latencies: number[] = [];
    for (let i = 0; i < SAMPLES; i += 1) {
      const started = performance.now();
      const tokens = await oidc.clientCredentialsGrant(config, { resource: API, scope: 'read' });
      latencies.push(performance.now() - started);
      expect(tokens.access_token.split('.')).toHaveLength(3);
    }
    return latencies;
  }

  it('keeps the median JWT issuance latency within 2x of unloaded while 32 wrong passwords are checked', async () => {
    await issuanceLatencies(); // warm up JIT, key import, client cache
    const unloaded = median(await issuanceLatencies());

    let flooding = true;
    const statuses: number[] = [];
    const attacker = async () => {
      while (flooding) {
        const response = await login.browser.request(login.action, { form: { csrf: login.csrf, username: 'victim', password: 'wrong guess' } });
        statuses.push(response.status);
        await response.arrayBuffer();
      }
    };
    const attackers = Array.from({ length: 32 }, attacker);
    await new Promise((resolve) => setTimeout(resolve, 200)); // let the flood fill the queue
    const loaded = median(await issuanceLatencies());
    flooding = false;
    await Promise.all(attackers);

    console.log(`JWT issuance p50: unloaded ${unloaded.toFixed(1)} ms, during 32-way login flood ${loaded.toFixed(1)} ms; ${statuses.length} login attempts answered`);
    // Every attempt was refused as a wrong password (the form again, 400) or shed as busy, never anything else.
    expect(statuses.length).toBeGreaterThanOrEqual(32);
    expect(statuses.every((status) => status === 400 || status === 503 || status === 429)).toBe(true);
    // A floor of 2 ms keeps timer noise on a sub-millisecond baseline from failing the ratio.
    expect(loaded).toBeLessThanOrEqual(2 * Math.max(unloaded, 2));

    // Every refused attempt is audited as login.failed, with the username typed and never the password.
    await server.audit.flush();
    const response = await fetch(`${server.url}/admin/audit?event=login.failed&limit=500`, { headers: { authorization: `Bearer ${server.adminToken}` } });
    const text = await response.text();
    const { items } = JSON.parse(text) as { items: Array<{ event: string }> };
    expect(items).toHaveLength(statuses.filter((status) => status === 400).length);
    expect(text).toContain('victim');
    expect(text).not.toContain('wrong guess');
  }, 50_000);
});
