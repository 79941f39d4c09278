// The whole MCP path with the real MCP TypeScript SDK client against the example MCP server
// (examples/mcp-server, protected by our verifier) and our authorization server: discovery from the 401
// challenge, a Client ID Metadata Document served on loopback (and, second, anonymous dynamic registration),
// authorization code + PKCE through our login and consent pages with `resource`, a tool call, an
// insufficient_scope step-up that keeps the scopes already granted, and agents through the SDK's
// client-credentials providers.
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Client, ClientCredentialsProvider, PrivateKeyJwtProvider, StreamableHTTPClientTransport, UnauthorizedError,
  type OAuthClientMetadata, type OAuthClientProvider, type StoredOAuthClientInformation, type StoredOAuthTokens,
} from '@modelcontextprotocol/client';
import { exportJWK, generateKeyPair } from 'jose';
import { startExample } from '../../examples/mcp-server/server.ts';
import { Browser, signInAndConsent } from '../support/browser.ts';
import { startServerProcess, type ServerProcess } from '../support/process.ts';
import { isolatedStorage, type IsolatedStorage } from '../support/services.ts';
import { loopbackCertificate, type LoopbackCertificate } from '../support/tls.ts';

const ADMIN_TOKEN = 'mcp-clients-admin-token-0123456789abcdef0123';
const REDIRECT_URI = 'http://127.0.0.1:8979/callback';
const ALICE = { username: 'alice', password: 'correct horse battery staple' };

/** An MCP client's OAuth state, with a "browser" that signs in and consents on our pages when redirected. */
class BrowserOAuthProvider implements OAuthClientProvider {
  readonly browser = new Browser();
  readonly authorizationUrls: URL[] = [];
  callback: URL | undefined;
  #client: StoredOAuthClientInformation | undefined;
  #tokens: StoredOAuthTokens | undefined;
  #verifier = '';

  readonly clientMetadataUrl: string | undefined;

  constructor(clientMetadataUrl?: string) {
    this.clientMetadataUrl = clientMetadataUrl;
  }

