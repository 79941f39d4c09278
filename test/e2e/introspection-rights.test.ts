// RFC 7662 §4 least privilege: a client learns about a token only when the token was issued to it, when the
// token's audience is a resource the operator registered it as serving (`served_resources`), or when the
// operator let it introspect every token (`introspect_any_token`). Revocation (RFC 7009 §2.1) tells a party
// without rights no more than an unknown token does. Through HTTP, on both storage modes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { createResource, createUser } from '../support/admin.ts';
import { signInAndConsent } from '../support/browser.ts';
import { registerPublicApp } from '../support/delegation.ts';
import { STORAGE_MODES, startTestServer, type TestServer } from '../support/server.ts';

const API = 'https://api.example.test/';
const JWT_API = 'https://jwt-api.example.test/';
const OTHER = 'https://other.example.test/';
const REDIRECT_URI = 'http://127.0.0.1:8977/callback';

describe.each(STORAGE_MODES)('introspection rights on %s storage', (mode) => {
  let server: TestServer;
  let app: oidc.Configuration;
  /** A client_credentials-only machine client with no rights over others' tokens. */
  let machine: string;
  /** The resource server of API, of JWT_API, of OTHER; and the operator's all-seeing gateway. */
  let apiServer: string;
  let jwtApiServer: string;
  let otherServer: string;
  let gateway: string;
  let user: { sub: string; accessToken: string; refreshToken: string; jwt: string };

  beforeAll(async () => {
    server = await startTestServer(mode, `e2e-introspection-rights-${mode}`);
    const sub = (await createUser(server, 'alice', 'correct horse battery staple')).id;
    await createResource(server, { identifier: API, scopes: ['api:read'], token_format: 'opaque', access_token_ttl: 300 });
    await createResource(server, { identifier: JWT_API, scopes: ['api:read'], token_format: 'jwt', access_token_ttl: 300 });
    await createResource(server, { identifier: OTHER, scopes: ['api:read'], token_format: 'opaque', access_token_ttl: 300 });
    app = await registerPublicApp(server, REDIRECT_URI);
    machine = await registerConfidential({});
    apiServer = await registerConfidential({ served_resources: [API] });
    jwtApiServer = await registerConfidential({ served_resources: [JWT_API] });
    otherServer = await registerConfidential({ served_resources: [OTHER] });
    gateway = await registerConfidential({ introspect_any_token: true });
    const opaque = await signIn(API);
    user = { sub, accessToken: opaque.access_token, refreshToken: opaque.refresh_token!, jwt: (await signIn(JWT_API)).access_token };
  });
  afterAll(() => server?.stop());

  async function registerConfidential(metadata: Record<string, unknown>): Promise<string> {
    const response = await fetch(`${server.url}/reg`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${server.adminToken}` },
      body: JSON.stringify({ grant_types: ['client_credentials'], response_types: [], redirect_uris: [], ...metadata }),
    });
    const body = await response.json() as { client_id: string; client_secret: string };
    expect(response.status, JSON.stringify(body)).toBe(201);
    return `Basic ${Buffer.from(`${encodeURIComponent(body.client_id)}:${encodeURIComponent(body.client_secret)}`).toString('base64')}`;
  }

  async function signIn(resource: string) {
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(app, {
      redirect_uri: REDIRECT_URI, scope: 'openid api:read', resource, code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    });
    const callback = await signInAndConsent(url, REDIRECT_URI, { username: 'alice', password: 'correct horse battery staple' });
    return oidc.authorizationCodeGrant(app, callback, { pkceCodeVerifier: verifier }, { resource });
  }

  async function post(path: string, authorization: string, form: Record<string, string>) {
    const response = await fetch(`${server.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization },
      body: new URLSearchParams(form),
    });
    const text = await response.text();
    return { status: response.status, type: response.headers.get('content-type'), text, json: text ? JSON.parse(text) as Record<string, unknown> : undefined };
  }
  const introspect = async (authorization: string, token: string, hint?: string) =>
    (await post('/token/introspection', authorization, { token, ...(hint ? { token_type_hint: hint } : {}) })).json;

  it('tells a machine client nothing about a user token issued to another client (the issue\'s attack)', async () => {
    expect(await introspect(machine, user.accessToken)).toEqual({ active: false });
    expect(await introspect(machine, user.refreshToken)).toEqual({ active: false });
    expect(await introspect(machine, user.jwt)).toEqual({ active: false });
  });

  it('lets the resource server of the token\'s audience see it, and only that audience', async () => {
    expect(await introspect(apiServer, user.accessToken)).toMatchObject({ active: true, sub: user.sub, aud: API, scope: 'api:read' });
    expect(await introspect(jwtApiServer, user.jwt)).toMatchObject({ active: true, sub: user.sub, aud: JWT_API });
    expect(await introspect(otherServer, user.accessToken)).toEqual({ active: false });
    expect(await introspect(apiServer, user.jwt)).toEqual({ active: false });
    // A refresh token never leaves the client it was issued to, whatever its resource.
    expect(await introspect(apiServer, user.refreshToken)).toEqual({ active: false });
  });

  it('lets the operator\'s gateway (introspect_any_token) see every token, refresh tokens included', async () => {
    expect(await introspect(gateway, user.accessToken)).toMatchObject({ active: true, sub: user.sub });
    expect(await introspect(gateway, user.refreshToken)).toMatchObject({ active: true, sub: user.sub });
    expect(await introspect(gateway, user.jwt)).toMatchObject({ active: true, sub: user.sub });
  });

  it('lets a client introspect its own tokens', async () => {
    const own = await post('/token', machine, { grant_type: 'client_credentials' });
    expect(own.status, own.text).toBe(200);
    const token = String(own.json!.access_token);
    expect(await introspect(machine, token)).toMatchObject({ active: true });
    expect(await introspect(apiServer, token)).toEqual({ active: false });
  });

  it('answers a party without rights at revocation exactly as for an unknown token, with any hint, and revokes nothing', async () => {
    const unknown = await post('/token/revocation', machine, { token: 'no-such-token-value' });
    expect(unknown.status).toBe(200);
    for (const token of [user.accessToken, user.refreshToken]) {
      for (const hint of [undefined, 'access_token', 'refresh_token']) {
        const answer = await post('/token/revocation', machine, { token, ...(hint ? { token_type_hint: hint } : {}) });
        expect({ status: answer.status, type: answer.type, text: answer.text }).toEqual({ status: unknown.status, type: unknown.type, text: unknown.text });
        // The same at introspection: every hint gets the unknown token's answer.
        expect(await introspect(machine, token, hint)).toEqual(await introspect(machine, 'no-such-token-value', hint));
      }
    }
    expect(await introspect(gateway, user.accessToken)).toMatchObject({ active: true });
    expect(await introspect(gateway, user.refreshToken)).toMatchObject({ active: true });
  });

  it('refuses (RFC 7009 §2.1) a party that may see the token but was not issued it, and revokes nothing', async () => {
    const refused = await post('/token/revocation', apiServer, { token: user.accessToken });
    expect(refused.status).toBe(400);
    expect(refused.json).toMatchObject({ error: 'invalid_request', error_description: 'the token was not issued to this client' });
    expect(await introspect(apiServer, user.accessToken)).toMatchObject({ active: true });
  });

  it('accepts the rights only from the operator, and only well-formed', async () => {
    const anonymous = await fetch(`${server.url}/reg`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: 'none', introspect_any_token: true }),
    });
    // Only the initial access token allows it, and none was sent: 401 with a Bearer challenge (RFC 6750 §3.1).
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toBe(`Bearer realm="${server.issuer}"`);
    expect(await anonymous.json()).toMatchObject({ error: 'invalid_client_metadata', error_description: expect.stringContaining('introspect_any_token can only be set by the operator') });
    for (const [key, value] of [['served_resources', API], ['served_resources', ['not a uri']], ['introspect_any_token', 'yes']] as const) {
      const response = await fetch(`${server.url}/reg`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${server.adminToken}` },
        body: JSON.stringify({ grant_types: ['client_credentials'], response_types: [], redirect_uris: [], [key]: value }),
      });
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ error: 'invalid_client_metadata', error_description: expect.stringContaining(key) });
    }
  });

  it('revokes for the client the token was issued to, after which even the gateway sees it inactive', async () => {
    const session = await signIn(API);
    const revoked = await oidc.tokenRevocation(app, session.access_token).then(() => true);
    expect(revoked).toBe(true);
    expect(await introspect(gateway, session.access_token)).toEqual({ active: false });
  });
}, 60_000);

