// Abuse limits through HTTP, on both storage modes; with Redis, on two instances sharing one limit (requests
// alternate between them). Source addresses come from X-Forwarded-For behind TRUST_PROXY, as behind a load
// balancer. Counts are asserted exactly: a limit of N lets N attempts through, concurrent or not, and the audit
// trail holds one row per failed and per throttled sign-in.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'oauth4webapi';
import { createUser } from '../support/admin.ts';
import { Browser } from '../support/browser.ts';
import { STORAGE_MODES, startTestServer, type TestServer } from '../support/server.ts';

const REDIRECT_URI = 'http://127.0.0.1:8977/callback';
const LIMITS = {
  TRUST_PROXY: 'true',
  RATE_LIMIT_LOGIN_ADDRESS: '3/900/900',
  // A one-second block that doubles, so the progression can be watched within a test.
  RATE_LIMIT_LOGIN_USERNAME: '6/60/1',
  RATE_LIMIT_CLIENT_AUTH_ADDRESS: '4/300/300',
  RATE_LIMIT_CLIENT_REQUESTS: '5/60',
  RATE_LIMIT_REGISTRATION: '3/600/600',
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
let addressCounter = 0;
/** A documentation address (RFC 5737) no other test in this file used. */
const freshAddress = () => `198.51.100.${(addressCounter += 1)}`;

describe.each(STORAGE_MODES)('abuse limits (%s)', (mode) => {
  let server: TestServer;
  /** Where requests go, alternating: both instances with Redis, the one instance embedded. */
  let instances: string[];
  let publicClientId: string;

  beforeAll(async () => {
    server = await startTestServer(mode, `e2e-rate-limits-${mode}`, LIMITS);
    instances = [server.url];
    if (mode === 'redis+postgres') instances.push((await server.startSibling()).url);
    const registered = await fetch(`${server.url}/reg`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${server.adminToken}` },
      body: JSON.stringify({ redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: 'none', grant_types: ['authorization_code'], response_types: ['code'] }),
    });
    publicClientId = ((await registered.json()) as { client_id: string }).client_id;
  });
  afterAll(() => server?.stop());

  const at = (i: number) => instances[i % instances.length];

  /** A sign-in form, as a browser has it after following the authorization request. */
  async function signInForm(): Promise<{ action: string; csrf: string; cookie: string }> {
    const browser = new Browser();
    const url = new URL(`${server.url}/auth`);
    url.search = new URLSearchParams({
      client_id: publicClientId, response_type: 'code', scope: 'openid', redirect_uri: REDIRECT_URI,
      code_challenge: await oidc.calculatePKCECodeChallenge(oidc.generateRandomCodeVerifier()), code_challenge_method: 'S256',
    }).toString();
    const page = await browser.navigate(url.href, REDIRECT_URI);
    if (page instanceof URL) throw new Error('expected the sign-in page');
    return { action: new URL(/action="([^"]+\/login)"/.exec(page.html)![1], server.url).pathname, csrf: /name="csrf" value="([^"]+)"/.exec(page.html)![1], cookie: browser.jar.header() };
  }

  async function signIn(form: { action: string; csrf: string; cookie: string }, instance: string, address: string, username: string, password: string) {
    const response = await fetch(`${instance}${form.action}`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: form.cookie, 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': address },
      body: new URLSearchParams({ csrf: form.csrf, username, password }).toString(),
    });
    return { status: response.status, retryAfter: response.headers.get('retry-after'), type: response.headers.get('content-type'), html: await response.text() };
  }

  async function auditCount(event: string, username: string): Promise<number> {
    const rows = await server.db.selectFrom('audit_events').select(['details']).where('event', '=', event).execute();
    return rows.filter((row) => (row.details as { username?: string } | null)?.username === username).length;
  }

  it('lets exactly the limit of concurrent wrong passwords from one address through, audits each, and leaves the user free elsewhere', async () => {
    await createUser(server, 'alice', 'alice has a long password');
    const form = await signInForm();
    const address = freshAddress();
    const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => signIn(form, at(i), address, 'alice', `wrong ${i}`)));
    const checked = answers.filter((answer) => answer.status !== 429);
    const throttled = answers.filter((answer) => answer.status === 429);
    expect(checked).toHaveLength(3);
    for (const answer of checked) expect(answer.html).toContain('Invalid username or password.');
    expect(throttled).toHaveLength(5);
    for (const answer of throttled) {
      expect(Number(answer.retryAfter)).toBeGreaterThan(890);
      expect(Number(answer.retryAfter)).toBeLessThanOrEqual(900);
      expect(answer.type).toMatch(/^text\/html/);
      expect(answer.html).toContain('Too many failed sign-in attempts for this username. Try again in 15 minutes.');
    }
    // The right password from the throttled address waits too; from anywhere else it signs in.
    expect((await signIn(form, at(0), address, 'alice', 'alice has a long password')).status).toBe(429);
    expect((await signIn(form, at(1), freshAddress(), 'alice', 'alice has a long password')).status).toBe(303);
    await server.audit.flush();
    await expect.poll(() => auditCount('login.failed', 'alice')).toBe(3);
    await expect.poll(() => auditCount('login.throttled', 'alice')).toBe(6);
  });

  it('slows guessing spread over many addresses with a doubling block, and the real user gets in once it ends', async () => {
    await createUser(server, 'bob', 'bob has a long password');
    const form = await signInForm();
    const round = async () => {
      for (let i = 0; i < 6; i += 1) expect((await signIn(form, at(i), freshAddress(), 'bob', `guess ${i}`)).status).not.toBe(429);
      return signIn(form, at(6), freshAddress(), 'bob', 'one guess too many');
    };
    const first = await round();
    expect([first.status, first.retryAfter]).toEqual([429, '1']);
    await sleep(1100);
    const second = await round();
    expect([second.status, second.retryAfter]).toEqual([429, '2']);
    // The block holds for the owner too, from an address never seen, and ends.
    expect((await signIn(form, at(1), freshAddress(), 'bob', 'bob has a long password')).status).toBe(429);
    await sleep(2100);
    expect((await signIn(form, at(0), freshAddress(), 'bob', 'bob has a long password')).status).toBe(303);
  });

  describe('client authentication', () => {
    let client: { id: string; secret: string };
    beforeAll(async () => {
      client = await registerConfidentialClient(server);
    });

    const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
    async function post(instance: string, path: string, address: string, form: Record<string, string>, authorization?: string) {
      const response = await fetch(`${instance}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': address, ...(authorization ? { authorization } : {}) },
        body: new URLSearchParams(form).toString(),
      });
      return { status: response.status, headers: response.headers, body: (await response.json()) as { error?: string; error_description?: string; access_token?: string } };
    }

    it('refuses a client_id after the limit of failed authentications from one address, at every endpoint where clients authenticate', async () => {
      const address = freshAddress();
      const attempts = [
        () => post(at(0), '/token', address, { grant_type: 'client_credentials' }, basic(client.id, 'wrong')),
        () => post(at(1), '/token/introspection', address, { token: 'x' }, basic(client.id, 'wrong')),
        () => post(at(0), '/token/revocation', address, { token: 'x', client_id: client.id, client_secret: 'wrong' }),
        () => post(at(1), '/token', address, { grant_type: 'client_credentials', client_id: client.id, client_secret: 'wrong' }),
      ];
      for (const attempt of attempts) {
        const answer = await attempt();
        expect([answer.status, answer.body.error]).toEqual([401, 'invalid_client']);
      }
      for (const [i, path] of ['/token', '/token/introspection', '/token/revocation'].entries()) {
        const refused = await post(at(i), path, address, path === '/token' ? { grant_type: 'client_credentials' } : { token: 'x' }, basic(client.id, 'wrong'));
        expect([refused.status, refused.body.error]).toEqual([429, 'temporarily_unavailable']);
        expect(refused.body.error_description).toMatch(/^too many failed client authentications for this client; retry after \d+ s$/);
        expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(290);
        expect(refused.headers.get('cache-control')).toBe('no-store');
      }
      // The right secret from that address waits out the block; from another address the client works.
      expect((await post(at(0), '/token', address, { grant_type: 'client_credentials' }, basic(client.id, client.secret))).status).toBe(429);
      const elsewhere = await post(at(1), '/token', freshAddress(), { grant_type: 'client_credentials' }, basic(client.id, client.secret));
      expect(elsewhere.status).toBe(200);
      expect(elsewhere.body.access_token).toEqual(expect.any(String));
    });

    it('stops an authenticated client at its request limit, counted across instances', async () => {
      const busy = await registerConfidentialClient(server);
      const statuses: number[] = [];
      for (let i = 0; i < 7; i += 1) statuses.push((await post(at(i), '/token', freshAddress(), { grant_type: 'client_credentials' }, basic(busy.id, busy.secret))).status);
      expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429]);
      const refused = await post(at(0), '/token/introspection', freshAddress(), { token: 'x' }, basic(busy.id, busy.secret));
      expect([refused.status, refused.body.error]).toEqual([429, 'temporarily_unavailable']);
      expect(refused.body.error_description).toMatch(/^this client is over its request limit; retry after \d+ s$/);
    });
  });

  it('limits anonymous registrations per address, exactly under concurrency, and not the initial access token', async () => {
    const count = async () => Number((await server.db.selectFrom('clients').select(server.db.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
    const before = await count();
    const address = freshAddress();
    const metadata = JSON.stringify({ redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: 'none', grant_types: ['authorization_code'], response_types: ['code'] });
    const register = (instance: string, from: string, authorization?: string) => fetch(`${instance}/reg`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': from, ...(authorization ? { authorization } : {}) }, body: metadata,
    });
    const answers = await Promise.all(Array.from({ length: 6 }, (_, i) => register(at(i), address)));
    expect(answers.map((answer) => answer.status).sort()).toEqual([201, 201, 201, 429, 429, 429]);
    const refused = answers.find((answer) => answer.status === 429)!;
    expect(await refused.json()).toEqual({ error: 'temporarily_unavailable', error_description: expect.stringMatching(/^too many client registrations from this address; retry after \d+ s$/) });
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(590);
    expect(await count()).toBe(before + 3);
    expect((await register(at(1), freshAddress())).status).toBe(201);
    expect((await register(at(0), address, `Bearer ${server.adminToken}`)).status).toBe(201);
    expect(await count()).toBe(before + 5);
  });
});

async function registerConfidentialClient(server: TestServer): Promise<{ id: string; secret: string }> {
  const response = await fetch(`${server.url}/reg`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${server.adminToken}` },
    body: JSON.stringify({ grant_types: ['client_credentials'], response_types: [], redirect_uris: [], token_endpoint_auth_method: 'client_secret_basic' }),
  });
  const body = (await response.json()) as { client_id: string; client_secret: string };
  return { id: body.client_id, secret: body.client_secret };
}