  get redirectUrl(): string {
    return REDIRECT_URI;
  }

  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: 'MCP test client', redirect_uris: [REDIRECT_URI], grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'], token_endpoint_auth_method: 'none',
    };
  }

  clientInformation() { return this.#client; }
  saveClientInformation(information: StoredOAuthClientInformation) { this.#client = information; }
  tokens() { return this.#tokens; }
  saveTokens(tokens: StoredOAuthTokens) { this.#tokens = tokens; }
  saveCodeVerifier(verifier: string) { this.#verifier = verifier; }
  codeVerifier() { return this.#verifier; }

  async redirectToAuthorization(url: URL): Promise<void> {
    this.authorizationUrls.push(url);
    this.callback = await signInAndConsent(url, REDIRECT_URI, ALICE, this.browser);
  }
}

/** Connects, completing an authorization the SDK starts on a 401 the way an app does: finishAuth, then retry. */
async function connect(url: string, provider: OAuthClientProvider & { callback?: URL }): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const transport = new StreamableHTTPClientTransport(new URL(url), { authProvider: provider });
    const client = new Client({ name: 'agentauth-test', version: '1.0.0' });
    try {
      await client.connect(transport);
      return { client, transport };
    } catch (error) {
      if (!(error instanceof UnauthorizedError) || !provider.callback) throw error;
      await finish(transport, provider);
    }
  }
  throw new Error('could not connect');
}

/** Hands the authorization response the browser came back with to the transport that started the authorization. */
async function finish(transport: StreamableHTTPClientTransport, provider: { callback?: URL }): Promise<void> {
  await transport.finishAuth(provider.callback!.searchParams);
  provider.callback = undefined;
}

describe('MCP clients against the example MCP server', () => {
  let tls: LoopbackCertificate;
  let documents: HttpsServer;
  let documentBase: string;
  let storage: IsolatedStorage;
  let as: ServerProcess;
  let issuer: string;
  let example: { url: string; server: Server };
  let mcpUrl: string;
  let aliceId: string;

  const admin = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${as.url}${path}`, {
      method, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = (await response.json()) as Record<string, any>;
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(json)}`);
    return json;
  };

  beforeAll(async () => {
    tls = await loopbackCertificate();
    documents = createHttpsServer({ key: tls.key, cert: tls.cert }, (req, res) => {
      const provider = new BrowserOAuthProvider();
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ client_id: `${documentBase}${req.url}`, ...provider.clientMetadata }));
    });
    await new Promise<void>((resolve) => documents.listen(0, '127.0.0.1', resolve));
    documentBase = `https://127.0.0.1:${(documents.address() as AddressInfo).port}`;

    storage = await isolatedStorage('mcp-clients');
    as = await startServerProcess({
      NODE_ENV: 'test', PORT: '0', ...storage.env, ADMIN_TOKEN,
      NODE_EXTRA_CA_CERTS: tls.caFile, CIMD_ALLOW_PRIVATE_ADDRESSES: 'true',
    });
    issuer = as.url.replace('127.0.0.1', 'localhost');
    aliceId = String((await admin('POST', '/admin/users', { username: ALICE.username, password: ALICE.password })).id);
    example = await startExample(0, async (url) => {
      const resource = await admin('POST', '/admin/resources', { identifier: `${url}/mcp`, name: 'Example notes', scopes: ['notes:read', 'notes:write'], token_format: 'jwt' });
      return { issuer, resource: `${url}/mcp`, resourceMetadataUrl: String(resource.resource_metadata_url) };
    });
    mcpUrl = `${example.url}/mcp`;
  });
  afterAll(async () => {
    example?.server.close();
    await as?.stop();
    documents?.close();
    await tls?.dispose();
    await storage?.dispose();
  });

  it('challenges an unauthenticated request with the resource metadata URL', async () => {
    const response = await fetch(mcpUrl, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: '{}' });
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toMatch(/resource_metadata="[^"]+\/resources\/res_[0-9a-f]+\/\.well-known\/oauth-protected-resource"/);
  });

  it('serves the resource metadata at its own path-suffixed well-known URL too (RFC 9728 §3.1)', async () => {
    const response = await fetch(`${example.url}/.well-known/oauth-protected-resource/mcp`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ resource: mcpUrl, authorization_servers: [expect.any(String)], scopes_supported: ['notes:read', 'notes:write'] });
  });

  it.each([
    ['a Client ID Metadata Document', true],
    ['anonymous dynamic registration', false],
  ])('identifies with %s, calls a tool, steps up for another and keeps the scopes it had', async (_label, useCimd) => {
    const provider = new BrowserOAuthProvider(useCimd ? `${documentBase}/clients/${crypto.randomUUID()}.json` : undefined);
    const { client, transport } = await connect(mcpUrl, provider);
    const first = provider.authorizationUrls[0];
    expect(first.searchParams.get('resource')).toBe(mcpUrl);
    expect(first.searchParams.get('code_challenge_method')).toBe('S256');
    if (useCimd) expect(first.searchParams.get('client_id')).toBe(provider.clientMetadataUrl);
    else expect(provider.clientInformation()?.client_id).toMatch(/^[\w-]+$/);

    const read = await client.callTool({ name: 'read_notes', arguments: {} });
    expect(JSON.stringify(read.content)).toContain('welcome');

    // write_note needs notes:write: the server answers 403 insufficient_scope naming every scope the call needs,
    // and the SDK starts a step-up authorization for exactly those (the app then completes it).
    const refused = await client.callTool({ name: 'write_note', arguments: { text: 'from the test' } }).then(() => undefined, (error: unknown) => error);
    expect(refused).toBeInstanceOf(UnauthorizedError);
    expect(provider.authorizationUrls).toHaveLength(2);
    expect(provider.authorizationUrls[1].searchParams.get('scope')?.split(' ')).toEqual(expect.arrayContaining(['notes:read', 'notes:write']));
    await finish(transport, provider);
    const written = await client.callTool({ name: 'write_note', arguments: { text: 'from the test' } });
    expect(JSON.stringify(written.content)).toContain('saved note');
    expect(provider.tokens()?.scope?.split(' ').sort()).toEqual(['notes:read', 'notes:write']);
    // And reading still works with the accumulated token.
    await client.callTool({ name: 'read_notes', arguments: {} });
  });

  describe('agents through the SDK client-credentials providers', () => {
    it('ClientCredentialsProvider', async () => {
      const agent = await admin('POST', '/admin/agents', { name: 'secret-agent', owner: aliceId, scopes: ['notes:*'], default_scopes: ['notes:read'] });
      const provider = new ClientCredentialsProvider({ clientId: String(agent.id), clientSecret: String(agent.client_secret), expectedIssuer: issuer, scope: 'notes:read' });
      const { client } = await connect(mcpUrl, provider);
      const read = await client.callTool({ name: 'read_notes', arguments: {} });
      expect(JSON.stringify(read.content)).toContain('welcome');
    });

    it('PrivateKeyJwtProvider', async () => {
      const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
      const agent = await admin('POST', '/admin/agents', { name: 'key-agent', owner: aliceId, scopes: ['notes:*'], jwks: { keys: [await exportJWK(publicKey)] } });
      const provider = new PrivateKeyJwtProvider({
        clientId: String(agent.id), privateKey: (await exportJWK(privateKey)) as Record<string, unknown>, algorithm: 'EdDSA', expectedIssuer: issuer, scope: 'notes:read notes:write',
      });
      const { client } = await connect(mcpUrl, provider);
      const written = await client.callTool({ name: 'write_note', arguments: { text: 'from an agent' } });
      expect(JSON.stringify(written.content)).toContain('saved note');
    });
  });
});
