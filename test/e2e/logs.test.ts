// The log as an operator reads it: a server process at LOG_LEVEL=debug runs flows that carry every kind of
// credential (client secrets in Basic and in the body, a password on the login page, codes, PKCE verifiers,
// access, refresh and ID tokens, DPoP proofs, private_key_jwt assertions, the admin token, session cookies).
// Every line it writes is JSON, every line written for a request carries that request's id, and none of those
// credentials appears anywhere in it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { exportJWK, generateKeyPair } from 'jose';
import { createUser } from '../support/admin.ts';
import { Browser, signInAndConsent } from '../support/browser.ts';
import { logLines, startServerProcess, type LogLine, type ServerProcess } from '../support/process.ts';
import { isolatedStorage, type IsolatedStorage } from '../support/services.ts';

const ADMIN_TOKEN = 'logs-admin-token-0123456789abcdef0123456789';
const PASSWORD = 'correct horse battery staple';
const REDIRECT_URI = 'http://127.0.0.1:8976/callback';
const SECRET_PARAMETERS = ['client_secret', 'code', 'code_verifier', 'refresh_token', 'token', 'client_assertion', 'password', 'subject_token'];
const SECRET_RESPONSE_MEMBERS = ['access_token', 'refresh_token', 'id_token', 'client_secret', 'registration_access_token'];

