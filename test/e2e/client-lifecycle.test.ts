// The agents' lifecycle for a client registered through RFC 7591 with the initial access token, driven through
// /admin/clients: suspend (refused, earlier tokens inactive), activate, rotate with a grace period, revoke.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminRequest } from '../support/admin.ts';
import { STORAGE_MODES, startTestServer, type TestServer } from '../support/server.ts';

describe.each(STORAGE_MODES)('client lifecycle on %s storage', (mode) => {
  let server: TestServer;
  let clientId: string;
  let secret: string;

  beforeAll(async () => {
    server = await startTestServer(mode, `e2e-client-lifecycle-${mode}`);
    const registered = await fetch(new URL('/reg', server.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${server.adminToken}` },
      body: JSON.stringify({ grant_types: ['client_credentials'], response_types: [], redirect_uris: [], client_name: 'lifecycle' }),
    });
    expect(registered.status).toBe(201);
    const body = (await registered.json()) as any;
    clientId = body.client_id;
    secret = body.client_secret;
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
  });

  const basic = (id: string, value: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(value)}`).toString('base64')}`;

  async function token(value = secret) {
    const response = await fetch(new URL('/token', server.url), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(clientId, value) },
      body: new URLSearchParams({ grant_type: 'client_credentials' }),
    });
    return { status: response.status, body: (await response.json()) as any };
  }

  async function active(accessToken: string, value = secret): Promise<boolean> {
    const response = await fetch(new URL('/token/introspection', server.url), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(clientId, value) },
      body: new URLSearchParams({ token: accessToken }),
    });
    expect(response.status).toBe(200);
    return ((await response.json()) as any).active;
  }

  it('lists and shows the registered client', async () => {
    const shown = await adminRequest(server, 'GET', `/admin/clients/${encodeURIComponent(clientId)}`);
    expect(shown.status).toBe(200);
    expect((await shown.json()) as any).toMatchObject({ client_id: clientId, kind: 'registered', status: 'active', name: 'lifecycle' });
    const listed = (await (await adminRequest(server, "GET", "/admin/clients")).json()) as any;
    expect(listed.items.map((item: { client_id: string }) => item.client_id)).toContain(clientId);
  });

  it('suspend → refused and earlier tokens inactive → activate → rotate with grace → revoke', async () => {
    const before = await token();
    expect(before.status).toBe(200);
    const suspended = await adminRequest(server, 'POST', `/admin/clients/${encodeURIComponent(clientId)}/suspend`);
    expect(suspended.status).toBe(200);
    expect(((await suspended.json()) as any).status).toBe('suspended');
    const refused = await token();
    expect(refused.status).toBe(401);
    expect(refused.body.error).toBe('invalid_client');

    expect((await adminRequest(server, 'POST', `/admin/clients/${encodeURIComponent(clientId)}/activate`)).status).toBe(200);
    // The token from before the suspension stays dead after reactivation.
    expect(await active(before.body.access_token)).toBe(false);
    const after = await token();
    expect(after.status).toBe(200);
    expect(await active(after.body.access_token)).toBe(true);

    const rotated = await adminRequest(server, 'POST', `/admin/clients/${encodeURIComponent(clientId)}/rotate-credentials`, { grace_period_seconds: 2 });
    expect(rotated.status).toBe(200);
    const newSecret: string = ((await rotated.json()) as any).client_secret;
    expect(newSecret).toBeTypeOf('string');
    expect((await token(secret)).status).toBe(200);
    expect((await token(newSecret)).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    expect((await token(secret)).status).toBe(401);
    secret = newSecret;
    expect((await token()).status).toBe(200);

    const revoked = await adminRequest(server, 'POST', `/admin/clients/${encodeURIComponent(clientId)}/revoke`);
    expect(revoked.status).toBe(200);
    expect((await token()).status).toBe(401);
    const again = await adminRequest(server, 'POST', `/admin/clients/${encodeURIComponent(clientId)}/activate`);
    expect(again.status).toBe(400);
  }, 30_000);

  it('answers bad input with JSON errors', async () => {
    for (const path of ['', '/suspend', '/activate', '/revoke', '/rotate-credentials']) {
      const method = path ? 'POST' : 'GET';
      const unknown = await adminRequest(server, method, `/admin/clients/nobody${path}`, path === '/rotate-credentials' ? {} : undefined);
      expect(unknown.status).toBe(404);
      expect(((await unknown.json()) as any).error).toBeTypeOf('string');
      const anonymous = await fetch(new URL(`/admin/clients/nobody${path}`, server.url), { method });
      expect(anonymous.status).toBe(401);
    }
    expect((await adminRequest(server, 'DELETE', '/admin/clients/nobody')).status).toBe(404);
    const malformed = await fetch(new URL(`/admin/clients/${encodeURIComponent(clientId)}/rotate-credentials`, server.url), {
      method: 'POST', headers: { authorization: `Bearer ${server.adminToken}`, 'content-type': 'application/json' }, body: '{"grace_period_seconds":',
    });
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as any).error).toBeTypeOf('string');
    const wrongType = await adminRequest(server, 'POST', `/admin/clients/${encodeURIComponent(clientId)}/rotate-credentials`, { grace_period_seconds: 'soon' });
    expect(wrongType.status).toBe(400);
    expect((await adminRequest(server, 'GET', '/admin/clients?limit=0')).status).toBe(400);
  });
});
