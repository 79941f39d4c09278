// The operator's admin API: bearer ADMIN_TOKEN, JSON in and out, 400 naming the field, 404 for unknown ids.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminRequest } from '../support/admin.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

describe('admin API', () => {
  let server: TestServer;
  beforeAll(async () => { server = await startTestServer('redis+postgres', 'e2e-admin'); });
  afterAll(() => server?.stop());

  it('requires the admin token, compared exactly', async () => {
    const none = await fetch(`${server.url}/admin/users`);
    expect(none.status).toBe(401);
    expect((await none.json() as any).error).toBe('invalid_request');
    const wrong = await fetch(`${server.url}/admin/users`, { headers: { authorization: `Bearer ${server.adminToken}x` } });
    expect(wrong.status).toBe(401);
    expect((await wrong.json() as any).error).toBe('invalid_token');
  });

  describe('/admin/users', () => {
    it('creates, lists, gets, resets the password of and deletes a user', async () => {
      const created = await adminRequest(server, 'POST', '/admin/users', { username: 'carol', password: 'first password' });
      expect(created.status).toBe(201);
      const user = await created.json() as any;
      expect(user).toMatchObject({ id: expect.any(String), username: 'carol' });
      expect(JSON.stringify(user)).not.toMatch(/scrypt|password/);

      const list = await (await adminRequest(server, 'GET', '/admin/users?limit=10')).json() as any;
      expect(JSON.stringify(list)).toContain('carol');
      expect(JSON.stringify(list)).not.toMatch(/scrypt|password_hash/);

      expect((await adminRequest(server, 'GET', `/admin/users/${user.id}`)).status).toBe(200);
      expect((await adminRequest(server, 'POST', `/admin/users/${user.id}/password`, { password: 'second password' })).status).toBe(204);
      expect(await server.users.verifyPassword('carol', 'second password')).toMatchObject({ id: user.id });
      expect(await server.users.verifyPassword('carol', 'first password')).toBeUndefined();
      expect((await adminRequest(server, 'DELETE', `/admin/users/${user.id}`)).status).toBe(204);
      expect((await adminRequest(server, 'GET', `/admin/users/${user.id}`)).status).toBe(404);
      expect((await adminRequest(server, 'DELETE', `/admin/users/${user.id}`)).status).toBe(404);
    });

    it.each([
      [{ password: 'long enough' }, 'username'],
      [{ username: 'dave' }, 'password'],
      [{ username: 'dave', password: 'short' }, 'password'],
      [{ username: 42, password: 'long enough' }, 'username'],
      [{ username: 'dave', password: 'long enough', email: 'not-an-email' }, 'email'],
      [{ username: 'dave', password: 'long enough', admin: true }, 'body'],
    ])('refuses %j naming %s, storing nothing', async (body, field) => {
      const response = await adminRequest(server, 'POST', '/admin/users', body);
      expect(response.status).toBe(400);
      const error = await response.json() as any;
      expect(error).toMatchObject({ error: 'invalid_request', field });
      expect(await server.users.findByUsername('dave')).toBeUndefined();
    });

    it('refuses a duplicate username, non-JSON and oversized bodies', async () => {
      await adminRequest(server, 'POST', '/admin/users', { username: 'erin', password: 'long enough' });
      const duplicate = await adminRequest(server, 'POST', '/admin/users', { username: 'erin', password: 'long enough' });
      expect(duplicate.status).toBe(400);
      expect((await duplicate.json() as any).field).toBe('username');

      const notJson = await fetch(`${server.url}/admin/users`, { method: 'POST', headers: { authorization: `Bearer ${server.adminToken}`, 'content-type': 'application/json' }, body: '{"username":' });
      expect(notJson.status).toBe(400);
      const huge = await adminRequest(server, 'POST', '/admin/users', { username: 'frank', password: 'x'.repeat(100_000) });
      expect(huge.status).toBe(413);
      expect(await server.users.findByUsername('frank')).toBeUndefined();
    });
  });

  describe('/admin/resources', () => {
    const identifier = 'https://mcp.example.test/mcp';
    const path = `/admin/resources/${encodeURIComponent(identifier)}`;

    it('creates, lists, gets, updates and deletes a resource', async () => {
      const created = await adminRequest(server, 'POST', '/admin/resources', { identifier, scopes: ['tools:read'], token_format: 'jwt', access_token_ttl: 120 });
      expect(created.status).toBe(201);
      expect(await created.json() as any).toMatchObject({ identifier, scopes: ['tools:read'], token_format: 'jwt', access_token_ttl: 120 });
      expect(JSON.stringify(await (await adminRequest(server, 'GET', '/admin/resources')).json() as any)).toContain(identifier);
      const updated = await adminRequest(server, 'PATCH', path, { scopes: ['tools:read', 'tools:call'] });
      expect((await updated.json() as any).scopes).toEqual(['tools:read', 'tools:call']);
      expect((await adminRequest(server, 'GET', path)).status).toBe(200);
      expect((await adminRequest(server, 'DELETE', path)).status).toBe(204);
      expect((await adminRequest(server, 'GET', path)).status).toBe(404);
    });

    it.each([
      [{ identifier: 'http://mcp.example.test/' }, 'identifier'],
      [{ identifier: 'https://mcp.example.test/#frag' }, 'identifier'],
      [{ identifier: 'relative/path' }, 'identifier'],
      [{ identifier: 'https://mcp.example.test/x', scopes: ['has space'] }, 'scopes.0'],
      [{ identifier: 'https://mcp.example.test/x', token_format: 'paseto' }, 'token_format'],
      [{ identifier: 'https://mcp.example.test/x', access_token_ttl: -1 }, 'access_token_ttl'],
    ])('refuses %j naming %s', async (body, field) => {
      const response = await adminRequest(server, 'POST', '/admin/resources', body);
      expect(response.status).toBe(400);
      expect(await response.json() as any).toMatchObject({ error: 'invalid_request', field });
    });
  });

  it('reports health and readiness', async () => {
    expect(await (await fetch(`${server.url}/healthz`)).json() as any).toEqual({ status: 'ok' });
    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json() as any).toEqual({ status: 'ok', checks: { database: 'ok', redis: 'ok' } });
  });
});
