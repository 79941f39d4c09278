// A `strong` approval tier whose rule names `second_approvers`: the user the request is addressed to approves
// first (re-authenticated), then one of the second approvers (re-authenticated too), and only then does the
// agent's poll get the token. Through the inbox (cookie-keeping client) and the admin API, on both storage modes;
// every wrong approver, order and password is refused with nothing issued, and two second approvers racing on
// two instances decide once.
import { decodeJwt } from 'jose';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminRequest, createResource, createUser } from '../support/admin.ts';
import { signInToInbox, type Page } from '../support/browser.ts';
import { STORAGE_MODES, startTestServer, type TestServer } from '../support/server.ts';

const PAYMENTS = 'https://payments.second-approver.example.test/';
const PASSWORD = 'correct horse battery staple';
const CIBA = 'urn:openid:params:grant-type:ciba';
const insecure = { execute: [oidc.allowInsecureRequests] };

describe.each(STORAGE_MODES)('second approver (%s)', (mode) => {
  let server: TestServer;
  let agent: { id: string; client_secret: string };
  let agentConfig: oidc.Configuration;
  const users: Record<string, string> = {};

  const call = async (method: string, path: string, body?: unknown, base?: string) => {
    const response = base
      ? await fetch(`${base}${path}`, { method, headers: { authorization: `Bearer ${server.adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify(body ?? {}) })
      : await adminRequest(server, method, path, body);
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

  beforeAll(async () => {
    server = await startTestServer(mode, `e2e-second-approver-${mode}`, { CIBA_POLL_INTERVAL: '1' });
    for (const name of ['olga', 'cfo', 'controller', 'mallory']) users[name] = (await createUser(server, name, PASSWORD)).id;
    await createResource(server, { identifier: PAYMENTS, scopes: ['payments:write'], token_format: 'jwt' });
    agent = (await (await adminRequest(server, 'POST', '/admin/agents', { name: 'treasury-bot', owner: users.olga, scopes: ['payments:**'] })).json()) as typeof agent;
    const tiers = await call('PUT', `/admin/approval-tiers/${agent.id}`, {
      rules: [
        { type: 'agent_action', when: [{ field: 'action', op: '==', value: 'payments.refund' }], tier: 'strong', second_approvers: [users.olga] },
        { type: 'agent_action', when: [{ field: 'parameters.amount', op: '>', value: 10000 }], tier: 'strong', second_approvers: [users.cfo, users.controller] },
      ],
      default: 'soft',
    });
    expect(tiers.status).toBe(200);
    agentConfig = await oidc.discovery(new URL(server.issuer), agent.id, undefined, oidc.ClientSecretBasic(agent.client_secret), insecure);
  }, 180_000);
  afterAll(() => server?.stop());

  const detail = (message: string, action = 'payments.create') => [{ type: 'agent_action', action, locations: [PAYMENTS], parameters: { amount: 25000, memo: message } }];
  const ask = (message: string, action?: string) => oidc.initiateBackchannelAuthentication(agentConfig, {
    scope: 'openid payments:write', login_hint: 'owner', binding_message: message, authorization_details: JSON.stringify(detail(message, action)),
  });
  const approvalFor = async (message: string) => {
    const listed = await call('GET', `/admin/approvals?client_id=${encodeURIComponent(agent.id)}&limit=200`);
    return (listed.body.items as { id: string; binding_message: string; status: string; first_approval: unknown }[]).find((item) => item.binding_message === message)!;
  };
  /** One token request, after the poll interval: the CIBA §11 answer, without waiting for a decision. */
  const poll = async (authReqId: string) => {
    await new Promise((resolve) => setTimeout(resolve, 1100));
    try {
      await oidc.genericGrantRequest(agentConfig, CIBA, { auth_req_id: authReqId }, { DPoP: await dpop() });
      return { status: 200, body: {} };
    } catch (error) {
      const refusal = error as { status?: number; error?: string };
      return { status: refusal.status, body: { error: refusal.error } };
    }
  };
  // agent_action tokens are action-bound, so their token requests carry a DPoP proof (action-bound-tokens.test.ts).
  const dpop = async () => oidc.getDPoPHandle(agentConfig, await oidc.randomDPoPKeyPair());
  const tokensFor = async (started: oidc.BackchannelAuthenticationResponse) => oidc.pollBackchannelAuthenticationGrant(agentConfig, started, undefined, { DPoP: await dpop() });
  const audited = async (approvalId: string) => {
    const listed = await call('GET', `/admin/audit?client_id=${encodeURIComponent(agent.id)}&limit=200`);
    return (listed.body.items as { event: string; outcome: string; details?: { approval?: string } }[])
      .filter((item) => item.details?.approval === approvalId).map((item) => `${item.event}:${item.outcome}`).sort();
  };

  const signIn = (username: string) => signInToInbox(server.url, username, PASSWORD);
  const card = (page: Page, message: string) => page.html.split('<article').find((part) => part.includes(message));

  it('in the inbox: the owner approves, then the CFO; only then is the token issued', async () => {
    const started = await ask('Pay 25000 to ACME');
    const { id } = await approvalFor('Pay 25000 to ACME');
    const owner = await signIn('olga');
    expect(card(owner.page, 'Pay 25000 to ACME')).toContain('Needs a second approver after you.');
    const afterOwner = await owner.browser.submit(owner.page, new RegExp(`/${id}/approve$`), { password: PASSWORD }, 'never:') as Page;
    expect(afterOwner.status).toBe(200);
    // Still pending: the owner's card has no Approve button any more, and the agent is told to keep waiting.
    expect(card(afterOwner, 'Pay 25000 to ACME')).toMatch(/Approved by olga; waits for a second approver/);
    expect(card(afterOwner, 'Pay 25000 to ACME')).not.toContain(`/${id}/approve`);
    expect(await poll(started.auth_req_id)).toMatchObject({ status: 400, body: { error: 'authorization_pending' } });

    // Someone not named sees nothing of it.
    const stranger = await signIn('mallory');
    expect(card(stranger.page, 'Pay 25000 to ACME')).toBeUndefined();
    const cfo = await signIn('cfo');
    expect(card(cfo.page, 'Pay 25000 to ACME')).toMatch(/Approved by olga; waits for a second approver/);
    const decided = await cfo.browser.submit(cfo.page, new RegExp(`/${id}/approve$`), { password: PASSWORD }, 'never:') as Page;
    expect(decided.status).toBe(200);
    const tokens = await tokensFor(started);
    expect(decodeJwt(tokens.access_token)).toMatchObject({ sub: users.olga, act: { sub: agent.id }, authorization_details: detail('Pay 25000 to ACME') });
    const approval = await call('GET', `/admin/approvals/${id}`);
    expect(approval.body).toMatchObject({
      status: 'approved', second_approvers: [users.cfo, users.controller],
      first_approval: { approver: { via: 'inbox', user_id: users.olga, reauthenticated: true } },
      decided_by: { via: 'inbox', user_id: users.cfo, reauthenticated: true },
    });
    expect(await audited(id)).toEqual(['approval.approved:success', 'approval.first_approved:success', 'approval.requested:success']);
  });

  it('through the admin API: wrong order, wrong approver, missing or wrong password are refused, nothing issued', async () => {
    const started = await ask('Pay 25000 to Initech');
    const { id } = await approvalFor('Pay 25000 to Initech');
    expect(await call('POST', `/admin/approvals/${id}/approve`, { user_id: users.cfo, password: PASSWORD })).toMatchObject({ status: 400, body: { field: 'user_id', error_description: 'user_id: the user this request is addressed to approves it first' } });
    expect(await call('POST', `/admin/approvals/${id}/approve`, {})).toMatchObject({ status: 403, body: { error: 'access_denied' } });
    const first = await call('POST', `/admin/approvals/${id}/approve`, { password: PASSWORD });
    expect(first).toMatchObject({ status: 200, body: { status: 'pending', awaiting_second_approver: true, first_approval: { approver: { user_id: users.olga } } } });
    expect((await call('POST', `/admin/approvals/${id}/approve`, { password: PASSWORD })).body).toMatchObject({ field: 'user_id' });
    expect(await call('POST', `/admin/approvals/${id}/approve`, { user_id: users.olga, password: PASSWORD })).toMatchObject({ status: 403, body: { error: 'access_denied', error_description: 'this request has your approval already; it waits for a second approver' } });
    expect(await call('POST', `/admin/approvals/${id}/approve`, { user_id: users.mallory, password: PASSWORD })).toMatchObject({ status: 403, body: { error_description: 'this request waits for a second approver, and you are not one of those its approval tiers name' } });
    expect(await call('POST', `/admin/approvals/${id}/approve`, { user_id: users.controller, password: 'wrong' })).toMatchObject({ status: 403, body: { error: 'access_denied' } });
    expect(await poll(started.auth_req_id)).toMatchObject({ status: 400, body: { error: 'authorization_pending' } });
    expect((await approvalFor('Pay 25000 to Initech')).status).toBe('pending');
    expect(await call('POST', `/admin/approvals/${id}/approve`, { user_id: users.controller, password: PASSWORD })).toMatchObject({ status: 200, body: { status: 'approved', decided_by: { user_id: users.controller } } });
    expect((await tokensFor(started)).access_token).toEqual(expect.any(String));
  });

  it('a second approver may deny: access_denied for the agent', async () => {
    const started = await ask('Pay 25000 to Hooli');
    const { id } = await approvalFor('Pay 25000 to Hooli');
    expect((await call('POST', `/admin/approvals/${id}/approve`, { password: PASSWORD })).status).toBe(200);
    const cfo = await signIn('cfo');
    await cfo.browser.submit(cfo.page, new RegExp(`/${id}/deny$`), {}, 'never:');
    await expect(tokensFor(started)).rejects.toMatchObject({ error: 'access_denied' });
    expect((await call('GET', `/admin/approvals/${id}`)).body).toMatchObject({ status: 'denied', decided_by: { via: 'inbox', user_id: users.cfo } });
  });

  it('a rule whose only second approver is the user asked first cannot be met: access_denied, nothing recorded', async () => {
    await expect(ask('Refund 25000', 'payments.refund')).rejects.toMatchObject({ error: 'access_denied', error_description: 'this request needs a second approver, and the only one its approval tiers name is the user asked first' });
    expect(await approvalFor('Refund 25000')).toBeUndefined();
  });

  it('refuses a second approver on a rule that is not strong, and one who is not a user', async () => {
    expect(await call('PUT', `/admin/approval-tiers/${agent.id}`, { rules: [{ scopes: ['payments:write'], tier: 'soft', second_approvers: [users.cfo] }] }))
      .toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    expect(await call('PUT', `/admin/approval-tiers/${agent.id}`, { rules: [{ scopes: ['payments:write'], tier: 'strong', second_approvers: [users.cfo, 'nobody'] }] }))
      .toMatchObject({ status: 400, body: { field: 'rules.0.second_approvers.1', error_description: 'rules.0.second_approvers.1: "nobody" is not a user of this server' } });
  });

  it.runIf(mode === 'redis+postgres')('racing approvers on two instances, three rounds: each step decides once, the other is told', async () => {
    const sibling = await server.startSibling();
    for (const round of [1, 2, 3]) {
      const message = `Pay 25000 to Globex, round ${round}`;
      const started = await ask(message);
      const { id } = await approvalFor(message);
      // The named user's approval sent twice at once, to each instance: recorded once.
      const firsts = await Promise.all([server.url, sibling.url].map((base) => call('POST', `/admin/approvals/${id}/approve`, { password: PASSWORD }, base)));
      expect(firsts.map((answer) => answer.status).sort()).toEqual([200, 409]);
      // Two second approvers at once, one per instance: one decides.
      const seconds = await Promise.all([
        call('POST', `/admin/approvals/${id}/approve`, { user_id: users.cfo, password: PASSWORD }, server.url),
        call('POST', `/admin/approvals/${id}/approve`, { user_id: users.controller, password: PASSWORD }, sibling.url),
      ]);
      expect(seconds.map((answer) => answer.status).sort()).toEqual([200, 409]);
      expect((await tokensFor(started)).access_token).toEqual(expect.any(String));
      const events = await audited(id);
      expect(events.filter((event) => event === 'approval.first_approved:success')).toHaveLength(1);
      expect(events.filter((event) => event === 'approval.approved:success')).toHaveLength(1);
    }
  });
});
