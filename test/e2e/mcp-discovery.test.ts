// What an MCP client and an MCP server see of the authorization server: RFC 9728 protected-resource metadata
// (path insertion, trailing slashes, byte-identical `resource`), RFC 8414 metadata, DPoP-only resources,
// accumulating step-up, and Client ID Metadata Documents served over https on loopback, refused for each
// hardening rule.
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { adminRequest, createResource, createUser } from '../support/admin.ts';
import { Browser, signInAndConsent, type Page } from '../support/browser.ts';
import { startServerProcess, type ServerProcess } from '../support/process.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { isolatedStorage, type IsolatedStorage } from '../support/services.ts';
import { loopbackCertificate, type LoopbackCertificate } from '../support/tls.ts';
import { pathInsertedMetadataUrl } from '../../server/routes/protected-resource-metadata.ts';

const insecure = { execute: [oidc.allowInsecureRequests] };
const REDIRECT_URI = 'http://127.0.0.1:8978/callback';

describe('RFC 9728 path insertion', () => {
  it.each([
    ['https://as.example/mcp', 'https://as.example/.well-known/oauth-protected-resource/mcp'],
    ['https://as.example/tools/', 'https://as.example/.well-known/oauth-protected-resource/tools/'],
    ['https://as.example/', 'https://as.example/.well-known/oauth-protected-resource'],
    ['https://as.example', 'https://as.example/.well-known/oauth-protected-resource'],
    ['https://as.example:8443/a/b?x=1', 'https://as.example:8443/.well-known/oauth-protected-resource/a/b?x=1'],
  ])('%s → %s', (identifier, url) => {
    expect(pathInsertedMetadataUrl(identifier)).toBe(url);
  });
});

