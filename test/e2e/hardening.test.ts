// The pages people see and the cookies they get: security headers on every HTML page, `Secure` cookies when
// the issuer is https, a session as long as SESSION_TTL; and a client that hangs up is one log line.
import { connect } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { loadSettings } from '../../config/settings.ts';
import { startServer, type RunningServer } from '../../server/start.ts';
import { createLogger } from '../../server/logger.ts';
import { createUser } from '../support/admin.ts';
import { runServerProcess } from '../support/process.ts';
import { Browser, signInAndConsent } from '../support/browser.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

const REDIRECT_URI = 'http://127.0.0.1:8979/callback';
const USER = { username: 'dana', password: 'correct horse battery staple' };

/** A Browser that sends every request to the server's own address (the issuer may name a host nobody serves) and keeps each Set-Cookie. */
class RecordingBrowser extends Browser {
  readonly cookies: string[] = [];
  readonly pages: Response[] = [];
  readonly base: string;
  constructor(base: string) {
    super();
    this.base = base;
  }

  override async request(url: string, init: { method?: string; form?: Record<string, string> } = {}): Promise<Response> {
    const target = new URL(url);
    const response = await super.request(`${this.base}${target.pathname}${target.search}`, init);
    this.cookies.push(...response.headers.getSetCookie());
    if (!response.headers.get('location')) this.pages.push(response);
    return response;
  }
}

async function publicClient(server: Pick<TestServer, 'url'>): Promise<string> {
  const response = await fetch(`${server.url}/reg`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: 'none', grant_types: ['authorization_code'], response_types: ['code'] }),
  });
  expect(response.status).toBe(201);
  return ((await response.json()) as { client_id: string }).client_id;
}

async function authorizationUrl(server: Pick<TestServer, 'url'>, clientId: string, verifier = oidc.randomPKCECodeVerifier()): Promise<URL> {
  const url = new URL(`${server.url}/auth`);
  const challenge = await oidc.calculatePKCECodeChallenge(verifier);
  url.search = new URLSearchParams({ client_id: clientId, redirect_uri: REDIRECT_URI, response_type: 'code', scope: 'openid', code_challenge: challenge, code_challenge_method: 'S256' }).toString();
  return url;
}

function expectPageHeaders(response: Response, formTargets: string) {
  expect({
    csp: response.headers.get('content-security-policy'),
    frame: response.headers.get('x-frame-options'),
    referrer: response.headers.get('referrer-policy'),
    nosniff: response.headers.get('x-content-type-options'),
    cache: response.headers.get('cache-control'),
  }).toEqual({
    csp: `default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action ${formTargets}`,
    frame: 'DENY',
    referrer: 'no-referrer',
    nosniff: 'nosniff',
    cache: 'no-store',
  });
}

