// GET /metrics scraped after a run, as Prometheus would: request counters and latency histograms by route
// template, token requests by grant type and status, tokens issued by type and format and refused by error
// code, the dependency state gauges following a real Redis outage, and one registry per instance.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { createResource, createUser } from '../support/admin.ts';
import { signInAndConsent } from '../support/browser.ts';
import { startOwnRedis, type OwnService } from '../support/own-services.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import type { RunningServer } from '../../server/start.ts';

const METRICS_TOKEN = 'metrics-scrape-token-0123456789';
const API = 'https://api.metrics.test/';

/** The value of one sample of the exposition text, or undefined when it is absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = Object.entries(labels).map(([key, value]) => `${key}="${value}"`);
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const present = match[2] ? match[2].split(/,(?=[a-zA-Z_]+=")/) : [];
    if (present.length === wanted.length && wanted.every((label) => present.includes(label))) return Number(match[3]);
  }
  return undefined;
}

async function scrape(server: Pick<RunningServer, 'url'>, token = METRICS_TOKEN): Promise<string> {
  const response = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
  expect(response.status).toBe(200);
  return response.text();
}

async function registerClient(server: TestServer): Promise<string> {
  const response = await fetch(`${server.url}/reg`, {
    method: 'POST',
    headers: { authorization: `Bearer ${server.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ grant_types: ['client_credentials'], response_types: [], redirect_uris: [] }),
  });
  const { client_id: id, client_secret: secret } = await response.json() as { client_id: string; client_secret: string };
  return `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
}

const token = (server: Pick<RunningServer, 'url'>, authorization: string, form: Record<string, string>) => fetch(`${server.url}/token`, {
  method: 'POST', headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form),
});

describe('/metrics after a run', () => {
  let server: TestServer;
  let sibling: RunningServer;
  let text: string;

  beforeAll(async () => {
    server = await startTestServer('redis+postgres', 'metrics', { METRICS_TOKEN });
    sibling = await server.startSibling();
    await createResource(server, { identifier: API, scopes: ['read'], token_format: 'jwt' });
    const basic = await registerClient(server);
    const wrong = `Basic ${Buffer.from(`${Buffer.from(basic.slice(6), 'base64').toString().split(':')[0]}:wrong-secret`).toString('base64')}`;
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await token(server, basic, { grant_type: 'client_credentials' })).status);
    for (let i = 0; i < 2; i++) statuses.push((await token(server, basic, { grant_type: 'client_credentials', resource: API, scope: 'read' })).status);
    statuses.push((await token(server, wrong, { grant_type: 'client_credentials' })).status);
    // Grant types nobody registered for all count as `other`, however many distinct values are sent.
    for (const grantType of ['password', 'urn:example:made-up-1', 'urn:example:made-up-2']) statuses.push((await token(server, basic, { grant_type: grantType })).status);
    statuses.push((await token(server, basic, {})).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 401, 400, 400, 400, 400]);
    // Authorization code (access, refresh and ID token), a refresh, and a refused reuse of the old refresh token.
    await createUser(server, 'alice', 'correct horse battery staple');
    const insecure = { execute: [oidc.allowInsecureRequests] };
    const issuer = new URL(server.issuer);
    const registered = await oidc.dynamicClientRegistration(issuer, {
      redirect_uris: ['http://127.0.0.1:8976/callback'], token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'],
    }, oidc.None(), insecure);
    const app = await oidc.discovery(issuer, registered.clientMetadata().client_id, registered.clientMetadata(), oidc.None(), insecure);
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(app, {
      redirect_uri: 'http://127.0.0.1:8976/callback', scope: 'openid offline_access', prompt: 'consent',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    });
    const callback = await signInAndConsent(url, 'http://127.0.0.1:8976/callback', { username: 'alice', password: 'correct horse battery staple' });
    const tokens = await oidc.authorizationCodeGrant(app, callback, { pkceCodeVerifier: verifier });
    expect(tokens.refresh_token && tokens.id_token).toBeTruthy();
    await oidc.refreshTokenGrant(app, tokens.refresh_token!);
    expect(await oidc.refreshTokenGrant(app, tokens.refresh_token!).catch((error) => error)).toMatchObject({ error: 'invalid_grant' });
    // Raw paths with ids must not become label values.
    for (const id of ['unknown-client-1', 'unknown-client-2']) await fetch(`${server.url}/reg/${id}`, { headers: { authorization: 'Bearer nothing-valid' } });
    for (const path of ['/nothing-here-1', '/nothing-here-2']) expect((await fetch(`${server.url}${path}`)).status).toBe(404);
    text = await scrape(server);
  });
  afterAll(() => server?.stop());

  it('requires METRICS_TOKEN when it is set', async () => {
    const missing = await fetch(`${server.url}/metrics`);
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toBe('Bearer realm="metrics"');
    const wrong = await fetch(`${server.url}/metrics`, { headers: { authorization: 'Bearer not-the-metrics-token' } });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toBe('Bearer realm="metrics", error="invalid_token"');
    const right = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(right.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  });

  it('counts requests and their latency by route template, method and status', () => {
    const ok = { route: '/token', method: 'POST', status: '200', grant_type: 'client_credentials' };
    expect(sample(text, 'agentauth_http_requests_total', ok)).toBe(5);
    expect(sample(text, 'agentauth_http_request_duration_seconds_count', ok)).toBe(5);
    expect(sample(text, 'agentauth_http_request_duration_seconds_bucket', { ...ok, le: '+Inf' })).toBe(5);
    expect(sample(text, 'agentauth_http_request_duration_seconds_sum', ok)).toBeGreaterThan(0);
    expect(sample(text, 'agentauth_http_requests_total', { route: '/token', method: 'POST', status: '400', grant_type: 'other' })).toBe(3);
    expect(sample(text, 'agentauth_http_requests_total', { route: '/reg/:clientId', method: 'GET', status: '401' })).toBe(2);
    expect(sample(text, 'agentauth_http_requests_total', { route: 'unmatched', method: 'GET', status: '404' })).toBe(2);
    expect(text).not.toMatch(/unknown-client|nothing-here/);
  });

  it('counts token requests by grant type and status, tokens issued by type and format, refusals by error code', () => {
    const tokenRequests = (grantType: string, status: string) => sample(text, 'agentauth_http_requests_total', { route: '/token', method: 'POST', status, grant_type: grantType });
    expect(tokenRequests('client_credentials', '200')).toBe(5);
    expect(tokenRequests('client_credentials', '401')).toBe(1);
    expect(tokenRequests('other', '400')).toBe(3);
    expect(tokenRequests('none', '400')).toBe(1);
    expect(sample(text, 'agentauth_http_request_duration_seconds_count', { route: '/token', method: 'POST', status: '200', grant_type: 'client_credentials' })).toBe(5);
    expect(sample(text, 'agentauth_tokens_issued_total', { grant_type: 'client_credentials', token_type: 'access_token', format: 'opaque' })).toBe(3);
    expect(sample(text, 'agentauth_tokens_issued_total', { grant_type: 'client_credentials', token_type: 'access_token', format: 'jwt' })).toBe(2);
    expect(sample(text, 'agentauth_tokens_refused_total', { grant_type: 'client_credentials', error: 'invalid_client' })).toBe(1);
    expect(sample(text, 'agentauth_tokens_refused_total', { grant_type: 'other', error: 'unsupported_grant_type' })).toBe(3);
    expect(sample(text, 'agentauth_tokens_refused_total', { grant_type: 'none', error: 'invalid_request' })).toBe(1);
    const issued = (grantType: string, tokenType: string, format: string) => sample(text, 'agentauth_tokens_issued_total', { grant_type: grantType, token_type: tokenType, format });
    expect([issued('authorization_code', 'access_token', 'opaque'), issued('authorization_code', 'refresh_token', 'opaque'), issued('authorization_code', 'id_token', 'jwt')]).toEqual([1, 1, 1]);
    expect([issued('refresh_token', 'access_token', 'opaque'), issued('refresh_token', 'refresh_token', 'opaque'), issued('refresh_token', 'id_token', 'jwt')]).toEqual([1, 1, 1]);
    expect(sample(text, 'agentauth_tokens_refused_total', { grant_type: 'refresh_token', error: 'invalid_grant' })).toBe(1);
    expect(issued('client_credentials', 'refresh_token', 'opaque')).toBeUndefined();
  });

  it('reports the dependencies up, no dependency errors, and the audit backlog from a registered source', async () => {
    expect(sample(text, 'agentauth_dependency_up', { dependency: 'redis' })).toBe(1);
    expect(sample(text, 'agentauth_dependency_up', { dependency: 'database' })).toBe(1);
    expect(sample(text, 'agentauth_dependency_errors_total', { dependency: 'redis' })).toBe(0);
    expect(sample(text, 'agentauth_audit_backlog')).toBeGreaterThanOrEqual(0);
    server.metrics.registerAuditBacklog(async () => 42);
    expect(sample(await scrape(server), 'agentauth_audit_backlog')).toBe(42);
    // Node.js process metrics come along.
    expect(sample(text, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
  });

  it('keeps one registry per instance: the sibling in the same process counted nothing of this', async () => {
    const siblings = await scrape(sibling);
    expect(sample(siblings, 'agentauth_http_requests_total', { route: '/token', method: 'POST', status: '200', grant_type: 'client_credentials' })).toBeUndefined();
    expect(sample(siblings, 'agentauth_http_requests_total', { route: '/metrics', method: 'GET', status: '200' })).toBeUndefined();
  });
});

describe('dependency metrics through a Redis outage', () => {
  let redis: OwnService;
  let server: TestServer;

  beforeAll(async () => {
    redis = await startOwnRedis();
    server = await startTestServer('redis+postgres', 'metrics-outage', { METRICS_TOKEN, REDIS_URL: redis.url, DEPENDENCY_TIMEOUT_MS: '300' });
  });
  afterAll(async () => {
    await server?.stop();
    await redis?.dispose();
  });

  const until = async (condition: () => Promise<boolean>, ms: number) => {
    const deadline = Date.now() + ms;
    while (!(await condition())) {
      if (Date.now() > deadline) throw new Error(`not within ${ms} ms`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  const redisUp = async () => sample(await scrape(server), 'agentauth_dependency_up', { dependency: 'redis' });

  it('shows Redis down with its errors counted and refusals as temporarily_unavailable, then up again', async () => {
    const basic = await registerClient(server);
    expect(await redisUp()).toBe(1);
    await redis.stop();
    await until(async () => (await redisUp()) === 0, 3000);
    expect((await token(server, basic, { grant_type: 'client_credentials' })).status).toBe(503);
    const down = await scrape(server);
    expect(sample(down, 'agentauth_dependency_errors_total', { dependency: 'redis' })).toBeGreaterThanOrEqual(1);
    expect(sample(down, 'agentauth_tokens_refused_total', { grant_type: 'client_credentials', error: 'temporarily_unavailable' })).toBe(1);
    expect(sample(down, 'agentauth_http_requests_total', { route: '/token', method: 'POST', status: '503', grant_type: 'client_credentials' })).toBe(1);
    expect(sample(down, 'agentauth_dependency_up', { dependency: 'database' })).toBe(1);
    await redis.start();
    await until(async () => (await redisUp()) === 1, 5000);
    expect((await token(server, basic, { grant_type: 'client_credentials' })).status).toBe(200);
  }, 20_000);
});
