// Issue 15 part 1: a client the operator registers through RFC 7591 (the initial access token) has the record an
// agent has: an owner, scope patterns with defaults, allowed resources, a lifetime and roles, applied at the token
// endpoint exactly as for an agent and shown at /admin/clients. Nobody else may set them; an owner must be a user
// of the client's organization and cannot be deleted while the client names it. Through HTTP with openid-client,
// on both storage modes.
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt } from 'jose';
import { adminRequest, createResource, createUser } from '../support/admin.ts';
import { Browser, signInAndConsent, type Page } from '../support/browser.ts';
import { STORAGE_MODES, startTestServer, type TestServer } from '../support/server.ts';

const insecure = { execute: [oidc.allowInsecureRequests] };
const REPORTS = 'https://reports.example.test/';
const MAIL = 'https://mail.example.test/';
const REDIRECT_URI = 'http://127.0.0.1:8978/callback';
const OLIVE = { username: 'olive', password: 'correct horse battery staple' };

describe.each(STORAGE_MODES)('the client record of an RFC 7591 client (%s)', (mode) => {
  // Role and organization ids are lower-case letters, digits, '-' and '_'.
  const tag = mode.replace(/[^a-z]/g, '');
  let server: TestServer;
  let issuer: URL;
  let ownerId: string;
  let introspector: oidc.Configuration;

  beforeAll(async () => {
    server = await startTestServer(mode, `e2e-client-record-${mode}`);
    issuer = new URL(server.issuer);
    ownerId = (await createUser(server, OLIVE.username, OLIVE.password)).id;
    await createResource(server, { identifier: REPORTS, scopes: ['reports:read', 'reports:write', 'reports:admin'], token_format: 'jwt', access_token_ttl: 300 });
    await createResource(server, { identifier: MAIL, scopes: ['mail:read'], token_format: 'opaque' });
    const introspecting = await oidc.dynamicClientRegistration(issuer, { grant_types: ['client_credentials'], response_types: [], redirect_uris: [], introspect_any_token: true }, undefined, {
      ...insecure, initialAccessToken: server.adminToken,
    });
    introspector = await oidc.discovery(issuer, introspecting.clientMetadata().client_id, undefined, oidc.ClientSecretBasic(introspecting.clientMetadata().client_secret as string), insecure);
  }, 60_000);
  afterAll(() => server?.stop());

  const record = {
    grant_types: ['client_credentials'], response_types: [], redirect_uris: [], client_name: 'reporting service',
    scope_patterns: ['reports:read', 'reports:write'], default_scopes: ['reports:read'], allowed_resources: [REPORTS], access_token_ttl: 60,
  };

  async function register(metadata: Record<string, unknown>, as: 'operator' | 'anonymous' = 'operator'): Promise<Response> {
    const initialAccessToken = as === 'operator' ? server.adminToken : undefined;
    return fetch(new URL('/reg', server.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(initialAccessToken ? { authorization: `Bearer ${initialAccessToken}` } : {}) },
      body: JSON.stringify(metadata),
    });
  }

  async function registeredClient(metadata: Record<string, unknown>): Promise<{ clientId: string; config: oidc.Configuration }> {
    const response = await register(metadata);
    expect(response.status, await response.clone().text()).toBe(201);
    const body = (await response.json()) as { client_id: string; client_secret: string };
    return { clientId: body.client_id, config: await oidc.discovery(issuer, body.client_id, undefined, oidc.ClientSecretBasic(body.client_secret), insecure) };
  }

  /** The refusal of a token request, as openid-client reports it. */
  async function refusal(promise: Promise<unknown>): Promise<{ error: string; error_description: string }> {
    const error = await promise.then(() => undefined, (caught: unknown) => caught as oidc.ResponseBodyError);
    expect(error, 'the token request should have failed').toBeInstanceOf(oidc.ResponseBodyError);
    return { error: error!.error, error_description: error!.error_description! };
  }

  async function listedIds(): Promise<string[]> {
    const ids: string[] = [];
    let cursor: string | null = null;
    do {
      const page = (await (await adminRequest(server, 'GET', `/admin/clients?limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)).json()) as { items: { client_id: string }[]; next_cursor: string | null };
      ids.push(...page.items.map((item) => item.client_id));
      cursor = page.next_cursor;
    } while (cursor);
    return ids;
  }

  it('gets its default scope for its one resource, within its lifetime, with its owner named', async () => {
    const { clientId, config } = await registeredClient({ ...record, owner: ownerId });
    const token = await oidc.clientCredentialsGrant(config, {});
    expect(token.scope).toBe('reports:read');
    expect(token.expires_in).toBeLessThanOrEqual(60);
    expect(await oidc.tokenIntrospection(introspector, token.access_token)).toMatchObject({
      active: true, client_id: clientId, sub: clientId, owner: ownerId, scope: 'reports:read', aud: REPORTS,
    });
    const written = await oidc.clientCredentialsGrant(config, { scope: 'reports:write', resource: REPORTS });
    expect(written.scope).toBe('reports:write');

    const shown = (await (await adminRequest(server, 'GET', `/admin/clients/${encodeURIComponent(clientId)}`)).json()) as Record<string, unknown>;
    expect(shown).toMatchObject({
      client_id: clientId, kind: 'registered', owner: ownerId, scopes: ['reports:read', 'reports:write'], default_scopes: ['reports:read'],
      resources: [REPORTS], access_token_ttl: 60, org_id: 'default',
    });
  });

  it('is refused a scope outside its patterns (invalid_scope) and a resource outside its list (invalid_target)', async () => {
    const { config } = await registeredClient({ ...record, owner: ownerId });
    expect(await refusal(oidc.clientCredentialsGrant(config, { scope: 'reports:admin' }))).toEqual({
      error: 'invalid_scope', error_description: 'scope "reports:admin" is not allowed for this client',
    });
    expect(await refusal(oidc.clientCredentialsGrant(config, { scope: 'mail:read' }))).toMatchObject({ error: 'invalid_scope' });
    expect(await refusal(oidc.clientCredentialsGrant(config, { resource: MAIL, scope: 'reports:read' }))).toEqual({
      error: 'invalid_target', error_description: `this client may not request tokens for "${MAIL}"`,
    });
  });

  it('is granted what a role adds to its patterns, and its tokens name the role', async () => {
    const { clientId, config } = await registeredClient({ ...record, owner: ownerId });
    expect((await adminRequest(server, 'POST', '/admin/roles', { name: `reports-admin-${tag}`, scopes: ['reports:admin'] })).status).toBe(201);
    expect((await adminRequest(server, 'POST', `/admin/roles/reports-admin-${tag}/holders`, { client_id: clientId })).status).toBe(201);
    const token = await oidc.clientCredentialsGrant(config, { scope: 'reports:admin' });
    expect(token.scope).toBe('reports:admin');
    expect(await oidc.tokenIntrospection(introspector, token.access_token)).toMatchObject({ active: true, roles: [`reports-admin-${tag}`] });
  });

  it('keeps oidc-provider\'s scope rules for a registered client the operator gave no patterns', async () => {
    const { config } = await registeredClient({ grant_types: ['client_credentials'], response_types: [], redirect_uris: [] });
    const token = await oidc.clientCredentialsGrant(config, { scope: 'mail:read', resource: MAIL });
    expect(token.scope).toBe('mail:read');
  });

  it('refuses the record from anyone but the operator, and client_kind from everyone, storing nothing', async () => {
    const before = await listedIds();
    const publicClient = { token_endpoint_auth_method: 'none', grant_types: ['authorization_code'], response_types: ['code'], redirect_uris: ['http://127.0.0.1:9/cb'] };
    for (const [member, value] of [['owner', ownerId], ['scope_patterns', ['reports:*']], ['default_scopes', []], ['allowed_resources', [REPORTS]], ['access_token_ttl', 60]] as const) {
      const anonymous = await register({ ...publicClient, [member]: value }, 'anonymous');
      expect(anonymous.status, member).toBe(401);
      expect(await anonymous.json()).toEqual({
        error: 'invalid_client_metadata', error_description: `${member} can only be set by the operator, at registration with the initial access token`,
      });
    }
    const kind = await register({ ...record, client_kind: 'agent', owner: ownerId });
    expect(kind.status).toBe(400);
    expect(await kind.json()).toEqual({ error: 'invalid_client_metadata', error_description: 'client_kind is set by the server: agents are created at /admin/agents' });
    expect(await listedIds()).toEqual(before);
  });

  it('checks the record at registration: the owner is a user of its organization, defaults inside the patterns, shapes', async () => {
    const before = await listedIds();
    const refusals: [Record<string, unknown>, string][] = [
      [{ ...record, owner: 'nobody' }, 'owner: "nobody" is not a user'],
      [{ ...record, owner: ownerId, default_scopes: ['reports:admin'] }, 'default_scopes: "reports:admin" is not allowed by scope_patterns'],
      [{ ...record, scope_patterns: undefined, default_scopes: ['reports:read'] }, 'default_scopes: needs scope_patterns, which they must be inside'],
      [{ ...record, scope_patterns: ['reports:*:*:'] }, 'scope_patterns.0: must be a scope pattern (resource:action, with * and ** wildcards) or a plain scope'],
      [{ ...record, access_token_ttl: 0 }, 'access_token_ttl: Too small: expected number to be >=1'],
      [{ ...record, allowed_resources: 'https://reports.example.test/' }, 'allowed_resources: Invalid input: expected array, received string'],
    ];
    for (const [metadata, description] of refusals) {
      const response = await register(metadata);
      expect(response.status, description).toBe(400);
      expect(await response.json()).toEqual({ error: 'invalid_client_metadata', error_description: description });
    }
    expect((await adminRequest(server, 'POST', '/admin/organizations', { id: `beta-${tag}`, name: 'Beta' })).status).toBe(201);
    const elsewhere = await register({ ...record, owner: ownerId, org_id: `beta-${tag}` });
    expect(elsewhere.status).toBe(400);
    expect(await elsewhere.json()).toEqual({
      error: 'invalid_client_metadata', error_description: `owner: user "${ownerId}" belongs to organization "default", not the client's ("beta-${tag}")`,
    });
    expect(await listedIds()).toEqual(before);
  });

  describe('authorization code', () => {
    let app: oidc.Configuration;

    beforeAll(async () => {
      ({ config: app } = await registeredClient({
        grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], redirect_uris: [REDIRECT_URI],
        owner: ownerId, scope_patterns: ['reports:read'], allowed_resources: [REPORTS],
      }));
    });

    async function authorizationUrl(scope: string, extra: Record<string, string> = {}) {
      const verifier = oidc.randomPKCECodeVerifier();
      const url = oidc.buildAuthorizationUrl(app, {
        redirect_uri: REDIRECT_URI, scope, state: 'st-1', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', ...extra,
      });
      return { url, verifier };
    }

    it('refuses before sign-in a resource outside its list and a named scope outside its patterns', async () => {
      const before = server.issuedCount();
      for (const [scope, extra, error, description] of [
        ['openid mail:read', { resource: MAIL }, 'invalid_target', `this client may not request tokens for "${MAIL}"`],
        ['openid reports:write', {}, 'invalid_scope', 'scope "reports:write" is not allowed for this client'],
      ] as const) {
        const { url } = await authorizationUrl(scope, { ...extra, prompt: 'consent' });
        const callback = await new Browser().navigate(url.href, REDIRECT_URI);
        expect(callback, description).toBeInstanceOf(URL);
        expect(Object.fromEntries((callback as URL).searchParams)).toMatchObject({ error, error_description: description, state: 'st-1' });
      }
      expect(server.issuedCount()).toBe(before);
    });

    it('signs in, consents to what its patterns allow, and gets a token for its resource with the user as subject', async () => {
      const { url, verifier } = await authorizationUrl('openid reports:read', { resource: REPORTS });
      const browser = new Browser();
      const login = await browser.navigate(url.href, REDIRECT_URI) as Page;
      const consent = await browser.submit(login, /\/login$/, OLIVE, REDIRECT_URI) as Page;
      expect(consent.html).toContain('<code>reports:read</code>');
      expect(consent.html).not.toContain('reports:write');
      expect(consent.html).not.toContain('reports:admin');
      const callback = await browser.submit(consent, /\/confirm$/, {}, REDIRECT_URI) as URL;
      const tokens = await oidc.authorizationCodeGrant(app, callback, { pkceCodeVerifier: verifier, expectedState: 'st-1' });
      expect(tokens.scope).toBe('reports:read');
      expect(decodeJwt(tokens.access_token)).toMatchObject({ aud: REPORTS, scope: 'reports:read', sub: ownerId });
      // Signed in already: the code flow skips the pages, and the record still applies.
      const again = await authorizationUrl('openid reports:read', { resource: REPORTS });
      expect(await signInAndConsent(again.url, REDIRECT_URI, OLIVE, browser)).toBeInstanceOf(URL);
    });
  });

  it('lists agents and registered clients together at /admin/clients, a page at a time in id order, or one kind', async () => {
    const agent = await adminRequest(server, 'POST', '/admin/agents', { name: 'listed', owner: ownerId, scopes: ['reports:read'], token_endpoint_auth_method: 'client_secret_basic' });
    expect(agent.status).toBe(201);
    const agentId = ((await agent.json()) as { id: string }).id;
    const { clientId } = await registeredClient({ ...record, owner: ownerId });
    const all = await listedIds();
    expect(all).toContain(agentId);
    expect(all).toContain(clientId);
    expect(new Set(all).size).toBe(all.length);
    expect(all).toEqual([...all].sort());
    // Two at a time gives the same list (the pages never skip or repeat an id across the two stores).
    const paged: string[] = [];
    let cursor: string | null = null;
    do {
      const page = (await (await adminRequest(server, 'GET', `/admin/clients?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)).json()) as { items: { client_id: string }[]; next_cursor: string | null };
      expect(page.items.length).toBeLessThanOrEqual(2);
      paged.push(...page.items.map((item) => item.client_id));
      cursor = page.next_cursor;
    } while (cursor);
    expect(paged).toEqual(all);
    const agents = (await (await adminRequest(server, 'GET', '/admin/clients?kind=agent&limit=200')).json()) as { items: { client_id: string; kind: string }[] };
    expect(agents.items.map((item) => item.client_id)).toContain(agentId);
    expect(agents.items.every((item) => item.kind === 'agent')).toBe(true);
    const registered = (await (await adminRequest(server, 'GET', '/admin/clients?kind=registered&limit=200')).json()) as { items: { client_id: string; kind: string }[] };
    expect(registered.items.map((item) => item.client_id)).toContain(clientId);
    expect(registered.items.every((item) => item.kind === 'registered')).toBe(true);
    expect((await adminRequest(server, 'GET', '/admin/clients?kind=robot')).status).toBe(400);
  });

  it('will not delete a user a registered client names as its owner', async () => {
    const owner = await createUser(server, `owner-${mode}`, 'correct horse battery staple');
    const { clientId } = await registeredClient({ ...record, owner: owner.id });
    const refused = await adminRequest(server, 'DELETE', `/admin/users/${owner.id}`);
    expect(refused.status).toBe(409);
    expect(((await refused.json()) as { error_description: string }).error_description).toContain('owns agents or registered clients');
    expect((await adminRequest(server, 'DELETE', `/admin/clients/${encodeURIComponent(clientId)}`)).status).toBe(204);
    expect((await adminRequest(server, 'DELETE', `/admin/users/${owner.id}`)).status).toBe(204);
  });
});
