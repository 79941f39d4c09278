// Every absolute URL the server writes is on ISSUER's origin, whatever Host, X-Forwarded-Host/-Proto or
// absolute-form request target a client sends (the issue's `Host: evil.example` row); discovery and the JWKS
// carry Cache-Control. Raw node:http requests, because fetch will not send a Host header of our choosing.
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { createUser } from '../support/admin.ts';
import { Browser, signInAndConsent } from '../support/browser.ts';
import { insecure } from '../support/delegation.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

const REDIRECT_URI = 'http://127.0.0.1:8978/callback';
const SPOOFED = { host: 'evil.example', 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https', forwarded: 'host=evil.example;proto=https' };
const DOCUMENTS = ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server'];

interface RawResponse { status: number; headers: Record<string, string | string[] | undefined>; body: string }

/** A request to `base`'s port with headers we choose, Host included; `target` may be absolute-form. */
function raw(base: string, target: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<RawResponse> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: hostname, port, method: init.method ?? 'GET', path: target, headers: { ...SPOOFED, ...init.headers }, setHost: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { body += chunk; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

/** Every string in a JSON document that is an absolute http(s) URL. */
function urlsIn(value: unknown): string[] {
  if (typeof value === 'string') return /^https?:\/\//.test(value) ? [value] : [];
  if (Array.isArray(value)) return value.flatMap(urlsIn);
  if (value && typeof value === 'object') return Object.values(value).flatMap(urlsIn);
  return [];
}

/** The test Browser, but every request goes with spoofed Host and forwarded headers; it keeps each Location. */
class SpoofingBrowser extends Browser {
  readonly locations: string[] = [];
  readonly pages: string[] = [];
  readonly base: string;
  constructor(base: string) {
    super();
    this.base = base;
  }

  override async request(url: string, init: { method?: string; form?: Record<string, string> } = {}): Promise<Response> {
    const target = new URL(url);
    const body = init.form ? new URLSearchParams(init.form).toString() : undefined;
    const answer = await raw(this.base, `${target.pathname}${target.search}`, {
      method: init.method ?? (init.form ? 'POST' : 'GET'),
      headers: { cookie: this.jar.header(), ...(body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
      body,
    });
    const headers = new Headers();
    for (const [name, value] of Object.entries(answer.headers)) {
      for (const one of Array.isArray(value) ? value : value === undefined ? [] : [value]) headers.append(name, one);
    }
    if (headers.get('location')) this.locations.push(headers.get('location')!);
    if (answer.body) this.pages.push(answer.body);
    const response = new Response(answer.status >= 300 && answer.status < 400 ? null : answer.body, { status: answer.status, headers });
    this.jar.store(response);
    return response;
  }
}

describe.each([false, true])('issuer-bound URLs (TRUST_PROXY=%s)', (trustProxy) => {
  let server: TestServer;
  let origin: string;
  let app: oidc.Configuration;

  beforeAll(async () => {
    server = await startTestServer('embedded', `e2e-issuer-origin-${trustProxy}`, { TRUST_PROXY: String(trustProxy) });
    origin = new URL(server.issuer).origin;
    await createUser(server, 'carol', 'correct horse battery staple');
    const registered = await oidc.dynamicClientRegistration(new URL(server.issuer), {
      redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: 'none', grant_types: ['authorization_code'], response_types: ['code'],
    }, oidc.None(), insecure);
    app = await oidc.discovery(new URL(server.issuer), registered.clientMetadata().client_id, registered.clientMetadata(), oidc.None(), insecure);
  });
  afterAll(() => server?.stop());

  it('puts every URL of both discovery documents on the issuer, and lets them be cached for 5 minutes', async () => {
    for (const document of DOCUMENTS) {
      for (const target of [document, `http://evil.example${document}`]) {
        const answer = await raw(server.url, target);
        expect(answer.status).toBe(200);
        const urls = urlsIn(JSON.parse(answer.body));
        expect(urls.length).toBeGreaterThan(8);
        expect(urls.filter((url) => new URL(url).origin !== origin)).toEqual([]);
        expect(answer.body).not.toContain('evil.example');
        expect(answer.headers['cache-control']).toBe('public, max-age=300');
      }
    }
  });

  it('serves the JWKS with a shorter Cache-Control, and protected-resource metadata on the issuer', async () => {
    const jwks = await raw(server.url, '/jwks');
    expect(jwks.status).toBe(200);
    expect(jwks.headers['cache-control']).toBe('public, max-age=60');
    const prm = await raw(server.url, '/.well-known/oauth-protected-resource');
    expect(prm.headers['cache-control']).toBe('public, max-age=300');
    expect(prm.body).not.toContain('evil.example');
  });

  it('never caches an error or another endpoint as metadata', async () => {
    expect((await raw(server.url, '/.well-known/nothing-here')).headers['cache-control'] ?? '').not.toMatch(/public/);
    expect((await raw(server.url, '/healthz')).headers['cache-control']).toBe('no-store');
  });

  it('keeps the redirects to the login page and back after signing in on the issuer', async () => {
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(app, {
      redirect_uri: REDIRECT_URI, scope: 'openid', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    });
    const browser = new SpoofingBrowser(server.url);
    const callback = await signInAndConsent(url, REDIRECT_URI, { username: 'carol', password: 'correct horse battery staple' }, browser);
    expect(callback.searchParams.get('code')).toEqual(expect.any(String));
    // At least: /auth → login page, login → resume, resume → consent, consent → resume, resume → the client.
    expect(browser.locations.length).toBeGreaterThanOrEqual(5);
    const absolute = browser.locations.filter((location) => /^[a-z]+:/i.test(location));
    expect(absolute.length).toBeGreaterThan(0);
    expect(absolute.filter((location) => !location.startsWith(`${origin}/`) && !location.startsWith(REDIRECT_URI))).toEqual([]);
    expect(browser.locations.join(' ')).not.toContain('evil.example');
    expect(browser.pages.join(' ')).not.toContain('evil.example');
    // The code is good at the real token endpoint: `iss` in the response (RFC 9207) is the issuer too.
    expect(callback.searchParams.get('iss')).toBe(server.issuer);
  });

  it('posts the logout form to the issuer', async () => {
    const page = await raw(server.url, '/session/end');
    expect(page.status).toBe(200);
    expect(page.body).toContain(`action="${server.issuer}/session/end/confirm"`);
    expect(page.body).not.toContain('evil.example');
  });
});