describe('discovery for MCP clients and servers', () => {
  let server: TestServer;
  let issuer: string;

  beforeAll(async () => {
    server = await startTestServer('redis+postgres', 'e2e-mcp-discovery');
    issuer = server.issuer;
    await createUser(server, 'alice', 'correct horse battery staple');
  });
  afterAll(() => server?.stop());

  const get = (path: string) => fetch(`${server.url}${path}`);

  it('advertises what MCP clients look for in both metadata documents', async () => {
    for (const path of ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration']) {
      const metadata = (await (await get(path)).json()) as Record<string, unknown>;
      expect(metadata).toMatchObject({
        issuer,
        code_challenge_methods_supported: ['S256'],
        authorization_response_iss_parameter_supported: true,
        client_id_metadata_document_supported: true,
      });
      expect(metadata.registration_endpoint).toEqual(expect.any(String));
    }
  });

  it('registers an MCP client that lists resource scopes, keeping only the scopes registration governs', async () => {
    const response = await fetch(`${server.url}/reg`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: 'none', grant_types: ['authorization_code'], scope: 'openid tools:read tools:write' }),
    });
    expect(response.status).toBe(201);
    expect(((await response.json()) as { scope?: string }).scope).toBe('openid');
  });

  it('serves metadata for its own protected API', async () => {
    const response = await get('/.well-known/oauth-protected-resource');
    expect(response.headers.get('access-control-allow-origin')).toBe('*');
    expect(await response.json()).toMatchObject({ resource: issuer, authorization_servers: [issuer], bearer_methods_supported: ['header'] });
  });

  it('serves a registered resource on our origin at its path-inserted URL, resource byte-identical', async () => {
    await createResource(server, { identifier: `${issuer}/mcp`, scopes: ['tools:read', 'tools:write'] });
    await createResource(server, { identifier: `${issuer}/tools/`, scopes: ['tools:read'] });
    const mcp = (await (await get('/.well-known/oauth-protected-resource/mcp')).json()) as Record<string, unknown>;
    expect(mcp).toEqual({
      resource: `${issuer}/mcp`,
      authorization_servers: [issuer],
      scopes_supported: ['tools:read', 'tools:write'],
      bearer_methods_supported: ['header'],
      dpop_signing_alg_values_supported: ['ES256', 'EdDSA', 'Ed25519', 'PS256', 'RS256'],
      dpop_bound_access_tokens_required: false,
    });
    expect(((await (await get('/.well-known/oauth-protected-resource/tools/')).json()) as { resource: string }).resource).toBe(`${issuer}/tools/`);
    // A different identifier (no trailing slash) is a different resource.
    expect((await get('/.well-known/oauth-protected-resource/tools')).status).toBe(404);
    expect((await get('/.well-known/oauth-protected-resource/unknown')).status).toBe(404);
  });

  it('serves every registered resource at a stable URL an MCP server on another host can name', async () => {
    const response = await adminRequest(server, 'POST', '/admin/resources', {
      identifier: 'https://mcp.example.test/api', name: 'Example MCP', scopes: ['notes:read'], dpop_required: true, documentation_url: 'https://mcp.example.test/docs',
    });
    const created = (await response.json()) as { id: string; resource_metadata_url: string };
    expect(created.resource_metadata_url).toBe(`${issuer}/resources/${created.id}/.well-known/oauth-protected-resource`);
    const metadata = await (await get(`/resources/${created.id}/.well-known/oauth-protected-resource`)).json();
    expect(metadata).toMatchObject({
      resource: 'https://mcp.example.test/api', resource_name: 'Example MCP', resource_documentation: 'https://mcp.example.test/docs',
      scopes_supported: ['notes:read'], dpop_bound_access_tokens_required: true,
    });
    expect((await get('/resources/res_unknown/.well-known/oauth-protected-resource')).status).toBe(404);
    expect((await get('/resources/%00/.well-known/oauth-protected-resource')).status).toBe(404);
    expect((await get('/.well-known/oauth-protected-resource/x%00y')).status).toBe(404);
  });

  it('issues only DPoP-bound tokens for a DPoP-only resource', async () => {
    await adminRequest(server, 'POST', '/admin/resources', { identifier: 'https://dpop-only.example.test/', scopes: ['x:read'], dpop_required: true });
    const registered = await oidc.dynamicClientRegistration(new URL(issuer), { grant_types: ['client_credentials'], response_types: [], redirect_uris: [] }, undefined, {
      ...insecure, initialAccessToken: server.adminToken,
    });
    const config = await oidc.discovery(new URL(issuer), registered.clientMetadata().client_id, undefined, oidc.ClientSecretBasic(registered.clientMetadata().client_secret as string), insecure);
    const before = server.issuedCount();
    const refused = await oidc.clientCredentialsGrant(config, { resource: 'https://dpop-only.example.test/', scope: 'x:read' }).catch((error: oidc.ResponseBodyError) => error);
    expect(refused).toMatchObject({ error: 'invalid_request', error_description: expect.stringContaining('DPoP') });
    expect(server.issuedCount()).toBe(before);
    const bound = await oidc.clientCredentialsGrant(config, { resource: 'https://dpop-only.example.test/', scope: 'x:read' }, {
      DPoP: oidc.getDPoPHandle(config, await oidc.randomDPoPKeyPair('ES256')),
    });
    expect(bound.token_type).toBe('dpop');
  });

  it('step-up accumulates: consent shows only the new scopes and the new token carries old and new', async () => {
    const resource = `${issuer}/mcp`;
    const registered = await oidc.dynamicClientRegistration(new URL(issuer), {
      redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'],
    }, oidc.None(), insecure);
    const config = await oidc.discovery(new URL(issuer), registered.clientMetadata().client_id, registered.clientMetadata(), oidc.None(), insecure);
    const browser = new Browser();
    const authorize = async (scope: string) => {
      const verifier = oidc.randomPKCECodeVerifier();
      const url = oidc.buildAuthorizationUrl(config, { redirect_uri: REDIRECT_URI, scope, resource, code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' });
      return { url, verifier };
    };
    const first = await authorize('tools:read');
    const callback = await signInAndConsent(first.url, REDIRECT_URI, { username: 'alice', password: 'correct horse battery staple' }, browser);
    const firstTokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: first.verifier }, { resource });
    expect(firstTokens.scope).toBe('tools:read');

    // After an insufficient_scope challenge the client asks for just the missing scope.
    const second = await authorize('tools:write');
    const consent = (await browser.navigate(second.url.href, REDIRECT_URI)) as Page;
    expect(consent.html).toContain('tools:write');
    expect(consent.html).not.toContain('tools:read');
    const stepped = await browser.submit(consent, /\/confirm$/, {}, REDIRECT_URI);
    const tokens = await oidc.authorizationCodeGrant(config, stepped as URL, { pkceCodeVerifier: second.verifier }, { resource });
    expect(tokens.scope?.split(' ').sort()).toEqual(['tools:read', 'tools:write']);
  });
});