describe('pages, cookies and the authorization endpoint on an http issuer (defaults)', () => {
  let server: TestServer;
  let clientId: string;

  beforeAll(async () => {
    server = await startTestServer('embedded', 'e2e-hardening-http');
    await createUser(server, USER.username, USER.password);
    clientId = await publicClient(server);
  });
  afterAll(() => server?.stop());

  it('sends the security headers with the login page, a failed login, the consent page and the logout page', async () => {
    const browser = new RecordingBrowser(server.url);
    const login = await browser.navigate((await authorizationUrl(server, clientId)).href, REDIRECT_URI);
    if (login instanceof URL) throw new Error('expected the login page');
    const loginResponse = browser.pages.at(-1)!;
    expect(loginResponse.headers.get('content-type')).toMatch(/^text\/html/);
    // The login form leads, through our redirects, to the client: its origin is a form target, nothing else is.
    expectPageHeaders(loginResponse, "'self' http://127.0.0.1:8979");

    const failed = await browser.submit(login, /\/login$/, { username: USER.username, password: 'wrong password' }, REDIRECT_URI);
    if (failed instanceof URL) throw new Error('expected the login page again');
    expect(failed.status).toBe(400);
    expectPageHeaders(browser.pages.at(-1)!, "'self' http://127.0.0.1:8979");

    const consent = await browser.submit(failed, /\/login$/, USER, REDIRECT_URI);
    if (consent instanceof URL) throw new Error('expected the consent page');
    expect(consent.html).toContain('/confirm"');
    expectPageHeaders(browser.pages.at(-1)!, "'self' http://127.0.0.1:8979");
    expect(await browser.submit(consent, /\/confirm$/, {}, REDIRECT_URI)).toBeInstanceOf(URL);

    const logout = await browser.request(`${server.url}/session/end`);
    expect(await logout.text()).toContain('Sign out of');
    expectPageHeaders(logout, "'self'");
  });

  it('sends them with error pages too', async () => {
    const unknownClient = await fetch(`${server.url}/auth?client_id=nobody&response_type=code&scope=openid`);
    expect(unknownClient.status).toBe(400);
    expectPageHeaders(unknownClient, "'self'");
    const staleInteraction = await fetch(`${server.url}/interaction/not-a-real-uid`);
    expect(staleInteraction.status).toBe(400);
    expectPageHeaders(staleInteraction, "'self'");
  });

  it('sets no Secure cookies on an http issuer, and the session lasts eight hours by default', async () => {
    const browser = new RecordingBrowser(server.url);
    await signInAndConsent(await authorizationUrl(server, clientId), REDIRECT_URI, USER, browser);
    expect(browser.cookies.length).toBeGreaterThan(0);
    expect(browser.cookies.filter((cookie) => /;\s*secure/i.test(cookie))).toEqual([]);
    const session = browser.cookies.find((cookie) => cookie.startsWith('_session='));
    expect(session).toBeDefined();
    const expires = Date.parse(/expires=([^;]+)/i.exec(session!)![1]);
    expect(Math.abs(expires - (Date.now() + 8 * 3600 * 1000))).toBeLessThan(60_000);
  });

  it('answers the login form with 303, never 307, so the password is not posted on (RFC 9700 §4.12)', async () => {
    const browser = new Browser();
    const login = await browser.navigate((await authorizationUrl(server, clientId)).href, REDIRECT_URI);
    if (login instanceof URL) throw new Error('expected the login page');
    const form = /<form[^>]*action="([^"]+\/login)"[\s\S]*?name="csrf" value="([^"]+)"/.exec(login.html)!;
    const posted = await browser.request(new URL(form[1], login.url).href, { form: { csrf: form[2], ...USER } });
    expect(posted.status).toBe(303);
  });

  it.each([
    ['a longer path', `${REDIRECT_URI}/more`],
    ['an added query', `${REDIRECT_URI}?next=https://attacker.example`],
    ['another host', 'http://127.0.0.2:8979/callback'],
    ['another scheme', 'https://127.0.0.1:8979/callback'],
    ['a different case', REDIRECT_URI.replace('callback', 'Callback')],
  ])('compares redirect URIs exactly (RFC 9700 §2.1): %s is refused on our page, not redirected to', async (_what, redirectUri) => {
    const url = await authorizationUrl(server, clientId);
    url.searchParams.set('redirect_uri', redirectUri);
    const response = await fetch(url, { redirect: 'manual' });
    expect(response.status).toBe(400);
    expect(response.headers.get('location')).toBeNull();
    expect(await response.text()).toContain('redirect_uri');
  });

  it('refuses plain-http redirect URIs other than loopback even from the operator (RFC 9700 §2.6)', async () => {
    const register = (redirectUris: string[]) => fetch(`${server.url}/reg`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${server.adminToken}` },
      body: JSON.stringify({ redirect_uris: redirectUris, grant_types: ['authorization_code'], response_types: ['code'] }),
    });
    const refused = await register(['https://app.example/cb', 'http://app.example/cb']);
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ error: 'invalid_client_metadata', error_description: expect.stringContaining('"http://app.example/cb" uses plain http') });
    expect((await register(['https://app.example/cb', 'http://127.0.0.1:9000/cb'])).status).toBe(201);
  });

  it('answers no CORS at the authorization endpoint (RFC 9700 §2.6)', async () => {
    const url = await authorizationUrl(server, clientId);
    const preflight = await fetch(url, { method: 'OPTIONS', headers: { origin: 'http://127.0.0.1:8979', 'access-control-request-method': 'GET' } });
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
    const simple = await fetch(url, { headers: { origin: 'http://127.0.0.1:8979' }, redirect: 'manual' });
    expect(simple.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('redeems a code only with the verifier of its PKCE challenge (RFC 9700 §2.1.1)', async () => {
    const verifier = oidc.randomPKCECodeVerifier();
    const callback = await signInAndConsent(await authorizationUrl(server, clientId, verifier), REDIRECT_URI, USER);
    const redeem = async (extra: Record<string, string>) => {
      const response = await fetch(`${server.url}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'authorization_code', code: callback.searchParams.get('code')!, redirect_uri: REDIRECT_URI, client_id: clientId, ...extra }),
      });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    for (const extra of [{}, { code_verifier: oidc.randomPKCECodeVerifier() }] as Record<string, string>[]) {
      const refused = await redeem(extra);
      expect(refused.status).toBe(400);
      expect(refused.body.access_token).toBeUndefined();
      expect(['invalid_grant', 'invalid_request']).toContain(refused.body.error);
    }
  });

  it('never lets a client choose its client_id, so none can pose as a user or another client (RFC 9700 §2.6, §4.15)', async () => {
    const response = await fetch(`${server.url}/reg`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_id: USER.username, redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: 'none', grant_types: ['authorization_code'], response_types: ['code'] }),
    });
    expect(response.status).toBe(201);
    expect(((await response.json()) as { client_id: string }).client_id).not.toBe(USER.username);
  });
});

