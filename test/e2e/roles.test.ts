// Roles through the admin API (issue 18 part 1): inheritance three levels deep, a cycle refused with its path,
// grants to users and agents, who holds what, deletion guarded by inheritance, and the audit trail; on both
// storage modes, with the graph seen the same from a second instance.
import * as oidc from 'openid-client';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminRequest, createResource, createUser } from '../support/admin.ts';
import { registerIntrospector, registerPublicApp, userAccessToken } from '../support/delegation.ts';
import { STORAGE_MODES, startTestServer, type TestServer } from '../support/server.ts';

const REPORTS = 'https://reports.roles.example.test/';
const insecure = { execute: [oidc.allowInsecureRequests] };

describe.each(STORAGE_MODES)('roles (%s)', (mode) => {
  let server: TestServer;
  let sibling: { url: string; issuer: string; adminToken: string };
  let user: { id: string };
  let agent: { id: string };

  beforeAll(async () => {
    server = await startTestServer(mode, `e2e-roles-${mode}`);
    sibling = mode === 'redis+postgres' ? { ...(await server.startSibling()), adminToken: server.adminToken } : server;
    user = await createUser(server, 'rhea', 'correct horse battery staple');
    const created = await adminRequest(server, 'POST', '/admin/agents', { name: 'report-bot', owner: user.id, scopes: ['reports:read'] });
    agent = (await created.json()) as { id: string };
    await createResource(server, { identifier: REPORTS, scopes: ['reports:read', 'reports:write', 'users:list'], token_format: 'jwt', access_token_ttl: 300 });
  }, 180_000);
  afterAll(async () => {
    await server?.stop();
  });

  const call = async (method: string, path: string, body?: unknown, at: typeof sibling = server) => {
    const response = await adminRequest(at, method, path, body);
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined };
  };

  it('stores three levels of inheritance and shows what each role grants', async () => {
    expect((await call('POST', '/admin/roles', { name: 'viewer', scopes: ['reports:read'] })).status).toBe(201);
    expect((await call('POST', '/admin/roles', { name: 'editor', description: 'writes reports', scopes: ['reports:write'], inherits: ['viewer'] })).status).toBe(201);
    const admin = await call('POST', '/admin/roles', { name: 'admin', scopes: ['users:*'], inherits: ['editor'] });
    expect(admin).toEqual({ status: 201, body: {
      name: 'admin', description: null, scopes: ['users:*'], inherits: ['editor'], org_id: 'default',
      effective_roles: ['admin', 'editor', 'viewer'], effective_scopes: ['users:*', 'reports:write', 'reports:read'],
      created_at: expect.any(String), updated_at: expect.any(String),
    } });
    // The other instance reads the same graph.
    expect((await call('GET', '/admin/roles/admin', undefined, sibling)).body.effective_scopes).toEqual(['users:*', 'reports:write', 'reports:read']);
    expect((await call('GET', '/admin/roles?limit=2')).body).toMatchObject({ items: [{ name: 'admin' }, { name: 'editor' }], next_cursor: expect.any(String) });
  });

  it('refuses a cycle, naming its path, and changes nothing', async () => {
    const cycle = await call('PUT', '/admin/roles/viewer', { scopes: ['reports:read'], inherits: ['admin'] });
    expect(cycle).toEqual({ status: 400, body: { error: 'invalid_request', error_description: 'inherits: would make roles inherit themselves: viewer → admin → editor → viewer', field: 'inherits' } });
    expect((await call('GET', '/admin/roles/viewer')).body.inherits).toEqual([]);
    expect((await call('PUT', '/admin/roles/viewer', { scopes: ['reports:read'], inherits: ['viewer'] })).body.error_description).toBe('inherits: would make roles inherit themselves: viewer → viewer');
  });

  it('refuses unknown inherited roles, duplicates and malformed input with the field named', async () => {
    const refusals: [unknown, string][] = [
      [{ name: 'x', inherits: ['ghost'] }, 'inherits: inherits "ghost", which is not a role'],
      [{ name: 'viewer' }, 'name: is already a role'],
      [{ name: 'has space' }, 'name: must be 1–128 letters, digits, ".", "_", ":" or "-", starting with a letter or digit'],
      [{ name: 'ok', scopes: ['reports:re*d:x:'] }, 'scopes.0: must be a scope or a scope pattern (resource:action with * or **)'],
      [{ name: 'ok', unknown: true }, expect.stringContaining('unknown') as unknown as string],
      [{ name: 'nul\u0000' }, expect.stringContaining('name') as unknown as string],
      [{ name: 'ok', scopes: Array.from({ length: 501 }, (_, i) => `s:${i}`) }, expect.stringContaining('scopes') as unknown as string],
    ];
    for (const [body, description] of refusals) {
      const answer = await call('POST', '/admin/roles', body);
      expect(answer.status, JSON.stringify(body).slice(0, 80)).toBe(400);
      expect(answer.body).toMatchObject({ error: 'invalid_request', error_description: description });
    }
    expect((await call('GET', '/admin/roles/ok')).status).toBe(404);
    expect((await call('GET', '/admin/roles/x')).status).toBe(404);
  });

  it('grants roles to a user and an agent, idempotently, and lists what each holds', async () => {
    expect(await call('POST', '/admin/roles/editor/holders', { user_id: user.id })).toEqual({ status: 201, body: { role: 'editor', user_id: user.id } });
    expect((await call('POST', '/admin/roles/editor/holders', { user_id: user.id })).status).toBe(200);
    expect((await call('POST', '/admin/roles/viewer/holders', { client_id: agent.id }, sibling)).status).toBe(201);
    const held = await call('GET', `/admin/roles?user_id=${user.id}`);
    expect(held.body).toMatchObject({ items: [{ name: 'editor' }], effective_roles: ['editor', 'viewer'], effective_scopes: ['reports:write', 'reports:read'] });
    expect((await call('GET', `/admin/roles?client_id=${agent.id}`)).body.effective_scopes).toEqual(['reports:read']);
    expect((await call('GET', '/admin/roles/viewer/holders')).body.items).toEqual([{ client_id: agent.id, since: expect.any(String) }]);
  });

  it('refuses grants to nobody, to unknown roles, and malformed holders', async () => {
    expect(await call('POST', '/admin/roles/editor/holders', { user_id: 'no-such-user' })).toMatchObject({ status: 400, body: { field: 'user_id', error_description: 'user_id: no such user' } });
    expect(await call('POST', '/admin/roles/editor/holders', { client_id: 'no-such-client' })).toMatchObject({ status: 400, body: { error_description: 'client_id: no such client' } });
    expect((await call('POST', '/admin/roles/ghost/holders', { user_id: user.id })).status).toBe(404);
    expect((await call('POST', '/admin/roles/editor/holders', { user_id: user.id, client_id: agent.id })).status).toBe(400);
    expect((await call('POST', '/admin/roles/editor/holders', {})).status).toBe(400);
    expect((await call('DELETE', '/admin/roles/editor/holders/robots/x')).status).toBe(404);
    expect((await call('GET', '/admin/roles/editor%00')).status).toBe(404);
  });

  it('will not delete a role another inherits; revokes and deletes, audited', async () => {
    expect(await call('DELETE', '/admin/roles/viewer')).toEqual({ status: 409, body: { error: 'invalid_request', error_description: 'role "viewer" is inherited by "editor"; change those first' } });
    expect((await call('DELETE', `/admin/roles/editor/holders/users/${user.id}`)).status).toBe(204);
    expect((await call('DELETE', `/admin/roles/editor/holders/users/${user.id}`)).status).toBe(404);
    expect((await call('GET', `/admin/roles?user_id=${user.id}`, undefined, sibling)).body.effective_roles).toEqual([]);
    expect((await call('DELETE', '/admin/roles/admin')).status).toBe(204);
    expect((await call('GET', '/admin/roles/admin', undefined, sibling)).status).toBe(404);

    const events = async () => ((await call('GET', '/admin/audit?limit=200')).body.items as { event: string; subject: string | null; details: { role: string } }[])
      .filter((item) => item.event.startsWith('role.')).map((item) => `${item.event} ${item.details.role}${item.subject ? ` ${item.subject}` : ''}`);
    const expected = [
      'role.created viewer', 'role.created editor', 'role.created admin', `role.granted editor ${user.id}`, `role.granted viewer ${agent.id}`,
      `role.revoked editor ${user.id}`, 'role.deleted admin',
    ];
    await expect.poll(async () => (await events()).sort(), { timeout: 10_000 }).toEqual(expected.sort());
  });

  it('widens what an agent is granted, names its roles in the token, and ends the token when the role is taken', async () => {
    const secretAgent = (await (await adminRequest(server, 'POST', '/admin/agents', { name: 'writer-bot', owner: user.id, scopes: ['reports:read'] })).json()) as { id: string; client_secret: string };
    const agentConfig = await oidc.discovery(new URL(server.issuer), secretAgent.id, undefined, oidc.ClientSecretBasic(secretAgent.client_secret), insecure);
    const refused = await oidc.clientCredentialsGrant(agentConfig, { scope: 'reports:write', resource: REPORTS }).catch((error: { error?: string }) => error);
    expect(refused).toMatchObject({ error: 'invalid_scope' });

    await call('POST', '/admin/roles', { name: 'writer', scopes: ['reports:write'] });
    expect((await call('POST', '/admin/roles/writer/holders', { client_id: secretAgent.id })).status).toBe(201);
    const token = await oidc.clientCredentialsGrant(agentConfig, { scope: 'reports:write', resource: REPORTS });
    expect(token.scope).toBe('reports:write');
    expect(decodeJwt(token.access_token)).toMatchObject({ sub: secretAgent.id, roles: ['writer'], scope: 'reports:write' });
    const own = await oidc.clientCredentialsGrant(agentConfig, { scope: 'reports:read', resource: REPORTS });

    const introspect = async (value: string, at = server.url) => (await (await fetch(`${at}/token/introspection`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${secretAgent.id}:${secretAgent.client_secret}`).toString('base64')}` },
      body: new URLSearchParams({ token: value }),
    })).json()) as Record<string, unknown>;
    expect(await introspect(token.access_token, sibling.url)).toMatchObject({ active: true, roles: ['writer'], scope: 'reports:write' });

    // Taking the permission from the role ends the token at once, on every instance; the agent's own scope lives on.
    expect((await call('PUT', '/admin/roles/writer', { scopes: ['users:list'] }, sibling)).status).toBe(200);
    expect(await introspect(token.access_token)).toEqual({ active: false });
    expect(await introspect(token.access_token, sibling.url)).toEqual({ active: false });
    expect(await introspect(own.access_token)).toMatchObject({ active: true });
    expect(await oidc.clientCredentialsGrant(agentConfig, { scope: 'reports:write', resource: REPORTS }).catch((error: { error?: string }) => error)).toMatchObject({ error: 'invalid_scope' });

    // Revoking the role: a token for its remaining permission ends too.
    const listing = await oidc.clientCredentialsGrant(agentConfig, { scope: 'users:list', resource: REPORTS });
    expect(await introspect(listing.access_token)).toMatchObject({ active: true, roles: ['writer'] });
    expect((await call('DELETE', `/admin/roles/writer/holders/clients/${secretAgent.id}`)).status).toBe(204);
    expect(await introspect(listing.access_token, sibling.url)).toEqual({ active: false });
    expect(await introspect(own.access_token, sibling.url)).toMatchObject({ active: true });
    expect(decodeJwt((await oidc.clientCredentialsGrant(agentConfig, { scope: 'reports:read', resource: REPORTS })).access_token).roles).toBeUndefined();
  });
  it('a user\'s tokens name the roles the user holds, in the JWT and at introspection', async () => {
    await call('POST', '/admin/roles', { name: 'auditor', scopes: ['reports:read'] });
    const auditor = await createUser(server, 'ada', 'correct horse battery staple');
    expect((await call('POST', '/admin/roles/auditor/holders', { user_id: auditor.id })).status).toBe(201);
    const redirectUri = 'http://127.0.0.1:9/roles-callback';
    const app = await registerPublicApp(server, redirectUri);
    const token = await userAccessToken(app, redirectUri, { username: 'ada', password: 'correct horse battery staple' }, REPORTS, 'reports:read');
    expect(decodeJwt(token)).toMatchObject({ sub: auditor.id, roles: ['auditor'], scope: 'reports:read' });
    const { config } = await registerIntrospector(server);
    expect(await oidc.tokenIntrospection(config, token)).toMatchObject({ active: true, sub: auditor.id, roles: ['auditor'] });
    // A user who holds none gets no roles claim at all.
    const plain = await createUser(server, 'bea', 'correct horse battery staple');
    const other = await userAccessToken(app, redirectUri, { username: 'bea', password: 'correct horse battery staple' }, REPORTS, 'reports:read');
    expect(decodeJwt(other)).toMatchObject({ sub: plain.id });
    expect(decodeJwt(other)).not.toHaveProperty('roles');
  });
});