describe('JSON logs at debug level', () => {
  let storage: IsolatedStorage;
  let server: ServerProcess;
  let issuer: URL;
  /** Every credential sent to or received from the server during the test. */
  const secrets = new Set<string>([ADMIN_TOKEN, PASSWORD]);
  /** Request ids the server answered in X-Request-Id, for requests this test made itself. */
  const answeredIds: string[] = [];

  function remember(value: unknown): void {
    if (typeof value !== 'string' || value.length < 8) return;
    secrets.add(value);
    // A JWT logged in part would still leak its signature.
    const parts = value.split('.');
    if (parts.length === 3 && parts[2].length >= 16) secrets.add(parts[2]);
  }

  // Sees every request openid-client makes and every answer, and remembers the credentials in them.
  const recordingFetch = async (url: string, options: { headers: Record<string, string>; body?: unknown }): Promise<Response> => {
    const headers = new Headers(options.headers);
    for (const name of ['authorization', 'dpop']) remember(headers.get(name)?.replace(/^(Basic|Bearer|DPoP) /, ''));
    const basic = headers.get('authorization')?.match(/^Basic (.+)$/);
    // client_id:client_secret; the id is no secret (it is logged on purpose).
    if (basic) remember(decodeURIComponent(Buffer.from(basic[1], 'base64').toString().split(':')[1]));
    if (typeof options.body === 'string') {
      const form = new URLSearchParams(options.body);
      for (const name of SECRET_PARAMETERS) remember(form.get(name));
    }
    const response = await fetch(url, options as RequestInit);
    answeredIds.push(response.headers.get('x-request-id')!);
    if (response.headers.get('content-type')?.includes('json')) {
      const body = await response.clone().json().catch(() => undefined) as Record<string, unknown> | undefined;
      for (const name of SECRET_RESPONSE_MEMBERS) remember(body?.[name]);
    }
    return response;
  };
  const options = { execute: [oidc.allowInsecureRequests], [oidc.customFetch]: recordingFetch };

  async function configure(metadata: Partial<oidc.ClientMetadata>, auth: (metadata: oidc.ClientMetadata) => oidc.ClientAuth): Promise<oidc.Configuration> {
    const registered = await oidc.dynamicClientRegistration(issuer, metadata, undefined, { ...options, initialAccessToken: ADMIN_TOKEN });
    const config = await oidc.discovery(issuer, registered.clientMetadata().client_id, registered.clientMetadata(), auth(registered.clientMetadata()), options);
    config[oidc.customFetch] = recordingFetch;
    return config;
  }

  let lines: LogLine[];

  beforeAll(async () => {
    storage = await isolatedStorage('logs');
    server = await startServerProcess({ NODE_ENV: 'test', PORT: '0', ADMIN_TOKEN, LOG_LEVEL: 'debug', ...storage.env });
    issuer = new URL(server.url.replace('127.0.0.1', 'localhost'));
    await createUser({ url: server.url, issuer: issuer.href, adminToken: ADMIN_TOKEN }, 'alice', PASSWORD);

    // client_secret_basic and client_secret_post, opaque and DPoP-bound; introspection and revocation.
    const basic = await configure({ grant_types: ['client_credentials'], response_types: [], redirect_uris: [] }, (m) => oidc.ClientSecretBasic(m.client_secret as string));
    const issued = await oidc.clientCredentialsGrant(basic, {});
    await oidc.tokenIntrospection(basic, issued.access_token);
    await oidc.tokenRevocation(basic, issued.access_token);
    const dpop = oidc.getDPoPHandle(basic, await oidc.randomDPoPKeyPair('ES256'));
    await oidc.clientCredentialsGrant(basic, {}, { DPoP: dpop });
    const post = await configure({ grant_types: ['client_credentials'], response_types: [], redirect_uris: [], token_endpoint_auth_method: 'client_secret_post' }, (m) => oidc.ClientSecretPost(m.client_secret as string));
    await oidc.clientCredentialsGrant(post, {});
    // A wrong secret: refused, and the attempted secret is not logged either.
    const wrong = await configure({ grant_types: ['client_credentials'], response_types: [], redirect_uris: [] }, () => oidc.ClientSecretBasic('not-the-secret-but-secret-looking'));
    expect(await oidc.clientCredentialsGrant(wrong, {}).catch((error) => error)).toMatchObject({ status: 401 });

    // private_key_jwt: a signed client assertion.
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const jwk = { ...await exportJWK(publicKey), alg: 'ES256', use: 'sig' };
    const keyed = await configure(
      { grant_types: ['client_credentials'], response_types: [], redirect_uris: [], token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [jwk] } as never },
      () => oidc.PrivateKeyJwt(privateKey),
    );
    await oidc.clientCredentialsGrant(keyed, {});

    // Authorization code with PKCE, a password on the login page, a DPoP-bound code redemption, refresh rotation
    // and a refused reuse.
    const app = await configure({ redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'] }, () => oidc.None());
    const verifier = oidc.randomPKCECodeVerifier();
    remember(verifier);
    const browser = new Browser();
    const url = oidc.buildAuthorizationUrl(app, {
      redirect_uri: REDIRECT_URI, scope: 'openid profile offline_access', prompt: 'consent',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    });
    const callback = await signInAndConsent(url, REDIRECT_URI, { username: 'alice', password: PASSWORD }, browser);
    remember(callback.searchParams.get('code'));
    // The interaction cookies hold the interaction id, which is in the page's URL by design (and useless
    // without the signed cookie next to it); every other cookie value is a credential.
    for (const [name, value] of browser.jar.header().split('; ').map((cookie) => cookie.split('='))) {
      if (!/^_interaction(_resume)?$/.test(name)) remember(value);
    }
    const appDpop = oidc.getDPoPHandle(app, await oidc.randomDPoPKeyPair('ES256'));
    const tokens = await oidc.authorizationCodeGrant(app, callback, { pkceCodeVerifier: verifier }, undefined, { DPoP: appDpop });
    await oidc.fetchUserInfo(app, tokens.access_token, tokens.claims()!.sub, { DPoP: appDpop });
    await oidc.refreshTokenGrant(app, tokens.refresh_token!, undefined, { DPoP: appDpop });
    expect(await oidc.refreshTokenGrant(app, tokens.refresh_token!, undefined, { DPoP: appDpop }).catch((error) => error)).toMatchObject({ error: 'invalid_grant' });

    // An incoming request id is kept when it is a short safe token, replaced otherwise.
    const kept = await fetch(`${server.url}/healthz`, { headers: { 'x-request-id': 'lb-1234.abc' } });
    expect(kept.headers.get('x-request-id')).toBe('lb-1234.abc');
    const replaced = await fetch(`${server.url}/healthz`, { headers: { 'x-request-id': 'evil" \\n{"level":60}' } });
    expect(replaced.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    answeredIds.push('lb-1234.abc', replaced.headers.get('x-request-id')!);

    // The asynchronous log destination writes within a moment.
    await new Promise((resolve) => setTimeout(resolve, 300));
    lines = logLines(server.output());
  }, 45_000);
  afterAll(async () => {
    await server?.stop();
    await storage?.dispose();
  });

  it('contains no credential that was sent or issued', () => {
    expect(secrets.size).toBeGreaterThan(20);
    const output = server.output();
    const leaked = [...secrets].filter((secret) => output.includes(secret));
    expect(leaked.map((secret) => output.split("\n").find((line) => line.includes(secret)))).toEqual([]);
  });

  it('writes only JSON lines, and gives each one written for a request the id answered in X-Request-Id', () => {
    const access = lines.filter((line) => line.msg === 'request');
    expect(access.length).toBeGreaterThan(answeredIds.length);
    // Each request this test made has exactly one access line, under the id it was answered with.
    for (const id of answeredIds) expect(access.filter((line) => line.reqId === id)).toHaveLength(1);
    // After the start-up lines, everything is written while handling some request.
    const firstRequest = lines.findIndex((line) => line.reqId !== undefined);
    const startup = lines.slice(0, firstRequest);
    expect(startup.map((line) => line.msg)).toEqual([
      'connecting to PostgreSQL and applying migrations', expect.stringMatching(/^database ready after \d+ ms$/), 'created signing keys for RS256, ES256, EdDSA',
      expect.stringMatching(/^agentauth listening on http:\/\/127\.0\.0\.1:\d+ /), expect.stringMatching(/^storage: /),
    ]);
    expect(lines.slice(firstRequest).filter((line) => line.reqId === undefined)).toEqual([]);
  });

  it('has an access line per request with route, status, duration, client and grant type, and the refusal at debug', () => {
    const tokenLines = lines.filter((line) => line.msg === 'request' && line.path === '/token');
    expect(tokenLines.length).toBe(8);
    for (const line of tokenLines) {
      expect(line).toMatchObject({ level: 30, method: 'POST', route: '/token', status: expect.any(Number), duration_ms: expect.any(Number) });
    }
    expect(tokenLines.filter((line) => line.status === 200).map((line) => line.grant_type).sort()).toEqual([
      'authorization_code', 'client_credentials', 'client_credentials', 'client_credentials', 'client_credentials', 'refresh_token',
    ]);
    expect(tokenLines.filter((line) => line.status !== 200)).toEqual([
      // The client exists (only its secret is wrong), so its grant type is a known one.
      expect.objectContaining({ status: 401, error: 'invalid_client', grant_type: 'client_credentials' }),
      expect.objectContaining({ status: 400, error: 'invalid_grant', grant_type: 'refresh_token', client_id: expect.any(String) }),
    ]);
    expect(lines.filter((line) => line.msg === 'request refused').map((line) => line.error)).toEqual(expect.arrayContaining(['invalid_client', 'invalid_grant']));
    // No query string, ever: /auth carries the PKCE challenge, state and more.
    expect(lines.filter((line) => typeof line.path === 'string' && line.path.includes('?'))).toEqual([]);
  });

  it('censors credential headers in the debug fields', () => {
    const withHeaders = lines.filter((line) => line.headers);
    expect(withHeaders.length).toBeGreaterThan(0);
    const censored = (name: string) => withHeaders.filter((line) => (line.headers as Record<string, string>)[name] !== undefined);
    for (const name of ['authorization', 'dpop', 'cookie']) {
      expect(censored(name).length, name).toBeGreaterThan(0);
      expect(new Set(censored(name).map((line) => (line.headers as Record<string, string>)[name]))).toEqual(new Set(['[redacted]']));
    }
  });
});
