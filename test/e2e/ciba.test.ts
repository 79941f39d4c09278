// Human approval of agent actions (issue 17 parts 1–3, admin API): OpenID CIBA in poll mode driven by
// openid-client (ping mode: ciba-ping.test.ts), RFC 9396 `agent_action` details in the JWT and
// at introspection, approval tiers (client_credentials refused for what needs a person; strong needs the user's
// password), the CIBA §11 errors (authorization_pending, slow_down, access_denied, expired_token) and bad input
// refused with nothing stored or issued; on both storage modes.
import { decodeJwt } from 'jose';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminRequest, createResource, createUser } from '../support/admin.ts';
import { STORAGE_MODES, startTestServer, type TestServer } from '../support/server.ts';

const PAYMENTS = 'https://payments.ciba.example.test/';
const CIBA = 'urn:openid:params:grant-type:ciba';
const PASSWORD = 'correct horse battery staple';
const insecure = { execute: [oidc.allowInsecureRequests] };

const invoice = (amount: string) => ({
  type: 'agent_action',
  action: 'payments.create',
  locations: [PAYMENTS],
  parameters: { invoice: '4711', amount, currency: 'EUR', creditor: 'ACME' },
});

describe.each(STORAGE_MODES)('CIBA approvals (%s)', (mode) => {
  let server: TestServer;
  let issuer: URL;
  let owner: { id: string; username: string };
  let agent: { id: string; client_secret: string };
  let agentConfig: oidc.Configuration;
  let introspector: oidc.Configuration;

  beforeAll(async () => {
    // A one-second interval keeps the polls short; private addresses let the ping reach the loopback receiver.
    server = await startTestServer(mode, `e2e-ciba-${mode}`, { CIBA_POLL_INTERVAL: '1', CIMD_ALLOW_PRIVATE_ADDRESSES: 'true' });
    issuer = new URL(server.issuer);
    owner = await createUser(server, 'olga', PASSWORD);
    await createUser(server, 'other', PASSWORD);
    await createResource(server, { identifier: PAYMENTS, scopes: ['payments:write', 'payments:read', 'reports:read'], token_format: 'jwt', access_token_ttl: 300 });
    const created = await adminRequest(server, 'POST', '/admin/agents', { name: 'invoice-bot', owner: owner.id, scopes: ['payments:**', 'reports:read'] });
    agent = (await created.json()) as typeof agent;
    // Small payments are the agent's to make; large ones need the owner's password; any other payment scope a person.
    const tiers = await adminRequest(server, 'PUT', `/admin/approval-tiers/${agent.id}`, {
      rules: [
        { type: 'agent_action', when: [{ field: 'action', op: '==', value: 'payments.create' }, { field: 'parameters.amount', op: '>', value: 1000 }], tier: 'strong' },
        { type: 'agent_action', when: [{ field: 'parameters.amount', op: '<=', value: 10 }], tier: 'autonomous' },
        { scopes: ['reports:read'], tier: 'autonomous' },
        { scopes: ['payments:**'], tier: 'soft' },
      ],
      default: 'soft',
    });
    expect(tiers.status, await tiers.clone().text()).toBe(200);
    agentConfig = await oidc.discovery(issuer, agent.id, undefined, oidc.ClientSecretBasic(agent.client_secret), insecure);
    const registered = await oidc.dynamicClientRegistration(issuer, { grant_types: ['client_credentials'], response_types: [], redirect_uris: [], introspect_any_token: true }, undefined, {
      ...insecure, initialAccessToken: server.adminToken,
    });
    introspector = await oidc.discovery(issuer, registered.clientMetadata().client_id, undefined, oidc.ClientSecretBasic(registered.clientMetadata().client_secret as string), insecure);
  }, 180_000);
  afterAll(() => server?.stop());

  const call = async (method: string, path: string, body?: unknown) => {
    const response = await adminRequest(server, method, path, body);
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined };
  };

  /** The one approval a request made (the admin API does not show auth_req_ids, so by binding message). */
  async function approvalFor(bindingMessage: string) {
    const listed = await call('GET', `/admin/approvals?client_id=${encodeURIComponent(agent.id)}&limit=200`);
    const found = (listed.body.items as { id: string; binding_message: string }[]).filter((item) => item.binding_message === bindingMessage);
    expect(found).toHaveLength(1);
    return found[0] as Record<string, unknown> & { id: string };
  }

  /** A raw token request, as a client that does not wait would make it. */
  async function tokenRequest(authReqId: string, secret = agent.client_secret, clientId = agent.id) {
    const response = await fetch(new URL('token', `${server.issuer}/`), {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: CIBA, auth_req_id: authReqId }),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  /** A raw backchannel request, for the refusals openid-client would not send. */
  async function backchannelRequest(params: Record<string, string>) {
    const endpoint = agentConfig.serverMetadata().backchannel_authentication_endpoint!;
    const response = await fetch(endpoint, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${agent.id}:${agent.client_secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(params),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  async function audited(event: string) {
    await server.audit.flush();
    return (await call('GET', `/admin/audit?event=${event}&client_id=${encodeURIComponent(agent.id)}&limit=200`)).body.items as { subject: string; details: Record<string, unknown>; outcome: string }[];
  }

  const approvalCount = async () => Number((await server.db.selectFrom('approvals').select(server.db.fn.countAll<string>().as('n')).executeTakeFirstOrThrow()).n);

  it('advertises the backchannel endpoint, both delivery modes, the grant and our authorization_details type', () => {
    const metadata = agentConfig.serverMetadata();
    expect(metadata.backchannel_authentication_endpoint).toBe(`${server.issuer}/backchannel`);
    expect(metadata.backchannel_token_delivery_modes_supported).toEqual(['poll', 'ping']);
    expect(metadata.grant_types_supported).toContain(CIBA);
    expect(metadata.authorization_details_types_supported).toEqual(['agent_action']);
  });

  it('poll mode: the agent asks its owner, the operator approves, the token carries the approved details with the agent as actor', async () => {
    const details = [invoice('120.00')];
    const started = await oidc.initiateBackchannelAuthentication(agentConfig, {
      scope: 'openid payments:write',
      login_hint: 'owner',
      binding_message: 'Pay invoice 4711',
      authorization_details: JSON.stringify(details),
    });
    expect(started).toMatchObject({ auth_req_id: expect.any(String), expires_in: expect.any(Number), interval: 1 });

    const approval = await approvalFor('Pay invoice 4711');
    expect(approval).toMatchObject({
      status: 'pending', tier: 'soft', client_id: agent.id, user_id: owner.id, scope: 'openid payments:write', authorization_details: details,
      decided_at: null, decided_by: null,
    });
    expect(approval).not.toHaveProperty('auth_req_id');

    // An agent_action token is action-bound: its token request carries a DPoP proof (action-bound-tokens.test.ts).
    const DPoP = oidc.getDPoPHandle(agentConfig, await oidc.randomDPoPKeyPair());
    const polled = oidc.pollBackchannelAuthenticationGrant(agentConfig, started, undefined, { DPoP });
    // The agent is polling (authorization_pending) while nobody has decided.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const approved = await call('POST', `/admin/approvals/${approval.id}/approve`);
    expect(approved).toMatchObject({ status: 200, body: { status: 'approved', decided_by: { via: 'admin_api' } } });

    const tokens = await polled;
    expect(tokens.authorization_details).toEqual(details);
    const claims = decodeJwt(tokens.access_token);
    expect(claims).toMatchObject({ sub: owner.id, act: { sub: agent.id }, client_id: agent.id, aud: PAYMENTS, scope: 'payments:write', authorization_details: details });
    const introspected = await oidc.tokenIntrospection(introspector, tokens.access_token);
    expect(introspected).toMatchObject({ active: true, sub: owner.id, act: { sub: agent.id }, client_id: agent.id, authorization_details: details });

    // One redemption only (CIBA §10.1.1: the auth_req_id is spent), on every instance.
    expect(await oidc.genericGrantRequest(agentConfig, CIBA, { auth_req_id: started.auth_req_id }, { DPoP }).catch((error: oidc.ResponseBodyError) => error))
      .toMatchObject({ error: 'invalid_grant' });

    expect((await audited('approval.requested')).find((event) => event.details.approval === approval.id)).toMatchObject({ subject: owner.id, details: { tier: 'soft', binding_message: 'Pay invoice 4711' } });
    expect((await audited('approval.approved')).find((event) => event.details.approval === approval.id)).toMatchObject({ outcome: 'success', details: { tier: 'soft', approver: { via: 'admin_api' } } });
    // Decided requests stay listed.
    expect((await call('GET', `/admin/approvals/${approval.id}`)).body.status).toBe('approved');
  });

  it.runIf(mode === 'redis+postgres')('redeems an auth_req_id once when two instances are asked at the same moment', async () => {
    const sibling = await server.startSibling();
    const started = await oidc.initiateBackchannelAuthentication(agentConfig, { scope: 'openid payments:read', login_hint: 'owner', binding_message: 'Two instances' });
    const approval = await approvalFor('Two instances');
    expect((await call('POST', `/admin/approvals/${approval.id}/approve`)).status).toBe(200);
    const answers = await Promise.all([server.url, sibling.url, server.url, sibling.url].map(async (base) => {
      const response = await fetch(`${base}/token`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`${agent.id}:${agent.client_secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: CIBA, auth_req_id: started.auth_req_id }),
      });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    }));
    expect(answers.filter((answer) => answer.status === 200)).toHaveLength(1);
    expect(answers.filter((answer) => answer.status === 400).map((answer) => answer.body.error)).toEqual(['invalid_grant', 'invalid_grant', 'invalid_grant']);
  });

  it('slow_down for polling faster than the interval, authorization_pending otherwise', async () => {
    const started = await oidc.initiateBackchannelAuthentication(agentConfig, { scope: 'openid payments:read', login_hint: owner.username, binding_message: 'Read payments' });
    expect(await tokenRequest(started.auth_req_id)).toMatchObject({ status: 400, body: { error: 'slow_down' } });
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect(await tokenRequest(started.auth_req_id)).toMatchObject({ status: 400, body: { error: 'authorization_pending' } });
    expect(await tokenRequest(started.auth_req_id)).toMatchObject({ status: 400, body: { error: 'slow_down' } });
  });

  it('deny: the agent is told access_denied and gets nothing', async () => {
    const before = server.issuedCount();
    const started = await oidc.initiateBackchannelAuthentication(agentConfig, { scope: 'openid payments:write', login_hint: owner.id, binding_message: 'Pay invoice 4712' });
    const approval = await approvalFor('Pay invoice 4712');
    expect(await call('POST', `/admin/approvals/${approval.id}/deny`, { reason: 'not this month' })).toMatchObject({ status: 200, body: { status: 'denied' } });
    const refusal = await oidc.pollBackchannelAuthenticationGrant(agentConfig, started).catch((error: oidc.ResponseBodyError) => error);
    expect(refusal).toMatchObject({ error: 'access_denied', error_description: 'not this month' });
    expect(server.issuedCount()).toBe(before);
    expect(await call('POST', `/admin/approvals/${approval.id}/approve`)).toMatchObject({ status: 409, body: { error_description: 'the approval request is already denied' } });
    expect((await audited('approval.denied')).find((event) => event.details.approval === approval.id)).toMatchObject({ details: { tier: 'soft', reason: 'not this month' } });
  });

  it('expiry: expired_token to the agent, 409 to a late approver, and approval.expired audited once', async () => {
    const started = await oidc.initiateBackchannelAuthentication(agentConfig, { scope: 'openid payments:write', login_hint: 'owner', binding_message: 'Pay invoice 4713', requested_expiry: '1' });
    expect(started.expires_in).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(await tokenRequest(started.auth_req_id)).toMatchObject({ status: 400, body: { error: 'expired_token' } });
    const approval = await approvalFor('Pay invoice 4713');
    expect(approval.status).toBe('expired');
    expect(await call('POST', `/admin/approvals/${approval.id}/approve`)).toMatchObject({ status: 409, body: { error_description: 'the approval request is already expired' } });
    expect(await tokenRequest(started.auth_req_id)).toMatchObject({ status: 400, body: { error: 'expired_token' } });
    expect((await audited('approval.expired')).filter((event) => event.details.approval === approval.id)).toHaveLength(1);
  });

  it('strong tier: the approval needs the named user to re-authenticate with their password', async () => {
    const details = [invoice('1200.00')];
    const started = await oidc.initiateBackchannelAuthentication(agentConfig, { scope: 'openid payments:write', login_hint: 'owner', binding_message: 'Pay invoice 4714', authorization_details: JSON.stringify(details) });
    const approval = await approvalFor('Pay invoice 4714');
    expect(approval.tier).toBe('strong');
    expect(await call('POST', `/admin/approvals/${approval.id}/approve`)).toMatchObject({ status: 403, body: { error: 'access_denied' } });
    expect(await call('POST', `/admin/approvals/${approval.id}/approve`, { password: 'wrong password' })).toMatchObject({ status: 403, body: { error: 'access_denied' } });
    expect((await call('GET', `/admin/approvals/${approval.id}`)).body.status).toBe('pending');
    const approved = await call('POST', `/admin/approvals/${approval.id}/approve`, { password: PASSWORD });
    expect(approved).toMatchObject({ status: 200, body: { status: 'approved', decided_by: { via: 'admin_api', user_id: owner.id, reauthenticated: true } } });
    const tokens = await oidc.pollBackchannelAuthenticationGrant(agentConfig, started, undefined, { DPoP: oidc.getDPoPHandle(agentConfig, await oidc.randomDPoPKeyPair()) });
    expect(decodeJwt(tokens.access_token).authorization_details).toEqual(details);
    expect(tokens.claims()).toMatchObject({ sub: owner.id });
    const failures = (await audited('approval.approved')).filter((event) => event.details.approval === approval.id && event.outcome === 'failure');
    expect(failures).toHaveLength(2);
  });

  it('client_credentials: what is autonomous is issued (with its details), what needs a person points to the backchannel endpoint', async () => {
    expect((await oidc.clientCredentialsGrant(agentConfig, { scope: 'reports:read' })).scope).toBe('reports:read');
    const small = [{ type: 'agent_action', action: 'payments.create', parameters: { amount: '5.00' } }];
    const autonomous = await oidc.clientCredentialsGrant(agentConfig, { scope: 'reports:read', authorization_details: JSON.stringify(small) });
    expect(autonomous.authorization_details).toEqual(small);
    expect(decodeJwt(autonomous.access_token)).toMatchObject({ sub: agent.id, authorization_details: small });

    const before = server.issuedCount();
    const refusal = async (params: Record<string, string>) => oidc.clientCredentialsGrant(agentConfig, params).then(() => undefined, (error: oidc.ResponseBodyError) => ({ error: error.error, description: error.error_description }));
    expect(await refusal({ scope: 'payments:write' })).toEqual({
      error: 'invalid_scope',
      description: 'scope "payments:write" needs a person\'s approval (approval tier "soft"): ask for it at the backchannel_authentication_endpoint (OpenID CIBA, in the server metadata)',
    });
    expect(await refusal({ scope: 'reports:read', authorization_details: JSON.stringify([invoice('1200.00')]) })).toEqual({
      error: 'invalid_authorization_details',
      description: 'authorization_details[0] (type "agent_action") needs a person\'s approval (approval tier "strong"): ask for it at the backchannel_authentication_endpoint (OpenID CIBA, in the server metadata)',
    });
    expect(server.issuedCount()).toBe(before);
  });

  it('refuses bad input with the CIBA or RFC 9396 error, and stores and issues nothing', async () => {
    const before = { issued: server.issuedCount(), approvals: await approvalCount() };
    const base = { scope: 'openid payments:write', login_hint: 'owner', binding_message: 'Bad input' };
    const cases: [Record<string, string>, string, string | RegExp][] = [
      [{ ...base, authorization_details: '[{"type":' }, 'invalid_authorization_details', 'could not parse the authorization_details parameter JSON'],
      [{ ...base, authorization_details: '{"type":"agent_action"}' }, 'invalid_authorization_details', 'authorization_details parameter should be a JSON array'],
      [{ ...base, authorization_details: '[{"type":"payment_initiation","amount":1}]' }, 'invalid_authorization_details', /unsupported authorization details type/],
      [{ ...base, authorization_details: '[{"type":"agent_action"}]' }, 'invalid_authorization_details', /^agent_action\.action: /],
      [{ ...base, authorization_details: JSON.stringify([{ ...invoice('1'), extra: true }]) }, 'invalid_authorization_details', /^agent_action: /],
      [{ ...base, authorization_details: JSON.stringify([{ ...invoice('1'), locations: ['not a url'] }]) }, 'invalid_authorization_details', /^agent_action\.locations\.0: /],
      [{ ...base, authorization_details: JSON.stringify(Array.from({ length: 11 }, () => invoice('1'))) }, 'invalid_authorization_details', 'authorization_details must have at most 10 entries'],
      [{ ...base, authorization_details: JSON.stringify([{ ...invoice('1'), identifier: 'x'.repeat(9000) }]) }, 'invalid_authorization_details', 'authorization_details must be at most 8192 characters'],
      [{ ...base, login_hint: 'nobody-by-that-name' }, 'unknown_user_id', 'could not identify end-user'],
      [{ scope: 'openid payments:write', login_hint: 'owner' }, 'invalid_binding_message', 'binding_message is required for agents: it tells the approver what the request is for'],
      [{ ...base, binding_message: 'line\nbreak' }, 'invalid_binding_message', /^binding_message must be/],
      [{ ...base, scope: 'openid files:read' }, 'invalid_scope', /./],
      [{ ...base, scope: 'payments:write' }, 'invalid_request', 'openid scope must be requested for this request'],
      [{ ...base, user_code: '1234' }, 'invalid_user_code', /user codes are not in use/],
      [{ ...base, login_hint_token: 'x', login_hint: '' }, 'invalid_request', /login_hint_token is not supported/],
      [{ ...base, requested_expiry: '-5' }, 'invalid_request', 'invalid requested_expiry parameter value'],
    ];
    for (const [params, error, description] of cases) {
      const answer = await backchannelRequest(params);
      expect(answer.status, JSON.stringify(params).slice(0, 120)).toBe(400);
      expect(answer.body.error, JSON.stringify(params).slice(0, 120)).toBe(error);
      expect(answer.body.error_description).toEqual(typeof description === 'string' ? description : expect.stringMatching(description));
    }
    // The details type is for the backchannel endpoint, not the authorization endpoint.
    expect(await approvalCount()).toBe(before.approvals);
    expect(server.issuedCount()).toBe(before.issued);
  });

  it('admin API: unknown ids, bad queries and bodies, and tiers only for existing clients', async () => {
    expect(await call('POST', '/admin/approvals/apr_nope/approve')).toMatchObject({ status: 404 });
    expect(await call('POST', '/admin/approvals/apr_nope/deny')).toMatchObject({ status: 404 });
    expect(await call('GET', '/admin/approvals?status=maybe')).toMatchObject({ status: 400, body: { field: 'status' } });
    expect(await call('GET', '/admin/approvals?cursor=bogus')).toMatchObject({ status: 400, body: { field: 'cursor' } });
    const listed = await call('GET', '/admin/approvals?limit=1');
    expect(listed.body).toMatchObject({ items: [expect.any(Object)], next_cursor: expect.any(String) });
    expect((await call('GET', `/admin/approvals?limit=1&cursor=${listed.body.next_cursor}`)).body.items[0].id).not.toBe(listed.body.items[0].id);
    const pending = await call('GET', '/admin/approvals?status=pending&limit=1');
    if (pending.body.items[0]) {
      expect(await call('POST', `/admin/approvals/${pending.body.items[0].id}/approve`, { password: 'x', extra: 1 })).toMatchObject({ status: 400 });
    }
    expect(await call('PUT', '/admin/approval-tiers/no-such-client', { rules: [] })).toMatchObject({ status: 404 });
    expect(await call('PUT', `/admin/approval-tiers/${agent.id}`, { rules: [{ tier: 'soft' }] })).toMatchObject({ status: 400, body: { field: 'rules.0' } });
    expect((await call('GET', `/admin/approval-tiers/${agent.id}`)).body.rules).toHaveLength(4);
  });
});
