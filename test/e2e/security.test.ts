// Each attack gets a clear RFC error and leaves nothing issued. Hand-built requests here on purpose:
// client libraries refuse to send most of these.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { generateKeyPair as generateDpopKeyPair, generateProof } from 'dpop';
import { base64url, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { createUser } from '../support/admin.ts';
import { Browser } from '../support/browser.ts';
import { STORAGE_MODES, startTestServer, type TestServer } from '../support/server.ts';

const insecure = { execute: [oidc.allowInsecureRequests] };
const REDIRECT_URI = 'http://127.0.0.1:8976/callback';

describe.each(STORAGE_MODES)('refusals on %s storage', (mode) => {
  let server: TestServer;
  let tokenEndpoint: string;
  let confidential: { clientId: string; secret: string };
  let keyClient: { clientId: string; privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey']; publicJwk: Record<string, unknown> };
  let publicClientId: string;

  beforeAll(async () => {
    server = await startTestServer(mode, `e2e-security-${mode}`);
    const issuer = new URL(server.issuer);
    tokenEndpoint = `${server.issuer}/token`; // DPoP `htu` and assertion audiences name the issuer's URLs
    await createUser(server, 'bob', 'a long enough password');

    const secretClient = await oidc.dynamicClientRegistration(issuer, { grant_types: ['client_credentials'], response_types: [], redirect_uris: [] }, undefined, { ...insecure, initialAccessToken: server.adminToken });
    confidential = { clientId: secretClient.clientMetadata().client_id, secret: secretClient.clientMetadata().client_secret as string };

    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const publicJwk = { ...(await exportJWK(publicKey)), kid: 'k1', use: 'sig' };
    const registered = await oidc.dynamicClientRegistration(issuer, {
      grant_types: ['client_credentials'], response_types: [], redirect_uris: [], token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [publicJwk] },
    }, undefined, { ...insecure, initialAccessToken: server.adminToken });
    keyClient = { clientId: registered.clientMetadata().client_id, privateKey, publicJwk };

    const publicClient = await oidc.dynamicClientRegistration(issuer, {
      redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: 'none', grant_types: ['authorization_code'], response_types: ['code'],
    }, oidc.None(), insecure);
    publicClientId = publicClient.clientMetadata().client_id;
  });
  afterAll(() => server?.stop());

  const basic = () => `Basic ${Buffer.from(`${encodeURIComponent(confidential.clientId)}:${encodeURIComponent(confidential.secret)}`).toString('base64')}`;

  async function tokenRequest(body: Record<string, string>, headers: Record<string, string> = {}) {
    const response = await fetch(tokenEndpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams(body),
    });
    return { status: response.status, body: await response.json() as Record<string, string> };
  }

  async function expectRefused(request: Promise<{ status: number; body: Record<string, string> }>, status: number, error: string) {
    const before = server.issuedCount();
    const { status: actual, body } = await request;
    expect({ status: actual, error: body.error }).toEqual({ status, error });
    expect(body.error_description).toEqual(expect.any(String));
    expect(body.access_token).toBeUndefined();
    expect(server.issuedCount()).toBe(before);
  }

  it('refuses a wrong client secret with invalid_client', async () => {
    const wrong = `Basic ${Buffer.from(`${encodeURIComponent(confidential.clientId)}:wrong`).toString('base64')}`;
    await expectRefused(tokenRequest({ grant_type: 'client_credentials' }, { authorization: wrong }), 401, 'invalid_client');
  });

  async function assertion(header: Record<string, unknown>, sign: (input: string) => Promise<string>) {
    const payload = { iss: keyClient.clientId, sub: keyClient.clientId, aud: server.issuer, jti: crypto.randomUUID(), iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 60 };
    const input = `${base64url.encode(JSON.stringify(header))}.${base64url.encode(JSON.stringify(payload))}`;
    return `${input}.${await sign(input)}`;
  }
  const withAssertion = (clientAssertion: string) => tokenRequest({
    grant_type: 'client_credentials',
    client_id: keyClient.clientId,
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: clientAssertion,
  });

  it('refuses an unsigned (alg: none) client assertion', async () => {
    await expectRefused(withAssertion(await assertion({ alg: 'none', typ: 'JWT' }, async () => '')), 401, 'invalid_client');
  });

  it('refuses a client assertion HMAC-signed with the client public key', async () => {
    const secret = new TextEncoder().encode(JSON.stringify(keyClient.publicJwk));
    const hs256 = await assertion({ alg: 'HS256', kid: 'k1' }, async (input) => {
      const key = await crypto.subtle.importKey('raw', secret, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
      return base64url.encode(new Uint8Array(await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(input))));
    });
    await expectRefused(withAssertion(hs256), 401, 'invalid_client');
  });

  it('accepts a properly signed assertion (control for the two above)', async () => {
    const jwt = await new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer(keyClient.clientId).setSubject(keyClient.clientId)
      .setAudience(server.issuer).setJti(crypto.randomUUID()).setIssuedAt().setExpirationTime('1m').sign(keyClient.privateKey);
    expect((await withAssertion(jwt)).status).toBe(200);
  });

  describe('DPoP', () => {
    it('refuses a replayed proof with invalid_dpop_proof', async () => {
      const keyPair = await generateDpopKeyPair('ES256');
      const proof = await generateProof(keyPair, tokenEndpoint, 'POST');
      const first = await tokenRequest({ grant_type: 'client_credentials' }, { authorization: basic(), dpop: proof });
      expect(first.status).toBe(200);
      expect(first.body.token_type).toBe('DPoP');
      await expectRefused(tokenRequest({ grant_type: 'client_credentials' }, { authorization: basic(), dpop: proof }), 400, 'invalid_dpop_proof');
    });

    it('lets exactly one of 10 concurrent requests carrying one proof succeed', async () => {
      const proof = await generateProof(await generateDpopKeyPair('ES256'), tokenEndpoint, 'POST');
      const results = await Promise.all(Array.from({ length: 10 }, () => tokenRequest({ grant_type: 'client_credentials' }, { authorization: basic(), dpop: proof })));
      expect(results.filter((r) => r.status === 200)).toHaveLength(1);
      expect(results.filter((r) => r.body.error === 'invalid_dpop_proof')).toHaveLength(9);
    });

    it('refuses a proof made for another URL', async () => {
      const proof = await generateProof(await generateDpopKeyPair('ES256'), `${server.url}/elsewhere`, 'POST');
      await expectRefused(tokenRequest({ grant_type: 'client_credentials' }, { authorization: basic(), dpop: proof }), 400, 'invalid_dpop_proof');
    });

    it('refuses a proof made for another method', async () => {
      const proof = await generateProof(await generateDpopKeyPair('ES256'), tokenEndpoint, 'GET');
      await expectRefused(tokenRequest({ grant_type: 'client_credentials' }, { authorization: basic(), dpop: proof }), 400, 'invalid_dpop_proof');
    });

    it('refuses a malformed proof', async () => {
      await expectRefused(tokenRequest({ grant_type: 'client_credentials' }, { authorization: basic(), dpop: 'not-a-jwt' }), 400, 'invalid_dpop_proof');
    });
  });

  describe('authorization requests', () => {
    async function authorize(params: Record<string, string>) {
      const url = new URL(`${server.url}/auth`);
      url.search = new URLSearchParams({ client_id: publicClientId, response_type: 'code', scope: 'openid', redirect_uri: REDIRECT_URI, ...params }).toString();
      return new Browser().request(url.href);
    }
    const challenge = async () => oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier());

    it('refuses a request without PKCE, with iss on the error response (RFC 9207)', async () => {
      const response = await authorize({});
      const location = new URL(response.headers.get('location')!);
      expect(location.href.startsWith(REDIRECT_URI)).toBe(true);
      expect(location.searchParams.get('error')).toBe('invalid_request');
      expect(location.searchParams.get('error_description')).toMatch(/PKCE/);
      expect(location.searchParams.get('iss')).toBe(server.issuer);
    });

    it('refuses plain PKCE', async () => {
      const response = await authorize({ code_challenge: await challenge(), code_challenge_method: 'plain' });
      const location = new URL(response.headers.get('location')!);
      expect(location.searchParams.get('error')).toBe('invalid_request');
    });

    it('refuses a redirect URI that was not registered, without redirecting to it', async () => {
      const response = await authorize({ code_challenge: await challenge(), code_challenge_method: 'S256', redirect_uri: 'http://127.0.0.1:8976/other' });
      expect(response.status).toBe(400);
      expect(response.headers.get('location')).toBeNull();
      expect(await response.text()).toMatch(/redirect_uri/);
    });

    it('refuses the implicit flow', async () => {
      const response = await authorize({ response_type: 'token', code_challenge: await challenge(), code_challenge_method: 'S256' });
      const location = response.headers.get('location');
      const error = location ? new URL(location.replace('#', '?')).searchParams.get('error') : (await response.text());
      expect(error).toMatch(/unsupported_response_type/);
    });

    it('refuses a login form posted without its CSRF token', async () => {
      const browser = new Browser();
      const url = new URL(`${server.url}/auth`);
      url.search = new URLSearchParams({ client_id: publicClientId, response_type: 'code', scope: 'openid', redirect_uri: REDIRECT_URI, code_challenge: await challenge(), code_challenge_method: 'S256' }).toString();
      const page = await browser.navigate(url.href, REDIRECT_URI);
      if (page instanceof URL) throw new Error('expected the login page');
      const action = /action="([^"]+\/login)"/.exec(page.html)![1];
      const response = await browser.request(new URL(action, server.url).href, { form: { username: 'bob', password: 'a long enough password' } });
      expect(response.status).toBe(403);
    });
  });

  describe('malformed and oversized input', () => {
    it('answers an oversized token request with a JSON error, not a crash', async () => {
      const { status, body } = await tokenRequest({ grant_type: 'client_credentials', scope: 'x'.repeat(100_000) }, { authorization: basic() });
      expect(status).toBe(400);
      expect(body.error).toBe('invalid_request');
    });

    it('answers an oversized introspection request with a JSON error', async () => {
      const response = await fetch(`${server.url}/token/introspection`, {
        method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic() },
        body: new URLSearchParams({ token: 'x'.repeat(100_000) }),
      });
      expect(response.status).toBe(413);
      expect((await response.json() as any).error).toBe('invalid_request');
    });

    it('answers unknown grant types and garbage with OAuth errors', async () => {
      await expectRefused(tokenRequest({ grant_type: 'password', username: 'bob', password: 'a long enough password' }, { authorization: basic() }), 400, 'unsupported_grant_type');
      const garbage = await fetch(tokenEndpoint, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{not json' });
      expect(garbage.status).toBe(400);
      expect((await garbage.json() as any).error).toBe('invalid_request');
    });

    it('answers an unknown path with a JSON 404', async () => {
      const response = await fetch(`${server.url}/nope`);
      expect(response.status).toBe(404);
      expect((await response.json() as any).error).toBe('not_found');
    });
  });
});
