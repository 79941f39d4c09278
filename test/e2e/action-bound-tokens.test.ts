// Action-bound, single-use tokens (issue 17 part 4): an agent asks its owner through CIBA (openid-client) to
// approve one exact MCP tool call, an `agent_action` naming the request and the digest of its arguments, with a
// DPoP key (the `dpop` library); the operator approves at /admin/approvals; the token works once at the example
// MCP server (the MCP SDK's client) and is then refused with the exact RFC 6750 / RFC 9449 challenge, as are a
// changed argument, a missing DPoP proof, another key and forged tokens. On both storage modes.
import type { Server } from 'node:http';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { generateKeyPair, generateProof, type KeyPair } from 'dpop';
import { SignJWT, base64url, decodeJwt } from 'jose';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startExample } from '../../examples/mcp-server/server.ts';
import { actionBodyDigest, mcpToolCall } from '../../packages/verifier/src/index.ts';
import { adminRequest, createUser } from '../support/admin.ts';
import { STORAGE_MODES, startTestServer, type TestServer } from '../support/server.ts';

const insecure = { execute: [oidc.allowInsecureRequests] };
const ARGUMENTS = { invoice: '4711', amount: '1200.00', creditor: 'ACME' };

describe.each(STORAGE_MODES)('action-bound tokens at the example MCP server (%s)', (mode) => {
  let server: TestServer;
  let example: { url: string; server: Server };
  let mcpUrl: string;
  let resourceMetadataUrl: string;
  let agentConfig: oidc.Configuration;
  let key: KeyPair;
  let token: string;

  const call = async (method: string, path: string, body?: unknown) => {
    const response = await adminRequest(server, method, path, body);
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

  /** What the agent asks its owner to approve: exactly this tool call at this server. */
  const payInvoice = (args: Record<string, unknown>) => ({
    type: 'agent_action',
    action: 'pay_invoice',
    locations: [mcpUrl],
    parameters: args,
    request: { method: 'POST', url: mcpUrl, body_digest: actionBodyDigest(mcpToolCall('pay_invoice', args).body) },
  });

  async function approvedToken(bindingMessage: string, args: Record<string, unknown>, dpopKey: KeyPair) {
    const details = [payInvoice(args)];
    const started = await oidc.initiateBackchannelAuthentication(agentConfig, {
      scope: 'openid notes:read', login_hint: 'owner', binding_message: bindingMessage, authorization_details: JSON.stringify(details),
    });
    const listed = await call('GET', '/admin/approvals?limit=200');
    const approval = (listed.body.items as { id: string; binding_message: string }[]).find((item) => item.binding_message === bindingMessage)!;
    expect((await call('POST', `/admin/approvals/${approval.id}/approve`)).status).toBe(200);
    const tokens = await oidc.pollBackchannelAuthenticationGrant(agentConfig, started, undefined, { DPoP: oidc.getDPoPHandle(agentConfig, dpopKey) });
    return { tokens, details, started };
  }

  /** A fetch for the MCP client: the token with the DPoP scheme and a fresh proof per request; remembers the last answer. */
  function dpopFetch(accessToken: string, dpopKey: KeyPair, last: { response?: { status: number; challenge: string | null; body: string } }) {
    return async (url: string | URL, init?: RequestInit) => {
      const headers = new Headers(init?.headers);
      const method = init?.method ?? 'GET';
      headers.set('authorization', `DPoP ${accessToken}`);
      headers.set('dpop', await generateProof(dpopKey, String(url), method, undefined, accessToken));
      const response = await fetch(url, { ...init, headers });
      last.response = { status: response.status, challenge: response.headers.get('www-authenticate'), body: await response.clone().text() };
      return response;
    };
  }

  async function mcpCall(accessToken: string, args: Record<string, unknown>, dpopKey = key) {
    const last: Parameters<typeof dpopFetch>[2] = {};
    const client = new Client({ name: 'action-bound-test', version: '1.0.0' });
    const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), { fetch: dpopFetch(accessToken, dpopKey, last) });
    try {
      // A refused credential already fails the handshake (initialize), a refused call the tools/call.
      const result = await client.connect(transport).then(() => client.callTool({ name: 'pay_invoice', arguments: args }))
        .then((value) => ({ value }), (error: unknown) => ({ error }));
      return { ...result, last: last.response! };
    } finally {
      await client.close();
    }
  }

  /** A raw tools/call, for credentials the MCP client would not send. */
  async function rawCall(headers: Record<string, string>, args: Record<string, unknown> = ARGUMENTS) {
    const response = await fetch(mcpUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'pay_invoice', arguments: args } }),
    });
    return { status: response.status, challenge: response.headers.get('www-authenticate'), body: await response.text() };
  }

  /** The exact WWW-Authenticate; `scope` is named by the handshake's general check (notes:read), not by the action's. */
  const challenge = (error: string, description: string, scope?: string) => {
    const scoped = scope ? `scope="${scope}", ` : '';
    return `Bearer ${scoped}resource_metadata="${resourceMetadataUrl}", DPoP error="${error}", error_description="${description}", ${scoped}resource_metadata="${resourceMetadataUrl}", algs="ES256 EdDSA Ed25519 PS256 RS256"`;
  };

  beforeAll(async () => {
    server = await startTestServer(mode, `e2e-action-bound-${mode}`, { CIBA_POLL_INTERVAL: '1' });
    const owner = await createUser(server, 'olga', 'correct horse battery staple');
    example = await startExample(0, async (url) => {
      const resource = await call('POST', '/admin/resources', { identifier: `${url}/mcp`, name: 'Example notes', scopes: ['notes:read', 'notes:write'], token_format: 'jwt', access_token_ttl: 300 });
      resourceMetadataUrl = String(resource.body.resource_metadata_url);
      return { issuer: server.issuer, resource: `${url}/mcp`, resourceMetadataUrl };
    });
    mcpUrl = `${example.url}/mcp`;
    const created = await call('POST', '/admin/agents', { name: 'payer-bot', owner: owner.id, scopes: ['notes:read'] });
    agentConfig = await oidc.discovery(new URL(server.issuer), String(created.body.id), undefined, oidc.ClientSecretBasic(String(created.body.client_secret)), insecure);
    key = await generateKeyPair('ES256');
    ({ tokens: { access_token: token } } = await approvedToken('Pay invoice 4711', ARGUMENTS, key));
  }, 180_000);
  afterAll(async () => {
    example?.server.close();
    await server?.stop();
  });

  it('the token is DPoP-bound and carries the approved request', () => {
    const claims = decodeJwt(token);
    expect(claims).toMatchObject({ aud: mcpUrl, scope: 'notes:read', cnf: { jkt: expect.any(String) }, authorization_details: [payInvoice(ARGUMENTS)] });
  });

  it('refuses forged and unproven tokens before the one real call, which then works once', async () => {
    // No DPoP proof: RFC 9449 §7.1 needs one for a DPoP-bound token.
    expect(await rawCall({ authorization: `DPoP ${token}` })).toMatchObject({ status: 401, challenge: challenge('invalid_dpop_proof', 'DPoP proof missing: the DPoP scheme needs a DPoP header') });
    // As a bearer token (RFC 9449 §7.2).
    expect((await rawCall({ authorization: `Bearer ${token}` })).status).toBe(401);
    // A proof by another key (the token's cnf.jkt does not match).
    const thief = await generateKeyPair('ES256');
    expect(await mcpCall(token, ARGUMENTS, thief)).toMatchObject({ last: { status: 401, challenge: challenge('invalid_token', 'DPoP key binding does not match the access token', 'notes:read') } });
    // alg none, and HS256 keyed with the authorization server's public key: the algorithms are not accepted.
    const claims = decodeJwt(token);
    const none = `${base64url.encode(JSON.stringify({ alg: 'none', typ: 'at+jwt' }))}.${base64url.encode(JSON.stringify(claims))}.`;
    const jwks = await (await fetch(`${server.issuer}/jwks`)).text();
    const hs256 = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'at+jwt' }).sign(new TextEncoder().encode(jwks));
    for (const forged of [none, hs256]) {
      const proof = await generateProof(key, mcpUrl, 'POST', undefined, forged);
      const refused = await rawCall({ authorization: `DPoP ${forged}`, dpop: proof });
      expect(refused.status).toBe(401);
      expect(refused.challenge).toContain('DPoP error="invalid_token"');
    }

    // Arguments nobody could have approved (nested past RFC 8785 canonicalization's depth limit): 400, no 500.
    let deep: unknown = '1';
    for (let i = 0; i < 100; i += 1) deep = { a: deep };
    const deepProof = await generateProof(key, mcpUrl, 'POST', undefined, token);
    expect(await rawCall({ authorization: `DPoP ${token}`, dpop: deepProof }, deep as Record<string, unknown>)).toMatchObject({ status: 400, challenge: expect.stringContaining('DPoP error="invalid_request"') });

    // A changed argument: the token is valid but not for this call (403), and is not spent by it.
    const changed = await mcpCall(token, { ...ARGUMENTS, amount: '9200.00' });
    expect(changed.last).toMatchObject({
      status: 403,
      challenge: challenge('insufficient_scope', 'the approved agent_action does not match this request (action, method, URL or body digest differ); a changed request needs a new approval'),
    });
    expect(changed).toHaveProperty('error');

    const first = await mcpCall(token, ARGUMENTS);
    expect(first).toMatchObject({ value: { content: [{ type: 'text', text: 'paid invoice 4711: 1200.00 to ACME' }] } });

    const second = await mcpCall(token, ARGUMENTS);
    expect(second.last).toMatchObject({ status: 401, challenge: challenge('invalid_token', 'this action-bound access token has already been used') });
    expect(JSON.parse(second.last.body)).toEqual({ error: 'invalid_token', error_description: 'this action-bound access token has already been used' });
  });

  it('a token without an approved agent_action cannot pay', async () => {
    const started = await oidc.initiateBackchannelAuthentication(agentConfig, { scope: 'openid notes:read', login_hint: 'owner', binding_message: 'Read notes' });
    const listed = await call('GET', '/admin/approvals?limit=200');
    const approval = (listed.body.items as { id: string; binding_message: string }[]).find((item) => item.binding_message === 'Read notes')!;
    await call('POST', `/admin/approvals/${approval.id}/approve`);
    const plain = await oidc.pollBackchannelAuthenticationGrant(agentConfig, started, undefined, { DPoP: oidc.getDPoPHandle(agentConfig, key) });
    expect((await mcpCall(plain.access_token, ARGUMENTS)).last).toMatchObject({
      status: 403,
      challenge: challenge('insufficient_scope', 'this request needs an approved agent_action naming exactly this request (authorization_details); ask for one through the backchannel (CIBA) flow'),
    });
  });

  it('the CIBA token request for an agent_action must carry DPoP, and nothing is redeemed without it', async () => {
    const details = [payInvoice({ ...ARGUMENTS, invoice: '4712' })];
    const started = await oidc.initiateBackchannelAuthentication(agentConfig, {
      scope: 'openid notes:read', login_hint: 'owner', binding_message: 'Pay invoice 4712', authorization_details: JSON.stringify(details),
    });
    const listed = await call('GET', '/admin/approvals?limit=200');
    const approval = (listed.body.items as { id: string; binding_message: string }[]).find((item) => item.binding_message === 'Pay invoice 4712')!;
    await call('POST', `/admin/approvals/${approval.id}/approve`);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const refused = await oidc.pollBackchannelAuthenticationGrant(agentConfig, started).catch((error: oidc.ResponseBodyError) => error);
    expect(refused).toMatchObject({
      error: 'invalid_request',
      error_description: 'this request\'s authorization_details include agent_action: the token request must carry a DPoP proof (RFC 9449) so the token is bound to the agent\'s key',
    });
    const tokens = await oidc.pollBackchannelAuthenticationGrant(agentConfig, started, undefined, { DPoP: oidc.getDPoPHandle(agentConfig, key) });
    expect(decodeJwt(tokens.access_token).cnf).toMatchObject({ jkt: expect.any(String) });
  });
});
