// The "approval pending" webhook (APPROVAL_WEBHOOK_URL): an agent's backchannel request makes the server POST a
// JWT (typ approval-pending+jwt) signed with our key to a loopback https receiver, which verifies it with our JWKS;
// a receiver failing at first gets it again (backoff). The server runs as its own process to trust the test's CA.
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminRequest, createResource, createUser, type ServerUnderTest } from '../support/admin.ts';
import { startServerProcess, type ServerProcess } from '../support/process.ts';
import { isolatedStorage, type IsolatedStorage } from '../support/services.ts';
import { loopbackCertificate, type LoopbackCertificate } from '../support/tls.ts';

const ADMIN_TOKEN = 'approval-webhook-admin-token-0123456789abcdef';
const PAYMENTS = 'https://payments.webhook.example.test/';

describe('approval pending webhook', () => {
  let tls: LoopbackCertificate;
  let storage: IsolatedStorage;
  let as: ServerProcess;
  let server: ServerUnderTest;
  let receiver: Server;
  const received: { type?: string; body: string }[] = [];

  beforeAll(async () => {
    tls = await loopbackCertificate();
    receiver = createHttpsServer({ key: tls.key, cert: tls.cert }, async (request, response) => {
      const chunks: Buffer[] = [];
      for await (const chunk of request) chunks.push(chunk as Buffer);
      received.push({ type: request.headers['content-type'], body: Buffer.concat(chunks).toString('utf8') });
      // The first delivery fails: the second, after the backoff, is accepted.
      response.writeHead(received.length === 1 ? 503 : 204).end();
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    storage = await isolatedStorage('approval-webhook');
    as = await startServerProcess({
      NODE_ENV: 'test', PORT: '0', LOG_LEVEL: 'warn', ...storage.env, ADMIN_TOKEN, NODE_EXTRA_CA_CERTS: tls.caFile,
      APPROVAL_WEBHOOK_URL: `https://127.0.0.1:${(receiver.address() as AddressInfo).port}/approvals-hook`,
    });
    server = { url: as.url, issuer: as.url.replace('127.0.0.1', 'localhost'), adminToken: ADMIN_TOKEN };
  }, 60_000);
  afterAll(async () => {
    await as?.stop();
    receiver?.close();
    await tls?.dispose();
    await storage?.dispose();
  });

  it('POSTs a signed approval-pending JWT, verifiable with our JWKS, again after a failure; no auth_req_id in it', async () => {
    const owner = await createUser(server, 'olga', 'correct horse battery staple');
    await createResource(server, { identifier: PAYMENTS, scopes: ['payments:write'], token_format: 'jwt' });
    const agent = (await (await adminRequest(server, 'POST', '/admin/agents', { name: 'invoice-bot', owner: owner.id, scopes: ['payments:**'] })).json()) as { id: string; client_secret: string };
    const config = await oidc.discovery(new URL(server.issuer), agent.id, undefined, oidc.ClientSecretBasic(agent.client_secret), { execute: [oidc.allowInsecureRequests] });
    const details = [{ type: 'agent_action', action: 'payments.create', locations: [PAYMENTS], parameters: { amount: '120.00', currency: 'EUR' } }];
    const started = await oidc.initiateBackchannelAuthentication(config, { scope: 'openid payments:write', login_hint: 'owner', binding_message: 'Pay invoice 4711', authorization_details: JSON.stringify(details) });
    for (let waited = 0; received.length < 2 && waited < 10_000; waited += 100) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(received).toHaveLength(2);
    expect(received[0].type).toBe('application/jwt');
    expect(received[1].type).toBe('application/jwt');
    const { payload, protectedHeader } = await jwtVerify(received[1].body, createRemoteJWKSet(new URL(`${as.url}/jwks`)), { issuer: server.issuer, typ: 'approval-pending+jwt' });
    expect(protectedHeader.typ).toBe('approval-pending+jwt');
    expect(payload).toMatchObject({ approval_id: expect.stringMatching(/^apr_/), client_id: agent.id, user: owner.id, binding_message: 'Pay invoice 4711', authorization_details: details, expires_at: expect.any(Number), jti: expect.any(String), iat: expect.any(Number) });
    expect(received[1].body).not.toContain(started.auth_req_id);
  });
});
