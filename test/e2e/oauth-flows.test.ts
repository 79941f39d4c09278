// End to end over HTTP with independent client libraries (openid-client, dpop, jose), on both storage modes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { generateKeyPair as generateDpopKeyPair, generateProof } from 'dpop';
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, jwtVerify, SignJWT } from 'jose';
import { createVerifier } from '../../packages/verifier/src/index.ts';
import { adminRequest, createResource, createUser } from '../support/admin.ts';
import { Browser, signInAndConsent } from '../support/browser.ts';
import { STORAGE_MODES, startTestServer, type TestServer } from '../support/server.ts';

const insecure = { execute: [oidc.allowInsecureRequests] };
const API = 'https://api.example.test/';
/** A resource server that verifies RS256 only, as RFC 9068 §4 allows. */
const RS256_API = 'https://legacy.example.test/';
const REDIRECT_URI = 'http://127.0.0.1:8976/callback';

describe.each(STORAGE_MODES)('OAuth 2.1 flows on %s storage', (mode) => {
  let server: TestServer;
  let issuer: URL;

  beforeAll(async () => {
    server = await startTestServer(mode, `e2e-flows-${mode}`);
    issuer = new URL(server.issuer);
    await createUser(server, 'alice', 'correct horse battery staple');
    await createResource(server, { identifier: API, scopes: ['read', 'write'], token_format: 'jwt', access_token_ttl: 300 });
    await createResource(server, { identifier: RS256_API, scopes: ['legacy:read'], token_format: 'jwt', access_token_ttl: 300, signing_alg: 'RS256' });
  });
  afterAll(() => server?.stop());

  async function registerConfidential(metadata: Partial<oidc.ClientMetadata>, auth: (secret?: string) => oidc.ClientAuth = oidc.ClientSecretBasic) {
    const registered = await oidc.dynamicClientRegistration(issuer, {
      grant_types: ['client_credentials'], response_types: [], redirect_uris: [], ...metadata,
    }, undefined, { ...insecure, initialAccessToken: server.adminToken });
    const secret = registered.clientMetadata().client_secret as string | undefined;
    return oidc.discovery(issuer, registered.clientMetadata().client_id, registered.clientMetadata(), auth(secret), insecure);
  }

  describe('discovery', () => {
    it('serves OIDC discovery and RFC 8414 metadata with the same OAuth 2.1 content', async () => {
      const [openid, oauth] = await Promise.all([
        fetch(`${server.url}/.well-known/openid-configuration`).then((r) => r.json() as any),
        fetch(`${server.url}/.well-known/oauth-authorization-server`).then((r) => r.json() as any),
      ]);
      expect(oauth).toEqual(openid);
      expect(openid.issuer).toBe(server.issuer);
      expect(openid.response_types_supported).toEqual(['code']);
      expect(openid.code_challenge_methods_supported).toEqual(['S256']);
      expect(openid.authorization_response_iss_parameter_supported).toBe(true);
      expect(openid.grant_types_supported).toEqual(expect.arrayContaining(['authorization_code', 'refresh_token', 'client_credentials']));
      expect(openid.grant_types_supported).not.toContain('implicit');
      expect(openid.grant_types_supported).not.toContain('password');
      expect(openid.dpop_signing_alg_values_supported).toEqual(expect.arrayContaining(['ES256', 'EdDSA', 'Ed25519']));
      expect(openid.token_endpoint_auth_methods_supported).not.toContain('client_secret_jwt');
      for (const endpoint of ['introspection_endpoint', 'revocation_endpoint', 'registration_endpoint', 'jwks_uri', 'userinfo_endpoint']) {
        expect(openid[endpoint], endpoint).toMatch(/^http:\/\//);
      }
      const jwks = await fetch(openid.jwks_uri).then((r) => r.json() as any);
      expect(jwks.keys.map((k: { kty: string }) => k.kty).sort()).toEqual(['EC', 'OKP', 'RSA']);
      expect(jwks.keys.every((k: Record<string, unknown>) => !('d' in k))).toBe(true);
    });

    it('works with openid-client discovery', async () => {
      const config = await oidc.discovery(issuer, 'nobody', undefined, oidc.None(), insecure);
      expect(config.serverMetadata().issuer).toBe(server.issuer);
    });
  });

  describe('dynamic client registration', () => {
    it('registers a public client anonymously', async () => {
      const registered = await oidc.dynamicClientRegistration(issuer, {
        redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'],
      }, oidc.None(), insecure);
      const metadata = registered.clientMetadata();
      expect(metadata.client_id).toBeTruthy();
      expect(metadata.client_secret).toBeUndefined();
      expect(metadata.registration_access_token).toBeTruthy();
    });

    it.each([
      ['a confidential client', { redirect_uris: [REDIRECT_URI] }],
      ['a client_credentials client', { token_endpoint_auth_method: 'none', grant_types: ['client_credentials'], response_types: [], redirect_uris: [] }],
      ['a plain-http non-loopback redirect', { token_endpoint_auth_method: 'none', redirect_uris: ['http://evil.example/cb'] }],
    ])('refuses %s without the initial access token, storing nothing', async (_label, metadata) => {
      const before = await server.db.selectFrom('clients').select(server.db.fn.countAll().as('n')).executeTakeFirstOrThrow();
      const response = await fetch(`${server.url}/reg`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(metadata) });
      expect(response.status).toBe(400);
      const body = await response.json() as any;
      expect(body.error).toBe('invalid_client_metadata');
      expect(body.error_description).toMatch(/anonymous registration|loopback/);
      const after = await server.db.selectFrom('clients').select(server.db.fn.countAll().as('n')).executeTakeFirstOrThrow();
      expect(Number(after.n)).toBe(Number(before.n));
    });

    it('registers a confidential client with ADMIN_TOKEN as initial access token, secret shown once and stored hashed', async () => {
      const config = await registerConfidential({});
      const { client_id: clientId, client_secret: secret } = config.clientMetadata();
      expect(secret).toEqual(expect.any(String));
      const row = await server.db.selectFrom('clients').selectAll().where('client_id', '=', clientId).executeTakeFirstOrThrow();
      expect(JSON.stringify(row)).not.toContain(secret as string);
    });

    it('never shows the secret again on an RFC 7592 read', async () => {
      const registered = await oidc.dynamicClientRegistration(issuer, { grant_types: ['client_credentials'], response_types: [], redirect_uris: [] }, undefined, { ...insecure, initialAccessToken: server.adminToken });
      const { registration_client_uri: uri, registration_access_token: rat } = registered.clientMetadata() as Record<string, string>;
      const read = await fetch(uri, { headers: { authorization: `Bearer ${rat}` } });
      expect(read.status).toBe(200);
      const body = await read.json() as any;
      expect(body.client_id).toBe(registered.clientMetadata().client_id);
      expect(body.client_secret).toBeUndefined();
    });

    it('refuses a wrong initial access token with invalid_token', async () => {
      const response = await fetch(`${server.url}/reg`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer not-the-admin-token' },
        body: JSON.stringify({ redirect_uris: [REDIRECT_URI] }),
      });
      expect(response.status).toBe(401);
      expect((await response.json() as any).error).toBe('invalid_token');
    });
  });

  describe('client_credentials', () => {
    it('issues tokens with client_secret_basic and client_secret_post', async () => {
      for (const auth of [oidc.ClientSecretBasic, oidc.ClientSecretPost]) {
        const config = await registerConfidential({ token_endpoint_auth_method: auth === oidc.ClientSecretBasic ? 'client_secret_basic' : 'client_secret_post' }, auth);
        const tokens = await oidc.clientCredentialsGrant(config);
        expect(tokens.token_type).toBe('bearer');
        expect(tokens.expires_in).toBeGreaterThan(0);
        const introspection = await oidc.tokenIntrospection(config, tokens.access_token);
        expect(introspection.active).toBe(true);
        expect(introspection.client_id).toBe(config.clientMetadata().client_id);
      }
    });

    it.each(['EdDSA', 'ES256'] as const)('issues tokens with private_key_jwt signed %s', async (alg) => {
      const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
      const jwk = { ...(await exportJWK(publicKey)), kid: `k-${alg}`, use: 'sig' };
      const config = await registerConfidential({ token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [jwk] } }, () => oidc.PrivateKeyJwt(privateKey));
      const tokens = await oidc.clientCredentialsGrant(config, { resource: API, scope: 'read' });
      expect(tokens.scope).toBe('read');
      const claims = decodeJwt(tokens.access_token);
      expect(claims.sub).toBe(config.clientMetadata().client_id);
    });

    it('issues an RFC 9068 JWT for a registered resource, verifiable from jwks_uri', async () => {
      const config = await registerConfidential({});
      const tokens = await oidc.clientCredentialsGrant(config, { resource: API, scope: 'read write' });
      expect(decodeProtectedHeader(tokens.access_token).typ).toBe('at+jwt');
      const jwks = createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri!));
      const { payload } = await jwtVerify(tokens.access_token, jwks, { issuer: server.issuer, audience: API, typ: 'at+jwt' });
      expect(payload).toMatchObject({ client_id: config.clientMetadata().client_id, scope: 'read write' });
      expect(payload.jti).toEqual(expect.any(String));
    });

    it.each([[API, 'read', 'ES256'], [RS256_API, 'legacy:read', 'RS256']])('signs JWTs for %s with %s: %s, verifiable by our verifier package and by jose from jwks_uri', async (resource, scope, alg) => {
      const config = await registerConfidential({});
      const { access_token: token } = await oidc.clientCredentialsGrant(config, { resource, scope });
      expect(decodeProtectedHeader(token)).toMatchObject({ alg, typ: 'at+jwt', kid: expect.any(String) });
      const jwksUri = config.serverMetadata().jwks_uri!;
      const { payload } = await jwtVerify(token, createRemoteJWKSet(new URL(jwksUri)), { issuer: server.issuer, audience: resource, typ: 'at+jwt', algorithms: [alg] });
      expect(payload.scope).toBe(scope);
      const verifier = createVerifier({ issuer: server.issuer, resource, resourceMetadataUrl: `${resource}.well-known/oauth-protected-resource`, jwksUri });
      expect(await verifier.verifyToken(token, { scopes: [scope] })).toMatchObject({ clientId: config.clientMetadata().client_id });
    });

    it('refuses a signing_alg it holds no key for, naming the ones it does', async () => {
      for (const signing_alg of ['HS256', 'none', 'PS256', 7]) {
        const response = await adminRequest(server, 'POST', '/admin/resources', { identifier: 'https://bad-alg.example.test/', signing_alg });
        expect(response.status).toBe(400);
        const body = await response.json() as any;
        expect(body).toMatchObject({ error: 'invalid_request', field: 'signing_alg' });
        if (typeof signing_alg === 'string') expect(body.error_description).toBe('signing_alg: must be one of RS256, ES256, EdDSA (the algorithms this server holds signing keys for)');
      }
      const patched = await adminRequest(server, 'PATCH', `/admin/resources/${encodeURIComponent(API)}`, { signing_alg: 'RS1' });
      expect(patched.status).toBe(400);
      expect((await (await adminRequest(server, 'GET', `/admin/resources/${encodeURIComponent(API)}`)).json() as any).signing_alg).toBeNull();
    });

    it('refuses an unregistered resource with invalid_target, issuing nothing', async () => {
      const config = await registerConfidential({});
      const before = server.issuedCount();
      const error = await oidc.clientCredentialsGrant(config, { resource: 'https://unknown.example.test/' }).catch((e) => e);
      expect(error).toBeInstanceOf(oidc.ResponseBodyError);
      expect(error.error).toBe('invalid_target');
      expect(server.issuedCount()).toBe(before);
    });

    it('binds a DPoP token: token_type DPoP, cnf.jkt in the JWT and at introspection', async () => {
      const config = await registerConfidential({});
      const dpop = oidc.getDPoPHandle(config, await oidc.randomDPoPKeyPair('ES256'));
      const tokens = await oidc.clientCredentialsGrant(config, { resource: API, scope: 'read' }, { DPoP: dpop });
      expect(tokens.token_type).toBe('dpop');
      const jkt = (decodeJwt(tokens.access_token).cnf as { jkt?: string } | undefined)?.jkt;
      expect(jkt).toEqual(expect.any(String));
      const introspection = await oidc.tokenIntrospection(config, tokens.access_token);
      expect(introspection).toMatchObject({ active: true, token_type: 'DPoP', cnf: { jkt } });

      const opaque = await oidc.clientCredentialsGrant(config, {}, { DPoP: dpop });
      expect(opaque.token_type).toBe('dpop');
      expect(await oidc.tokenIntrospection(config, opaque.access_token)).toMatchObject({ active: true, token_type: 'DPoP', cnf: { jkt } });
    });

    it('introspects and revokes JWT and opaque access tokens', async () => {
      const config = await registerConfidential({});
      for (const parameters of [{ resource: API, scope: 'read' }, {}] as Record<string, string>[]) {
        const { access_token: token } = await oidc.clientCredentialsGrant(config, parameters);
        expect((await oidc.tokenIntrospection(config, token)).active).toBe(true);
        await oidc.tokenRevocation(config, token);
        expect(await oidc.tokenIntrospection(config, token)).toEqual({ active: false });
      }
    });

    it('finds a JWT access token however the form carries it: percent-encoded dots, a chunked body', async () => {
      const config = await registerConfidential({});
      const { access_token: jwt } = await oidc.clientCredentialsGrant(config, { resource: API, scope: 'read' });
      const { client_id: id, client_secret: secret } = config.clientMetadata();
      const authorization = `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret as string)}`).toString('base64')}`;
      const chunked = new ReadableStream({
        start(controller) {
          controller.enqueue(new TextEncoder().encode(`token=${jwt.slice(0, 40)}`));
          controller.enqueue(new TextEncoder().encode(jwt.slice(40)));
          controller.close();
        },
      });
      for (const body of [`token=${jwt.replaceAll('.', '%2E')}`, chunked]) {
        const response = await fetch(`${server.url}/token/introspection`, {
          method: 'POST', headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' }, body, duplex: 'half',
        } as RequestInit);
        expect(await response.json()).toMatchObject({ active: true, aud: API, scope: 'read' });
      }
    });

    it('answers {"active": false} for a JWT we did not sign and 200 when revoking it', async () => {
      const config = await registerConfidential({});
      const { privateKey } = await generateKeyPair('ES256');
      const forged = await new SignJWT({ client_id: 'x', scope: 'read' })
        .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt' }).setIssuer(server.issuer).setAudience(API)
        .setJti('forged').setIssuedAt().setExpirationTime('5m').sign(privateKey);
      expect(await oidc.tokenIntrospection(config, forged)).toEqual({ active: false });
      await expect(oidc.tokenRevocation(config, forged)).resolves.toBeUndefined();
    });

    it('requires client authentication at introspection (a public client learns nothing)', async () => {
      const confidential = await registerConfidential({});
      const { access_token: token } = await oidc.clientCredentialsGrant(confidential);
      const registered = await oidc.dynamicClientRegistration(issuer, {
        redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: 'none', grant_types: ['authorization_code'], response_types: ['code'],
      }, oidc.None(), insecure);
      const publicClient = await oidc.discovery(issuer, registered.clientMetadata().client_id, registered.clientMetadata(), oidc.None(), insecure);
      expect(await oidc.tokenIntrospection(publicClient, token)).toEqual({ active: false });
      const anonymous = await fetch(`${server.url}/token/introspection`, {
        method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token }),
      });
      // RFC 7662 §2.3, RFC 6749 §5.2: no client authentication is invalid_client, with a challenge.
      expect(anonymous.status).toBe(401);
      expect(anonymous.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
      expect((await anonymous.json() as any).error).toBe('invalid_client');
    });
  });

  describe('introspection variants, DPoP nonces, CORS and audit', () => {
    it('answers RFC 9701 JWT introspection responses to clients that ask for them', async () => {
      const config = await registerConfidential({ introspection_signed_response_alg: 'ES256' } as Partial<oidc.ClientMetadata>);
      const { access_token: token } = await oidc.clientCredentialsGrant(config, { resource: API, scope: 'read' });
      const response = await fetch(config.serverMetadata().introspection_endpoint!, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/token-introspection+jwt',
          authorization: `Basic ${Buffer.from(`${config.clientMetadata().client_id}:${config.clientMetadata().client_secret}`).toString('base64')}`,
        },
        body: new URLSearchParams({ token }),
      });
      expect(response.headers.get('content-type')).toMatch(/^application\/token-introspection\+jwt/);
      const jwt = await response.text();
      expect(decodeProtectedHeader(jwt).typ).toBe('token-introspection+jwt');
      const { payload } = await jwtVerify(jwt, createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri!)), { issuer: server.issuer });
      expect(payload.token_introspection).toMatchObject({ active: true, aud: API, scope: 'read' });
      expect(payload.sub).toBeUndefined();
    });

    it('allows CORS from a public client redirect origin and not from others', async () => {
      const registered = await oidc.dynamicClientRegistration(issuer, {
        redirect_uris: ['https://spa.example.test/cb'], token_endpoint_auth_method: 'none', grant_types: ['authorization_code'], response_types: ['code'],
      }, oidc.None(), insecure);
      const clientId = registered.clientMetadata().client_id;
      const ask = (origin: string) => fetch(`${server.url}/token`, {
        method: 'POST', headers: { origin, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'authorization_code', code: 'nope', client_id: clientId, code_verifier: 'x'.repeat(43), redirect_uri: 'https://spa.example.test/cb' }),
      });
      expect((await ask('https://spa.example.test')).headers.get('access-control-allow-origin')).toBe('https://spa.example.test');
      expect((await ask('https://evil.example.test')).headers.get('access-control-allow-origin')).toBeNull();
    });

    it('writes audit rows for issued and refused tokens without any secret material', async () => {
      const config = await registerConfidential({});
      const { access_token: token } = await oidc.clientCredentialsGrant(config, { resource: API, scope: 'read' });
      await oidc.clientCredentialsGrant(config, { resource: 'https://unknown.example.test/' }).catch(() => undefined);
      await server.audit.flush();
      const clientId = config.clientMetadata().client_id;
      const page = await server.audit.query({ clientId, limit: 50 });
      const events = page.items.map((row) => `${row.event}:${row.outcome}`);
      expect(events).toEqual(expect.arrayContaining(['token.issued:success', 'token.refused:failure']));
      const everything = JSON.stringify(await server.db.selectFrom('audit_events').selectAll().execute());
      for (const secret of [token, config.clientMetadata().client_secret as string, server.adminToken]) {
        expect(everything).not.toContain(secret);
      }
    });
  });

  describe('authorization code with PKCE through the login and consent pages', () => {
    let config: oidc.Configuration;

    beforeAll(async () => {
      const registered = await oidc.dynamicClientRegistration(issuer, {
        redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'], client_name: 'Test App',
      }, oidc.None(), insecure);
      config = await oidc.discovery(issuer, registered.clientMetadata().client_id, registered.clientMetadata(), oidc.None(), insecure);
    });

    async function authorize(extra: Record<string, string> = {}) {
      const verifier = oidc.randomPKCECodeVerifier();
      const state = oidc.randomState();
      const url = oidc.buildAuthorizationUrl(config, {
        redirect_uri: REDIRECT_URI, scope: 'openid profile email', state,
        code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', ...extra,
      });
      const callback = await signInAndConsent(url, REDIRECT_URI, { username: 'alice', password: 'correct horse battery staple' });
      return { callback, verifier, state };
    }

    it('signs in, consents, redeems the code, reads userinfo and rotates the refresh token', async () => {
      const { callback, verifier, state } = await authorize();
      expect(callback.searchParams.get('iss')).toBe(server.issuer);
      const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state });
      const claims = tokens.claims()!;
      expect(claims.sub).toEqual(expect.any(String));
      const userinfo = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
      expect(userinfo).toMatchObject({ preferred_username: 'alice', email: 'alice@example.com' });

      expect(tokens.refresh_token).toEqual(expect.any(String));
      const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
      expect(refreshed.refresh_token).toEqual(expect.any(String));
      expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);
      const reuse = await oidc.refreshTokenGrant(config, tokens.refresh_token!).catch((e) => e);
      expect(reuse).toBeInstanceOf(oidc.ResponseBodyError);
      expect(reuse.error).toBe('invalid_grant');
    });

    it('issues a JWT access token for a registered resource requested with `resource`', async () => {
      const { callback, verifier, state } = await authorize({ resource: API, scope: 'openid read' });
      const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state }, { resource: API });
      const payload = decodeJwt(tokens.access_token);
      expect(payload.aud).toBe(API);
      expect(payload.scope).toBe('read');
    });

    it('refuses a wrong password on the login page', async () => {
      const url = oidc.buildAuthorizationUrl(config, {
        redirect_uri: REDIRECT_URI, scope: 'openid', code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256',
      });
      const browser = new Browser();
      const login = await browser.navigate(url.href, REDIRECT_URI);
      if (login instanceof URL) throw new Error('expected the login page');
      const before = server.issuedCount();
      const refused = await browser.submit(login, /\/login$/, { username: 'alice', password: 'wrong password' }, REDIRECT_URI);
      if (refused instanceof URL) throw new Error('a wrong password must not complete the flow');
      expect(refused.status).toBe(400);
      expect(refused.html).toMatch(/Invalid username or password/);
      expect(server.issuedCount()).toBe(before);
    });

    it('lets exactly one of 20 concurrent redemptions of a code succeed', async () => {
      const { callback, verifier } = await authorize();
      const code = callback.searchParams.get('code')!;
      const before = server.issuedCount();
      const responses = await Promise.all(Array.from({ length: 20 }, () => fetch(config.serverMetadata().token_endpoint!, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT_URI, client_id: config.clientMetadata().client_id }),
      })));
      const statuses = responses.map((r) => r.status);
      expect(statuses.filter((s) => s === 200)).toHaveLength(1);
      expect(statuses.filter((s) => s === 400)).toHaveLength(19);
      for (const response of responses.filter((r) => r.status === 400)) {
        expect((await response.json() as any).error).toBe('invalid_grant');
      }
      // One access token, one ID token (not stored) and one refresh token: nothing for the 19 losers.
      expect(server.issuedCount() - before).toBe(2);
    });
  });
});
