// The scope rule end to end (policy/scope-resolution.ts, README "Scopes and resources"): a request naming scopes
// but no `resource` is for the one registered resource defining them all (RFC 9068 §3); a scope no resource
// defines, or scopes of several resources, are `invalid_scope`, at the token endpoint for every kind of client and
// at the authorization endpoint before anyone is asked to sign in. Over HTTP with openid-client, on both storage
// modes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { decodeJwt } from 'jose';
import { createResource, createUser } from '../support/admin.ts';
import { Browser, signInAndConsent, type Page } from '../support/browser.ts';
import { createKeyAgent, insecure, registerIntrospector, registerPublicApp } from '../support/delegation.ts';
import { STORAGE_MODES, startTestServer, type TestServer } from '../support/server.ts';

const FILES = 'https://files.example.test/';
const MAIL = 'https://mail.example.test/';
const REDIRECT_URI = 'http://127.0.0.1:8977/callback';
const ALICE = { username: 'alice', password: 'correct horse battery staple' };
const AMBIGUOUS = `the requested scopes refer to more than one resource ("${FILES}", "${MAIL}"): send the resource parameter (RFC 8707) to say which`;

describe.each(STORAGE_MODES)('scope rule on %s storage', (mode) => {
  let server: TestServer;
  let issuer: URL;
  let registered: oidc.Configuration;
  let agent: oidc.Configuration;
  let introspector: oidc.Configuration;
  let app: oidc.Configuration;

  beforeAll(async () => {
    server = await startTestServer(mode, `e2e-scope-rule-${mode}`);
    issuer = new URL(server.issuer);
    const alice = await createUser(server, ALICE.username, ALICE.password);
    await createResource(server, { identifier: FILES, scopes: ['files:read', 'files:write', 'shared:read'], token_format: 'jwt', access_token_ttl: 300 });
    await createResource(server, { identifier: MAIL, scopes: ['mail:send', 'shared:read'], token_format: 'opaque', access_token_ttl: 300 });
    // An RFC 7591 client the operator registered, and an agent: the rule is the same for both.
    const client = await oidc.dynamicClientRegistration(issuer, { grant_types: ['client_credentials'], response_types: [], redirect_uris: [] }, undefined, {
      ...insecure, initialAccessToken: server.adminToken,
    });
    registered = await oidc.discovery(issuer, client.clientMetadata().client_id, undefined, oidc.ClientSecretBasic(client.clientMetadata().client_secret as string), insecure);
    agent = (await createKeyAgent(server, alice.id, { name: 'scope-rule', scopes: ['files:**', 'mail:*', 'shared:*', 'calendar:*'], default_scopes: [] })).config;
    introspector = (await registerIntrospector(server)).config;
    app = await registerPublicApp(server, REDIRECT_URI);
  });
  afterAll(() => server?.stop());

  async function refusal(promise: Promise<unknown>): Promise<{ error: string; description: string; status: number }> {
    const error = await promise.then(() => undefined, (caught: unknown) => caught as oidc.ResponseBodyError);
    expect(error, 'the request should have been refused').toBeInstanceOf(oidc.ResponseBodyError);
    return { error: error!.error, description: error!.error_description ?? '', status: error!.status };
  }

  describe.each([
    ['an RFC 7591 client', () => registered],
    ['an agent', () => agent],
  ])('client_credentials for %s', (_label, config) => {
    it('uses the one resource defining every requested scope, and says what it granted', async () => {
      const token = await oidc.clientCredentialsGrant(config(), { scope: 'files:read files:write' });
      expect(token.scope).toBe('files:read files:write');
      expect(decodeJwt(token.access_token)).toMatchObject({ aud: FILES, scope: 'files:read files:write' });
      // An opaque resource too: its token introspects with the inferred audience.
      const mail = await oidc.clientCredentialsGrant(config(), { scope: 'mail:send' });
      expect(mail.access_token.split('.')).toHaveLength(1);
      expect(await oidc.tokenIntrospection(introspector, mail.access_token)).toMatchObject({ active: true, aud: MAIL, scope: 'mail:send' });
    });

    it('refuses a scope no registered resource defines with invalid_scope, issuing nothing', async () => {
      const before = server.issuedCount();
      expect(await refusal(oidc.clientCredentialsGrant(config(), { scope: 'files:read calendar:read' }))).toEqual({
        status: 400, error: 'invalid_scope', description: 'scope "calendar:read" is not defined by any registered resource',
      });
      expect(server.issuedCount()).toBe(before);
    });

    it('refuses scopes of two resources, or a scope both define, with invalid_scope naming them, issuing nothing', async () => {
      const before = server.issuedCount();
      expect(await refusal(oidc.clientCredentialsGrant(config(), { scope: 'files:read mail:send' }))).toEqual({ status: 400, error: 'invalid_scope', description: AMBIGUOUS });
      expect(await refusal(oidc.clientCredentialsGrant(config(), { scope: 'shared:read' }))).toEqual({ status: 400, error: 'invalid_scope', description: AMBIGUOUS });
      expect(server.issuedCount()).toBe(before);
      // Naming the resource settles it.
      const token = await oidc.clientCredentialsGrant(config(), { scope: 'shared:read', resource: MAIL });
      expect(token.scope).toBe('shared:read');
    });

    it('names the narrower scope when a named resource does not define all, and refuses when it defines none', async () => {
      const token = await oidc.clientCredentialsGrant(config(), { scope: 'files:read mail:send', resource: FILES });
      expect(token.scope).toBe('files:read');
      const before = server.issuedCount();
      const refused = await refusal(oidc.clientCredentialsGrant(config(), { scope: 'mail:send', resource: FILES }));
      expect(refused).toMatchObject({ status: 400, error: 'invalid_scope' });
      expect(server.issuedCount()).toBe(before);
    });
  });

  it('an agent\'s default scopes decide the resource as sent scopes would', async () => {
    const alice = (await oidc.tokenIntrospection(introspector, (await oidc.clientCredentialsGrant(agent, { scope: 'files:read' })).access_token)).owner as string;
    const defaults = await createKeyAgent(server, alice, { name: 'defaults', scopes: ['files:**', 'shared:*'], default_scopes: ['files:read'] });
    const token = await oidc.clientCredentialsGrant(defaults.config);
    expect(token.scope).toBe('files:read');
    expect(decodeJwt(token.access_token)).toMatchObject({ aud: FILES, scope: 'files:read' });
    const ambiguous = await createKeyAgent(server, alice, { name: 'ambiguous-defaults', scopes: ['shared:*'], default_scopes: ['shared:read'] });
    expect(await refusal(oidc.clientCredentialsGrant(ambiguous.config))).toEqual({ status: 400, error: 'invalid_scope', description: AMBIGUOUS });
    expect((await oidc.clientCredentialsGrant(ambiguous.config, { resource: MAIL })).scope).toBe('shared:read');
  });

  describe('authorization code', () => {
    async function authorizationUrl(scope: string, extra: Record<string, string> = {}) {
      const verifier = oidc.randomPKCECodeVerifier();
      const url = oidc.buildAuthorizationUrl(app, {
        redirect_uri: REDIRECT_URI, scope, state: 'st-1', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', ...extra,
      });
      return { url, verifier };
    }

    it('infers the resource before sign-in: the consent page lists its scopes and the token is for it', async () => {
      const { url, verifier } = await authorizationUrl('openid files:read');
      const browser = new Browser();
      const login = await browser.navigate(url.href, REDIRECT_URI) as Page;
      expect(login.html).toContain('name="password"');
      const consent = await browser.submit(login, /\/login$/, ALICE, REDIRECT_URI) as Page;
      expect(consent.html).toContain(`<code>${FILES}</code>`);
      expect(consent.html).toContain('<code>files:read</code>');
      const callback = await browser.submit(consent, /\/confirm$/, {}, REDIRECT_URI) as URL;
      // The code remembers its resource: the token request need not name it.
      const tokens = await oidc.authorizationCodeGrant(app, callback, { pkceCodeVerifier: verifier, expectedState: 'st-1' });
      expect(tokens.scope).toBe('files:read');
      expect(decodeJwt(tokens.access_token)).toMatchObject({ aud: FILES, scope: 'files:read' });
      const refreshed = await oidc.refreshTokenGrant(app, tokens.refresh_token ?? '', {});
      expect(decodeJwt(refreshed.access_token)).toMatchObject({ aud: FILES, scope: 'files:read' });
    });

    it('a refresh token granted for two resources is used for the one its requested scope refers to', async () => {
      const { url, verifier } = await authorizationUrl('openid offline_access files:read mail:send', { resource: FILES, prompt: 'consent' });
      url.searchParams.append('resource', MAIL);
      const callback = await signInAndConsent(url, REDIRECT_URI, ALICE);
      const tokens = await oidc.authorizationCodeGrant(app, callback, { pkceCodeVerifier: verifier, expectedState: 'st-1' }, { resource: FILES });
      expect(decodeJwt(tokens.access_token)).toMatchObject({ aud: FILES, scope: 'files:read' });
      const mail = await oidc.refreshTokenGrant(app, tokens.refresh_token!, { scope: 'mail:send' });
      expect(mail.scope).toBe('mail:send');
      expect(mail.access_token.split('.')).toHaveLength(1);
      expect(await oidc.tokenIntrospection(introspector, mail.access_token)).toMatchObject({ active: true, aud: MAIL, scope: 'mail:send' });
      // Scopes of both still need the resource named.
      const refused = await refusal(oidc.refreshTokenGrant(app, mail.refresh_token!, { scope: 'files:read mail:send' }));
      expect(refused).toMatchObject({ status: 400, error: 'invalid_target' });
    });

    it.each([
      ['a scope no resource defines', 'openid calendar:read', 'scope "calendar:read" is not defined by any registered resource'],
      ['scopes of two resources', 'openid files:read mail:send', AMBIGUOUS],
      ['a scope two resources define', 'shared:read', AMBIGUOUS],
    ])('redirects %s back with invalid_scope before anyone signs in (RFC 6749 §4.1.2.1)', async (_label, scope, description) => {
      const before = server.issuedCount();
      const { url } = await authorizationUrl(scope, { prompt: 'consent' });
      const step = await new Browser().navigate(url.href, REDIRECT_URI);
      expect(step).toBeInstanceOf(URL);
      const callback = step as URL;
      expect(Object.fromEntries(callback.searchParams)).toMatchObject({ error: 'invalid_scope', error_description: description, state: 'st-1', iss: server.issuer });
      expect(server.issuedCount()).toBe(before);
    });

    it('with a named resource, refuses before sign-in scopes it defines none of, and lets a narrower request through', async () => {
      const before = server.issuedCount();
      const { url } = await authorizationUrl('openid mail:send', { resource: FILES, prompt: 'consent' });
      const callback = await new Browser().navigate(url.href, REDIRECT_URI) as URL;
      expect(Object.fromEntries(callback.searchParams)).toMatchObject({
        error: 'invalid_scope', error_description: `resource "${FILES}" defines none of the requested scopes (mail:send)`, state: 'st-1',
      });
      expect(server.issuedCount()).toBe(before);
      const narrower = await authorizationUrl('openid files:read mail:send', { resource: FILES });
      const login = await new Browser().navigate(narrower.url.href, REDIRECT_URI) as Page;
      expect(login.html).toContain('name="password"');
    });

    it('shows the error page, not the sign-in, when the redirect URI cannot be trusted with the error', async () => {
      const { url } = await authorizationUrl('openid files:read mail:send', { redirect_uri: 'http://127.0.0.1:8977/elsewhere' });
      const page = await new Browser().navigate(url.href, REDIRECT_URI) as Page;
      expect(page.status).toBe(400);
      expect(page.html).not.toContain('name="password"');
      expect(page.html).toContain('redirect_uri');
    });

    it('a repeated consent for the same scopes names them instead of an empty list', async () => {
      const browser = new Browser();
      const first = await authorizationUrl('openid files:write');
      await signInAndConsent(first.url, REDIRECT_URI, ALICE, browser);
      const again = await authorizationUrl('openid files:write', { prompt: 'consent' });
      const consent = await browser.navigate(again.url.href, REDIRECT_URI) as Page;
      expect(consent.html).toContain('/confirm"');
      expect(consent.html).toContain('<code>files:write</code>');
      const callback = await browser.submit(consent, /\/confirm$/, {}, REDIRECT_URI) as URL;
      const tokens = await oidc.authorizationCodeGrant(app, callback, { pkceCodeVerifier: again.verifier, expectedState: 'st-1' });
      expect(decodeJwt(tokens.access_token)).toMatchObject({ aud: FILES, scope: 'files:write' });
    });
  });
});