describe('Client ID Metadata Documents', () => {
  let tls: LoopbackCertificate;
  let documents: Server;
  let base: string;
  let storage: IsolatedStorage;
  let permissive: ServerProcess;
  let strict: ServerProcess;
  let flakyCalls = 0;

  const documentFor = (id: string, overrides: Record<string, unknown> = {}) => JSON.stringify({
    client_id: id, client_name: 'CIMD client', redirect_uris: [REDIRECT_URI], grant_types: ['authorization_code'], response_types: ['code'],
    token_endpoint_auth_method: 'none', ...overrides,
  });

  beforeAll(async () => {
    tls = await loopbackCertificate();
    documents = createHttpsServer({ key: tls.key, cert: tls.cert }, (req, res) => {
      const id = `${base}${req.url}`;
      const json = (body: string, status = 200) => res.writeHead(status, { 'content-type': 'application/json' }).end(body);
      switch (req.url) {
        case '/good': return json(documentFor(id));
        case '/redirect': return res.writeHead(302, { location: `${base}/good` }).end();
        case '/mismatch': return json(documentFor(`${base}/someone-else`));
        case '/big': return json(documentFor(id, { padding: 'x'.repeat(8 * 1024) }));
        case '/missing': return json('{"error":"not found"}', 404);
        case '/secret': return json(documentFor(id, { token_endpoint_auth_method: 'client_secret_basic' }));
        case '/machine': return json(documentFor(id, { grant_types: ['client_credentials'], response_types: [], redirect_uris: [] }));
        case '/flaky': flakyCalls += 1; return flakyCalls === 1 ? json('{}', 500) : json(documentFor(id));
        default: return json('{}', 404);
      }
    });
    await new Promise<void>((resolve) => documents.listen(0, '127.0.0.1', resolve));
    base = `https://127.0.0.1:${(documents.address() as AddressInfo).port}`;

    storage = await isolatedStorage('cimd');
    const env = { NODE_ENV: 'test', PORT: '0', ...storage.env, ADMIN_TOKEN: 'cimd-admin-token-0123456789abcdef0123456789', NODE_EXTRA_CA_CERTS: tls.caFile };
    permissive = await startServerProcess({ ...env, CIMD_ALLOW_PRIVATE_ADDRESSES: 'true' });
    strict = await startServerProcess(env);
  });
  afterAll(async () => {
    await permissive?.stop();
    await strict?.stop();
    documents?.close();
    await tls?.dispose();
    await storage?.dispose();
  });

  /**
   * Starts an authorization request with the document's URL as client_id: the login page means it was accepted;
   * a refusal is an error page, or (once the client is known) an error redirect to the client.
   */
  async function authorize(instance: ServerProcess, path: string): Promise<{ status: number; html: string }> {
    const params = new URLSearchParams({
      client_id: `${base}${path}`, redirect_uri: REDIRECT_URI, response_type: 'code', scope: 'openid',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256',
    });
    const page = await new Browser().navigate(`${instance.url}/auth?${params}`, REDIRECT_URI);
    if (page instanceof URL) return { status: 400, html: page.searchParams.get('error') ?? `no error in ${page.href}` };
    return page;
  }

  it('accepts a well-formed document served over https', async () => {
    const page = await authorize(permissive, '/good');
    expect(page.status).toBe(200);
    expect(page.html).toMatch(/name="password"/);
    expect(page.html).toContain('CIMD client');
  });

  it.each([
    ['a redirect', '/redirect'],
    ['a client_id that is not the URL', '/mismatch'],
    ['an oversized document', '/big'],
    ['a non-200 answer', '/missing'],
    ['a shared-secret auth method', '/secret'],
    ['a grant anonymous clients may not have', '/machine'],
  ])('refuses %s', async (_label, path) => {
    const page = await authorize(permissive, path);
    expect(page.status).toBe(400);
    expect(page.html).toMatch(/invalid_client/);
  });

  it('does not cache a failed fetch', async () => {
    expect(await authorize(permissive, '/flaky')).toMatchObject({ status: 400, html: expect.stringMatching(/invalid_client/) });
    expect((await authorize(permissive, '/flaky')).status).toBe(200);
  });

  it('refuses documents on private and special-use addresses unless the operator allows them', async () => {
    const page = await authorize(strict, '/good');
    expect(page.status).toBe(400);
    expect(page.html).toMatch(/invalid_client/);
  });
});

describe('an issuer with a path', () => {
  let server: TestServer;
  const ISSUER = 'https://auth.example.test/tenant';
  beforeAll(async () => {
    server = await startTestServer('embedded', 'e2e-issuer-path', { ISSUER });
  });
  afterAll(() => server?.stop());

  it.each([
    '/.well-known/oauth-authorization-server/tenant',
    '/.well-known/openid-configuration/tenant',
    '/tenant/.well-known/openid-configuration',
    '/tenant/.well-known/oauth-authorization-server',
  ])('serves its metadata at %s', async (path) => {
    const response = await fetch(`${server.url}${path}`);
    expect(response.status).toBe(200);
    expect(((await response.json()) as { issuer: string }).issuer).toBe(ISSUER);
  });
});
