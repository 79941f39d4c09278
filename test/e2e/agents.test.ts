// Agents end to end over HTTP, on both storage modes: the admin API, tokens through openid-client and the MCP
// SDK's client-credentials providers, scope patterns, the kill switch, credential rotation and the audit trail.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { ClientCredentialsProvider, PrivateKeyJwtProvider, discoverAuthorizationServerMetadata, fetchToken } from '@modelcontextprotocol/client';
import { SignJWT, decodeJwt, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import { adminRequest, createResource, createUser } from '../support/admin.ts';
import { STORAGE_MODES, startTestServer, type TestServer } from '../support/server.ts';

const insecure = { execute: [oidc.allowInsecureRequests] };
const FILES = 'https://files.example.test/';
// Opaque tokens: a request naming only its scope gets the resource that defines it (RFC 9068 §3).
const ARCHIVE = 'https://archive.example.test/';

interface AgentJson {
  id: string;
  status: string;
  owner: string;
  client_secret?: string;
  credentials: { id: string; type: string; kid?: string; expires_at: string | null }[];
}

async function ed25519(): Promise<{ privateKey: CryptoKey; publicJwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  return { privateKey, publicJwk: await exportJWK(publicKey) };
}

describe.each(STORAGE_MODES)('agents on %s storage', (mode) => {
  let server: TestServer;
  let issuer: URL;
  let ownerId: string;
  let introspector: oidc.Configuration;

  beforeAll(async () => {
    server = await startTestServer(mode, `e2e-agents-${mode}`);
    issuer = new URL(server.issuer);
    ownerId = (await createUser(server, 'owner', 'correct horse battery staple')).id;
    await createResource(server, {
      identifier: FILES,
      scopes: ['files:read', 'files:write', 'files:delete', 'files.reports:read', 'files.reports.q3:read', 'projects.alpha:read', 'projects.beta:read'],
      token_format: 'jwt',
      access_token_ttl: 300,
    });
    await createResource(server, { identifier: ARCHIVE, scopes: ['files.archive:read'], token_format: 'opaque', access_token_ttl: 300 });
    // A resource server that introspects tokens (a confidential client of its own).
    const registered = await oidc.dynamicClientRegistration(issuer, { grant_types: ['client_credentials'], response_types: [], redirect_uris: [], introspect_any_token: true }, undefined, {
      ...insecure, initialAccessToken: server.adminToken,
    });
    introspector = await oidc.discovery(issuer, registered.clientMetadata().client_id, undefined, oidc.ClientSecretBasic(registered.clientMetadata().client_secret as string), insecure);
  });
  afterAll(() => server?.stop());

  async function createAgent(body: Record<string, unknown>): Promise<AgentJson> {
    const response = await adminRequest(server, 'POST', '/admin/agents', { name: 'agent', owner: ownerId, scopes: ['files:**'], ...body });
    expect(response.status, await response.clone().text()).toBe(201);
    return response.json() as Promise<AgentJson>;
  }

  async function keyAgent(body: Record<string, unknown> = {}) {
    const key = await ed25519();
    const agent = await createAgent({ jwks: { keys: [key.publicJwk] }, ...body });
    return { agent, key, config: await agentConfig(agent.id, key.privateKey) };
  }

  function agentConfig(id: string, privateKey: CryptoKey): Promise<oidc.Configuration> {
    return oidc.discovery(issuer, id, undefined, oidc.PrivateKeyJwt(privateKey), insecure);
  }

  /** The OAuth error code of a failed token request (a 401 comes back as a WWW-Authenticate challenge). */
  async function tokenError(promise: Promise<unknown>): Promise<string | undefined> {
    type Failure = { error?: string; cause?: { parameters?: { error?: string } }[] };
    const error = await promise.then(() => undefined, (caught: unknown) => caught as Failure);
    expect(error, 'the token request should have failed').toBeDefined();
    return error!.error ?? error!.cause?.[0]?.parameters?.error;
  }

  async function introspect(token: string) {
    return oidc.tokenIntrospection(introspector, token);
  }

  it('gets a token with private_key_jwt (Ed25519) whose introspection names the agent and its owner', async () => {
    const { agent, config } = await keyAgent({ default_scopes: ['files:read'] });
    const token = await oidc.clientCredentialsGrant(config, { scope: 'files:write' });
    expect(token.scope).toBe('files:write');
    const introspection = await introspect(token.access_token);
    expect(introspection).toMatchObject({ active: true, client_id: agent.id, sub: agent.id, owner: ownerId, scope: 'files:write' });
  });

  it.each(['EdDSA', 'Ed25519'])('accepts a client assertion signed with alg %s (RFC 9864 names Ed25519 both ways)', async (alg) => {
    const { agent, key } = await keyAgent();
    const tokenEndpoint = (await agentConfig(agent.id, key.privateKey)).serverMetadata().token_endpoint!;
    const assertion = await new SignJWT({ jti: crypto.randomUUID() })
      .setProtectedHeader({ alg }).setIssuer(agent.id).setSubject(agent.id).setAudience(server.issuer).setIssuedAt().setExpirationTime('1m')
      .sign(key.privateKey);
    const response = await fetch(tokenEndpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'client_credentials', scope: 'files:read', client_id: agent.id,
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion,
      }),
    });
    expect(response.status, await response.clone().text()).toBe(200);
  });

  it('puts the agent and its owner into JWT access tokens for a registered resource', async () => {
    const { agent, config } = await keyAgent({ access_token_ttl: 120 });
    const token = await oidc.clientCredentialsGrant(config, { scope: 'files.reports:read', resource: FILES });
    const claims = decodeJwt(token.access_token);
    expect(claims).toMatchObject({ sub: agent.id, client_id: agent.id, owner: ownerId, aud: FILES, scope: 'files.reports:read' });
    // The agent's own lifetime (120 s) is shorter than the resource's (300 s).
    expect(token.expires_in).toBe(120);
    expect((await introspect(token.access_token)).active).toBe(true);
  });

  it('works with an ES256 key too', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const agent = await createAgent({ jwks: { keys: [await exportJWK(publicKey)] } });
    const token = await oidc.clientCredentialsGrant(await agentConfig(agent.id, privateKey), { scope: 'files:read' });
    expect((await introspect(token.access_token)).sub).toBe(agent.id);
  });

  describe('scope patterns at the token endpoint', () => {
    it('allows what the patterns allow, refuses the rest with invalid_scope and grants the defaults to a request without scope', async () => {
      const { config } = await keyAgent({ scopes: ['files:*', 'projects.*:read'], default_scopes: ['files:read', 'projects.alpha:read'] });
      expect((await oidc.clientCredentialsGrant(config, { scope: 'files:delete projects.beta:read' })).scope).toBe('files:delete projects.beta:read');
      expect((await oidc.clientCredentialsGrant(config)).scope).toBe('files:read projects.alpha:read');
      const issuedBefore = server.issuedCount();
      // `files:*` covers actions on `files` only, not its sub-resources.
      expect(await tokenError(oidc.clientCredentialsGrant(config, { scope: 'files.reports:read' }))).toBe('invalid_scope');
      expect(await tokenError(oidc.clientCredentialsGrant(config, { scope: 'projects.beta:write' }))).toBe('invalid_scope');
      // A wildcard is never granted as such.
      expect(await tokenError(oidc.clientCredentialsGrant(config, { scope: 'files:*' }))).toBe('invalid_scope');
      expect(server.issuedCount()).toBe(issuedBefore);
    });

    it('allows sub-resources with **', async () => {
      const { config } = await keyAgent({ scopes: ['files:**'] });
      expect((await oidc.clientCredentialsGrant(config, { scope: 'files.reports.q3:read' })).scope).toBe('files.reports.q3:read');
    });

    it('refuses a resource the agent is not allowed (invalid_target)', async () => {
      await createResource(server, { identifier: 'https://other.example.test/', scopes: ['other:read'] });
      const { config } = await keyAgent({ resources: [FILES] });
      expect((await oidc.clientCredentialsGrant(config, { scope: 'files:read', resource: FILES })).access_token).toBeTruthy();
      expect(await tokenError(oidc.clientCredentialsGrant(config, { scope: 'files:read', resource: 'https://other.example.test/' }))).toBe('invalid_target');
    });
  });

  it('kill switch: suspend refuses token requests and kills issued tokens at once; reactivation does not revive them', async () => {
    const { agent, config } = await keyAgent();
    const opaque = (await oidc.clientCredentialsGrant(config, { scope: 'files.archive:read' })).access_token;
    const jwt = (await oidc.clientCredentialsGrant(config, { scope: 'files:read' })).access_token;
    expect((await introspect(opaque)).active).toBe(true);

    expect((await adminRequest(server, 'POST', `/admin/agents/${agent.id}/suspend`)).status).toBe(200);
    expect(await tokenError(oidc.clientCredentialsGrant(config, { scope: 'files:read' }))).toBe('invalid_client');
    expect((await introspect(opaque)).active).toBe(false);
    expect((await introspect(jwt)).active).toBe(false);

    const activated = await adminRequest(server, 'POST', `/admin/agents/${agent.id}/activate`);
    expect(((await activated.json()) as AgentJson).status).toBe('active');
    const fresh = (await oidc.clientCredentialsGrant(config, { scope: 'files:read' })).access_token;
    expect((await introspect(fresh)).active).toBe(true);
    expect((await introspect(opaque)).active).toBe(false);
    expect((await introspect(jwt)).active).toBe(false);

    expect((await adminRequest(server, 'POST', `/admin/agents/${agent.id}/revoke`)).status).toBe(200);
    expect(await tokenError(oidc.clientCredentialsGrant(config, { scope: 'files:read' }))).toBe('invalid_client');
    expect((await introspect(fresh)).active).toBe(false);
    const reactivate = await adminRequest(server, 'POST', `/admin/agents/${agent.id}/activate`);
    expect(reactivate.status).toBe(400);
    expect(await reactivate.json()).toMatchObject({ error: 'invalid_request', field: 'status' });
  });

  it('rotates keys: both work during the grace period, only the new one after it', async () => {
    const { agent, config: oldConfig } = await keyAgent();
    const next = await ed25519();
    const rotated = await adminRequest(server, 'POST', `/admin/agents/${agent.id}/rotate-credentials`, { jwks: { keys: [next.publicJwk] }, grace_period_seconds: 2 });
    expect(rotated.status).toBe(200);
    const body = (await rotated.json()) as AgentJson;
    expect(body.credentials).toHaveLength(2);
    expect(body.credentials.filter((credential) => credential.expires_at !== null)).toHaveLength(1);
    const newConfig = await agentConfig(agent.id, next.privateKey);
    await oidc.clientCredentialsGrant(oldConfig, { scope: 'files:read' });
    await oidc.clientCredentialsGrant(newConfig, { scope: 'files:read' });
    await new Promise((resolve) => setTimeout(resolve, 2_200));
    expect(await tokenError(oidc.clientCredentialsGrant(oldConfig, { scope: 'files:read' }))).toBe('invalid_client');
    await oidc.clientCredentialsGrant(newConfig, { scope: 'files:read' });
  });

  it('secret agents: the secret is shown once, works with client_secret_basic, and rotates with a grace period', async () => {
    const agent = await createAgent({});
    expect(agent.client_secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const got = (await (await adminRequest(server, 'GET', `/admin/agents/${agent.id}`)).text());
    expect(got).not.toContain(agent.client_secret);
    expect(got).not.toContain('sha256$');
    const config = (secret: string) => oidc.discovery(issuer, agent.id, undefined, oidc.ClientSecretBasic(secret), insecure);
    await oidc.clientCredentialsGrant(await config(agent.client_secret!), { scope: 'files:read' });
    const rotated = (await (await adminRequest(server, 'POST', `/admin/agents/${agent.id}/rotate-credentials`, { grace_period_seconds: 60 })).json()) as AgentJson;
    expect(rotated.client_secret).toBeTruthy();
    await oidc.clientCredentialsGrant(await config(agent.client_secret!), { scope: 'files:read' });
    await oidc.clientCredentialsGrant(await config(rotated.client_secret!), { scope: 'files:read' });
    const immediate = (await (await adminRequest(server, 'POST', `/admin/agents/${agent.id}/rotate-credentials`, { grace_period_seconds: 0 })).json()) as AgentJson;
    expect(await tokenError(oidc.clientCredentialsGrant(await config(rotated.client_secret!), { scope: 'files:read' }))).toBe('invalid_client');
    expect(await tokenError(oidc.clientCredentialsGrant(await config('wrong'), { scope: 'files:read' }))).toBe('invalid_client');
    await oidc.clientCredentialsGrant(await config(immediate.client_secret!), { scope: 'files:read' });
  });

  describe('the MCP SDK client-credentials providers', () => {
    it('PrivateKeyJwtProvider obtains a token for an agent', async () => {
      const key = await ed25519();
      const agent = await createAgent({ jwks: { keys: [key.publicJwk] }, default_scopes: ['files:read'] });
      const provider = new PrivateKeyJwtProvider({
        clientId: agent.id, privateKey: await exportJWK(key.privateKey) as Record<string, unknown>, algorithm: 'EdDSA', expectedIssuer: server.issuer,
      });
      const metadata = await discoverAuthorizationServerMetadata(server.issuer);
      const tokens = await fetchToken(provider, server.issuer, { metadata, scope: 'files:write' });
      expect((await introspect(tokens.access_token)).sub).toBe(agent.id);
      expect(tokens.scope).toBe('files:write');
    });

    it('ClientCredentialsProvider obtains a token for a secret agent', async () => {
      const agent = await createAgent({ default_scopes: ['files:read'] });
      const provider = new ClientCredentialsProvider({ clientId: agent.id, clientSecret: agent.client_secret!, expectedIssuer: server.issuer });
      const metadata = await discoverAuthorizationServerMetadata(server.issuer);
      const tokens = await fetchToken(provider, server.issuer, { metadata });
      expect(await introspect(tokens.access_token)).toMatchObject({ active: true, sub: agent.id, owner: ownerId, scope: 'files:read' });
    });
  });

  it('admin API: lists by owner and status, updates, and deletes', async () => {
    const other = (await createUser(server, 'other-owner', 'correct horse battery staple')).id;
    const { agent } = await keyAgent({ name: 'listed' });
    await adminRequest(server, 'PATCH', `/admin/agents/${agent.id}`, { owner: other, description: 'moved' });
    const page = (await (await adminRequest(server, 'GET', `/admin/agents?owner=${other}`)).json()) as { items: AgentJson[]; next_cursor: string | null };
    expect(page.items.map((item) => item.id)).toEqual([agent.id]);
    await adminRequest(server, 'POST', `/admin/agents/${agent.id}/suspend`);
    const suspended = (await (await adminRequest(server, 'GET', `/admin/agents?status=suspended&owner=${other}`)).json()) as { items: AgentJson[] };
    expect(suspended.items.map((item) => item.id)).toEqual([agent.id]);
    // The owner cannot be deleted while it owns an agent.
    expect((await adminRequest(server, 'DELETE', `/admin/users/${other}`)).status).toBe(409);
    expect((await adminRequest(server, 'DELETE', `/admin/agents/${agent.id}`)).status).toBe(204);
    expect((await adminRequest(server, 'GET', `/admin/agents/${agent.id}`)).status).toBe(404);
    expect((await adminRequest(server, 'DELETE', `/admin/users/${other}`)).status).toBe(204);
  });

  it('audits every step without storing a secret', async () => {
    const { agent, config } = await keyAgent();
    const token = (await oidc.clientCredentialsGrant(config, { scope: 'files:read' })).access_token;
    await tokenError(oidc.clientCredentialsGrant(config, { scope: 'secrets:read' }));
    await adminRequest(server, 'POST', `/admin/agents/${agent.id}/suspend`);
    await introspect(token);
    await adminRequest(server, 'POST', `/admin/agents/${agent.id}/activate`);
    const fresh = (await oidc.clientCredentialsGrant(config, { scope: 'files:read' })).access_token;
    await oidc.tokenRevocation(config, fresh);
    await adminRequest(server, 'POST', `/admin/agents/${agent.id}/rotate-credentials`, { jwks: { keys: [(await ed25519()).publicJwk] } });

    const response = await adminRequest(server, 'GET', `/admin/audit?client_id=${agent.id}&limit=100`);
    expect(response.status).toBe(200);
    const { items } = (await response.json()) as { items: { event: string; outcome: string; reason: string | null; subject: string | null }[] };
    const events = items.map((item) => item.event).reverse();
    expect(events).toEqual([
      'agent.created', 'token.issued', 'token.refused', 'agent.suspended', 'token.introspected_inactive',
      'agent.activated', 'token.issued', 'token.revoked', 'agent.credentials_rotated',
    ]);
    expect(items.find((item) => item.event === 'token.introspected_inactive')?.reason).toContain('suspended');
    expect(items.find((item) => item.event === 'token.refused')?.reason).toContain('invalid_scope');

    const filtered = (await (await adminRequest(server, 'GET', `/admin/audit?client_id=${agent.id}&event=token.issued`)).json()) as { items: unknown[] };
    expect(filtered.items).toHaveLength(2);
    const future = (await (await adminRequest(server, 'GET', `/admin/audit?client_id=${agent.id}&from=${new Date(Date.now() + 60_000).toISOString()}`)).json()) as { items: unknown[] };
    expect(future.items).toHaveLength(0);
    const paged = (await (await adminRequest(server, 'GET', `/admin/audit?client_id=${agent.id}&limit=4`)).json()) as { items: unknown[]; next_cursor: string };
    const rest = (await (await adminRequest(server, 'GET', `/admin/audit?client_id=${agent.id}&limit=100&cursor=${paged.next_cursor}`)).json()) as { items: unknown[] };
    expect(paged.items.length + rest.items.length).toBe(items.length);

    // Nothing in the whole trail looks like a credential.
    const all = JSON.stringify((await (await adminRequest(server, 'GET', '/admin/audit?limit=500')).json()));
    expect(all).not.toContain(token);
    expect(all).not.toContain(fresh);
    expect(all).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/);
    expect(all).not.toMatch(/sha256\$|"d":"|client_secret"|client_assertion"/);
  });
});