describe('an https issuer with SESSION_TTL, and clients that hang up', () => {
  let server: RunningServer & { adminToken: string };
  let dir: string;
  let clientId: string;
  const lines: string[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'agentauth-e2e-hardening-https-'));
    const adminToken = 'test-admin-token-0123456789abcdef0123456789';
    const settings = loadSettings({ NODE_ENV: 'test', PORT: '0', ADMIN_TOKEN: adminToken, DATA_DIR: dir, ISSUER: 'https://as.example.test', SESSION_TTL: '900' });
    // Each JSON log line's message, with any logged error's stack, so a stack anywhere in a line is seen.
    const destination = { write: (line: string) => { const { msg, err } = JSON.parse(line) as { msg: string; err?: { stack?: string } }; lines.push(err?.stack ? `${msg}\n${err.stack}` : msg); } };
    server = { ...(await startServer(settings, { logger: createLogger({ level: 'info', destination }) })), adminToken };
    await createUser(server, USER.username, USER.password);
    clientId = await publicClient(server);
  });
  afterAll(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('marks every cookie Secure and ends the session after SESSION_TTL', async () => {
    const browser = new RecordingBrowser(server.url);
    const callback = await signInAndConsent(await authorizationUrl(server, clientId), REDIRECT_URI, USER, browser);
    expect(callback.searchParams.get('iss')).toBe('https://as.example.test');
    expect(browser.cookies.length).toBeGreaterThanOrEqual(3);
    expect(browser.cookies.filter((cookie) => !/;\s*secure/i.test(cookie))).toEqual([]);
    const session = browser.cookies.find((cookie) => cookie.startsWith('_session='));
    const expires = Date.parse(/expires=([^;]+)/i.exec(session!)![1]);
    expect(Math.abs(expires - (Date.now() + 900 * 1000))).toBeLessThan(60_000);
  });

  /** Sends the head and half the declared body, then resets the connection. */
  function hangUp(path: string, contentType: string, authorization?: string): Promise<void> {
    const { port } = new URL(server.url);
    return new Promise((resolve) => {
      const socket = connect(Number(port), '127.0.0.1', () => {
        socket.write(`POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${contentType}\r\nContent-Length: 1000\r\n${authorization ? `Authorization: ${authorization}\r\n` : ''}\r\nfield=`);
        setTimeout(() => socket.resetAndDestroy(), 100);
      });
      socket.on('close', () => resolve());
      socket.on('error', () => undefined);
    });
  }

  it('is logged as one line per request, naming the request, never as a stack', async () => {
    await hangUp('/token', 'application/x-www-form-urlencoded');
    await hangUp('/admin/users', 'application/json', 'Bearer test-admin-token-0123456789abcdef0123456789');
    await hangUp('/reg', 'application/json');
    await new Promise((resolve) => setTimeout(resolve, 300));
    const disconnects = lines.filter((line) => line.includes('client disconnected'));
    expect(lines.filter((line) => /\n\s+at /.test(line))).toEqual([]);
    expect(disconnects.map((line) => line.replace(/^request \S+ /, '').replace(/ \(.*\)$/, ''))).toEqual([
      'POST /token: client disconnected', 'POST /admin/users: client disconnected', 'POST /reg: client disconnected',
    ]);
    expect(disconnects.every((line) => !line.includes('\n'))).toBe(true);
  });
});

describe('a configuration error at start', () => {
  it.each([
    [{ ADMIN_TOKEN: 'short' }, 'ADMIN_TOKEN', 'short'],
    [{ DATABASE_URL: 'mysql://u:hunter2@db.example/agentauth' }, 'DATABASE_URL', 'hunter2'],
  ])('%j: one line naming %s, never its value', async (env, variable, secret) => {
    const { code, output } = await runServerProcess({ PORT: '0', ...env });
    expect(code).toBe(1);
    const lines = output.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect((JSON.parse(lines[0]) as { msg: string }).msg).toMatch(new RegExp(`^Invalid configuration: ${variable}: `));
    expect(output).not.toContain(secret);
  });
});
