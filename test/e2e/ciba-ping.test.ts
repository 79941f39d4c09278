// CIBA ping mode (CIBA §10.2): a confidential client registers an https notification endpoint (oidc-provider
// requires https), makes a backchannel request, the operator approves it through the admin API, the server
// POSTs {auth_req_id} with the client_notification_token as Bearer to a loopback https receiver, and the client
// redeems the auth_req_id. The server runs as its own process so it can trust the test's CA (NODE_EXTRA_CA_CERTS).
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { decodeJwt } from 'jose';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminRequest, createResource, createUser, type ServerUnderTest } from '../support/admin.ts';
import { startServerProcess, type ServerProcess } from '../support/process.ts';
import { isolatedStorage, type IsolatedStorage } from '../support/services.ts';
import { loopbackCertificate, type LoopbackCertificate } from '../support/tls.ts';

const ADMIN_TOKEN = 'ciba-ping-admin-token-0123456789abcdef0123';
const REPORTS = 'https://reports.ciba-ping.example.test/';
const CIBA = 'urn:openid:params:grant-type:ciba';
const insecure = { execute: [oidc.allowInsecureRequests] };

describe('CIBA ping mode', () => {
  let tls: LoopbackCertificate;
  let storage: IsolatedStorage;
  let as: ServerProcess;
  let server: ServerUnderTest;
  let receiver: Server;
  let endpoint: string;
  let notificationStatus = 204;
  const notifications: { authorization?: string; body: unknown }[] = [];

  beforeAll(async () => {
    tls = await loopbackCertificate();
    receiver = createHttpsServer({ key: tls.key, cert: tls.cert }, async (request, response) => {
      const chunks: Buffer[] = [];
      for await (const chunk of request) chunks.push(chunk as Buffer);
      notifications.push({ authorization: request.headers.authorization, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
      response.writeHead(notificationStatus).end();
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    endpoint = `https://127.0.0.1:${(receiver.address() as AddressInfo).port}/ciba-notify`;
    storage = await isolatedStorage('ciba-ping');
    as = await startServerProcess({
      NODE_ENV: 'test', PORT: '0', LOG_LEVEL: 'warn', ...storage.env, ADMIN_TOKEN, CIBA_POLL_INTERVAL: '1',
      NODE_EXTRA_CA_CERTS: tls.caFile, CIMD_ALLOW_PRIVATE_ADDRESSES: 'true',
    });
    server = { url: as.url, issuer: as.url.replace('127.0.0.1', 'localhost'), adminToken: ADMIN_TOKEN };
    await createUser(server, 'petra', 'correct horse battery staple');
    await createResource(server, { identifier: REPORTS, scopes: ['reports:read'], token_format: 'jwt', access_token_ttl: 300 });
  }, 60_000);
  afterAll(async () => {
    await as?.stop();
    receiver?.close();
    await tls?.dispose();
    await storage?.dispose();
  });

  async function pingClient() {
    const issuer = new URL(server.issuer);
    const registered = await oidc.dynamicClientRegistration(issuer, {
      grant_types: [CIBA], response_types: [], redirect_uris: [],
      backchannel_token_delivery_mode: 'ping', backchannel_client_notification_endpoint: endpoint,
    }, undefined, { ...insecure, initialAccessToken: ADMIN_TOKEN });
    const clientId = registered.clientMetadata().client_id;
    const secret = registered.clientMetadata().client_secret as string;
    return { clientId, secret, config: await oidc.discovery(issuer, clientId, undefined, oidc.ClientSecretBasic(registered.clientMetadata().client_secret as string), insecure) };
  }

  async function pendingApprovalOf(clientId: string): Promise<string> {
    const listed = await adminRequest(server, 'GET', `/admin/approvals?client_id=${encodeURIComponent(clientId)}&status=pending`);
    const { items } = (await listed.json()) as { items: { id: string }[] };
    expect(items).toHaveLength(1);
    return items[0].id;
  }

  it('notifies the client at its endpoint once approved; the client then redeems the auth_req_id', async () => {
    const { clientId, secret, config } = await pingClient();
    // Not an agent: no binding message required, and the user named by username.
    const started = await oidc.initiateBackchannelAuthentication(config, { scope: 'openid reports:read', login_hint: 'petra', client_notification_token: 'notify-me-0123456789' });
    expect(started.interval).toBe(1);
    // A ping-mode client is not told to slow down for its first token request (no poll interval has begun).
    const early = await fetch(new URL('token', `${server.url}/`), {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: CIBA, auth_req_id: started.auth_req_id }),
    });
    expect(await early.json()).toMatchObject({ error: 'authorization_pending' });
    const approved = await adminRequest(server, 'POST', `/admin/approvals/${await pendingApprovalOf(clientId)}/approve`);
    expect(approved.status).toBe(200);
    expect(await approved.json()).not.toHaveProperty('notification');
    expect(notifications).toEqual([{ authorization: 'Bearer notify-me-0123456789', body: { auth_req_id: started.auth_req_id } }]);

    const tokens = await oidc.pollBackchannelAuthenticationGrant(config, started);
    const claims = decodeJwt(tokens.access_token);
    expect(claims).toMatchObject({ sub: expect.any(String), client_id: clientId, scope: 'reports:read', aud: REPORTS });
    // A registered client acting for its user is the usual OAuth client, not an actor.
    expect(claims).not.toHaveProperty('act');
  });

  it('keeps an approval when the notification endpoint fails, and says so; the client can still poll', async () => {
    const { clientId, config } = await pingClient();
    const started = await oidc.initiateBackchannelAuthentication(config, { scope: 'openid reports:read', login_hint: 'petra', client_notification_token: 'notify-me-again-0123' });
    notificationStatus = 500;
    try {
      const approved = await adminRequest(server, 'POST', `/admin/approvals/${await pendingApprovalOf(clientId)}/approve`);
      expect(approved.status).toBe(200);
      expect(await approved.json()).toMatchObject({ status: 'approved', notification: expect.stringContaining('could not be reached') });
    } finally {
      notificationStatus = 204;
    }
    expect((await oidc.pollBackchannelAuthenticationGrant(config, started)).access_token).toEqual(expect.any(String));
  });
});
