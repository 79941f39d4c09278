// grants/ciba.ts on its own (OpenID CIBA Core 1.0, poll mode): our answers to oidc-provider's CIBA hooks at the
// backchannel authentication endpoint, and the token endpoint's checks in front of oidc-provider's own CIBA grant,
// on a real provider (test/support/token-endpoint.ts) with stand-ins for the user, agent, role and approval stores,
// the poll counter and the audit trail. An approval is completed as server/approval-decisions.ts does it, through
// oidc-provider's backchannelResult.
import Provider, { errors } from 'oidc-provider';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Agent } from '../../adapters/agent-store.ts';
import type { Approval, NewApproval } from '../../adapters/approval-store.ts';
import type { AuditEvent } from '../../adapters/audit-log.ts';
import { backchannelRequestLifetime, cibaFeature, cibaGrantHandler, grant, type CibaDependencies } from '../../grants/ciba.ts';
import { NO_APPROVAL_POLICY, type ApprovalPolicy } from '../../policy/approval-tiers.ts';
import { confidentialClient, dpopKey, tokenEndpoint, type Answer, type TokenEndpoint, withAgentRecords } from '../support/token-endpoint.ts';

const FILES = 'https://files.example';

const agent = { id: 'agent_c', ownerId: 'owner-1', status: 'active', scopes: ['files:read'], orgId: 'default' } as unknown as Agent;
const users: Record<string, { id: string; username: string; orgId: string }> = {
  'owner-1': { id: 'owner-1', username: 'olivia', orgId: 'default' },
  'user-2': { id: 'user-2', username: 'bob', orgId: 'default' },
  'outsider-1': { id: 'outsider-1', username: 'eve', orgId: 'other' },
};

// The approval store: records kept by id, found by auth_req_id.
const approvals = new Map<string, Approval>();
let policies: Record<string, ApprovalPolicy> = {};
const approvalStore = {
  policyOf: vi.fn(async (clientId: string) => policies[clientId] ?? NO_APPROVAL_POLICY),
  record: vi.fn(async (input: NewApproval) => {
    const approval: Approval = { ...input, id: `apr_${approvals.size + 1}`, status: 'pending', createdAt: new Date(), decidedAt: null, decidedBy: null, firstApproval: null };
    approvals.set(approval.id, approval);
    return approval;
  }),
  findByAuthReqId: vi.fn(async (authReqId: string) => [...approvals.values()].find((approval) => approval.authReqId === authReqId)),
  // Conditional, as the real one: only a pending approval becomes expired.
  expire: vi.fn(async (id: string) => {
    const approval = approvals.get(id);
    if (!approval || approval.status !== 'pending') return undefined;
    approval.status = 'expired';
    return approval;
  }),
};
// One poll per interval per auth_req_id: a second consume before `release` is refused.
const polled = new Set<string>();
const polls = { consume: vi.fn(async (key: string) => (polled.has(key) ? { refusedMs: 5000, crossed: false, consumed: 2 } : (polled.add(key), { refusedMs: 0, crossed: false, consumed: 1 }))) };
const audited: AuditEvent[] = [];
const lookups = {
  agents: { get: vi.fn(async (id: string) => (id === agent.id ? agent : undefined)) },
  users: { findById: vi.fn(async (id: string) => users[id]), findByUsername: vi.fn(async (name: string) => Object.values(users).find((user) => user.username === name)) },
};
const deps = {
  ...lookups,
  roles: { grantsOf: vi.fn(async () => ({ roles: ['archivist'], patterns: ['archive:read'] })) },
  approvals: approvalStore,
  audit: { record: (event: AuditEvent) => audited.push(event) },
  polls,
  pollInterval: 5,
  pending: vi.fn(),
  organizations: { ...lookups, resources: { get: async () => undefined }, organizations: { allowsActor: async () => false } },
} as unknown as CibaDependencies;

const cibaClient = (clientId: string) => confidentialClient(clientId, [grant.grantType], { backchannel_token_delivery_mode: 'poll', id_token_signed_response_alg: 'RS256' });

let endpoint: TokenEndpoint;
let provider: Provider;
beforeAll(async () => {
  endpoint = await tokenEndpoint({
    grantType: grant.grantType,
    parameters: grant.parameters,
    allowedDuplicateParameters: grant.allowedDuplicateParameters,
    handler: (it) => cibaGrantHandler(it, deps),
    clients: withAgentRecords([
      cibaClient('agent_c'), cibaClient('app-c'),
      confidentialClient('ping-app', [grant.grantType], {
        backchannel_token_delivery_mode: 'ping', backchannel_client_notification_endpoint: 'https://ping-app.example/cb', id_token_signed_response_alg: 'RS256',
      }),
    ], [agent]),
    resources: [{ identifier: FILES, scopes: ['files:read', 'files:write'] }, { identifier: 'https://archive.example', scopes: ['archive:read'] }],
    configuration: {
      async findAccount(_ctx, sub) {
        return users[sub] && { accountId: sub, claims: async () => ({ sub }) };
      },
      ttl: { BackchannelAuthenticationRequest: backchannelRequestLifetime },
      features: { ciba: cibaFeature(deps) },
    },
  });
  provider = endpoint.provider;
});
afterAll(() => endpoint.close());
beforeEach(() => {
  endpoint.writes.length = 0;
  approvals.clear();
  polled.clear();
  audited.length = 0;
  policies = {};
  vi.clearAllMocks();
});

function backchannel(clientId: string, params: Record<string, string> = {}) {
  return endpoint.post('/backchannel', { client_id: clientId, scope: 'openid files:read', login_hint: 'owner', binding_message: 'Read the Q3 report', ...params });
}

const backchannelWrites = () => endpoint.writes.filter((write) => write.model === 'BackchannelAuthenticationRequest');

/** A backchannel refusal: the exact error and description, no request stored and no approval recorded. */
async function expectBackchannelRefusal(response: Promise<Answer>, status: number, error: string, description: string) {
  const { status: actual, body } = await response;
  expect({ status: actual, error: body.error, error_description: body.error_description }).toEqual({ status, error, error_description: description });
  expect(backchannelWrites()).toEqual([]);
  expect(approvalStore.record).not.toHaveBeenCalled();
  expect(deps.pending).not.toHaveBeenCalled();
  expect(audited).toEqual([]);
}

/** A backchannel request made and recorded; its auth_req_id and approval. */
async function requested(clientId = 'agent_c', params: Record<string, string> = {}): Promise<{ authReqId: string; approval: Approval }> {
  const { status, body } = await backchannel(clientId, params);
  expect(status).toBe(200);
  const authReqId = body.auth_req_id as string;
  return { authReqId, approval: (await approvalStore.findByAuthReqId(authReqId))! };
}

const poll = (clientId: string, authReqId: string, headers?: Record<string, string>) => endpoint.token({ client_id: clientId, auth_req_id: authReqId }, headers);

/** Completes the request as an approver does (server/approval-decisions.ts). */
async function approve(authReqId: string, approval: Approval) {
  const decided = new provider.Grant({ clientId: approval.clientId, accountId: approval.userId });
  decided.addOIDCScope('openid');
  decided.addResourceScope(FILES, 'files:read');
  await decided.save();
  await provider.backchannelResult(authReqId, decided);
  approval.status = 'approved';
}

describe('CIBA backchannel request: recorded for approval', () => {
  it('names the agent\'s owner, records the approval tiered soft at least, and tells the client how often to poll', async () => {
    const { status, body } = await backchannel('agent_c', { requested_expiry: '120' });
    expect(status).toBe(200);
    expect(body).toEqual({ auth_req_id: expect.any(String), expires_in: 120, interval: 5 });
    expect(approvalStore.record).toHaveBeenCalledExactlyOnceWith({
      authReqId: body.auth_req_id, clientId: 'agent_c', userId: 'owner-1', scope: ['openid', 'files:read'], authorizationDetails: null,
      bindingMessage: 'Read the Q3 report', tier: 'soft', reasons: [{ target: { scope: 'files:read' }, rule: undefined, tier: 'autonomous' }],
      secondApprovers: [], expiresAt: expect.any(Date), orgId: 'default',
    });
    const [{ expiresAt }] = approvalStore.record.mock.calls[0];
    expect(Math.abs(expiresAt.getTime() - (Date.now() + 120_000))).toBeLessThan(5_000);
    expect(deps.pending).toHaveBeenCalledExactlyOnceWith(approvals.get('apr_1'));
    // The first interval starts at once.
    expect(polls.consume).toHaveBeenCalledExactlyOnceWith(body.auth_req_id);
    expect(audited).toEqual([expect.objectContaining({
      event: 'approval.requested', outcome: 'success', clientId: 'agent_c', subject: 'owner-1',
      details: { approval: 'apr_1', tier: 'soft', scope: 'openid files:read', authorization_details_types: [], binding_message: 'Read the Q3 report' },
    })]);
  });

  it('caps requested_expiry at ten minutes', async () => {
    expect((await backchannel('agent_c', { requested_expiry: '86400' })).body.expires_in).toBe(600);
  });

  it('finds a user by username, and needs no binding message from a client that is not an agent', async () => {
    const { approval } = await requested('app-c', { login_hint: 'bob', binding_message: '' });
    expect(approval).toMatchObject({ clientId: 'app-c', userId: 'user-2', bindingMessage: null });
  });

  it('starts no poll interval for a client that is pinged', async () => {
    const { status, body } = await backchannel('ping-app', { login_hint: 'bob', client_notification_token: 'notify-me' });
    expect(status).toBe(200);
    expect(body.interval).toBe(5);
    expect(polls.consume).not.toHaveBeenCalled();
  });

  it('lets an agent ask for what its roles allow, and records the strict tier with the second approvers other than the user', async () => {
    policies.agent_c = { rules: [{ scopes: ['archive:*'], tier: 'strong', second_approvers: ['owner-1', 'user-2'] }], default: 'autonomous' };
    const { approval } = await requested('agent_c', { scope: 'openid archive:read' });
    expect(approval).toMatchObject({ tier: 'strong', secondApprovers: ['user-2'], scope: ['openid', 'archive:read'] });
  });
});

describe('CIBA backchannel request: refused before anything is recorded', () => {
  it('refuses "owner" from a client without an owner with unknown_user_id', async () => {
    await expectBackchannelRefusal(backchannel('app-c'), 400, 'unknown_user_id', 'login_hint "owner" names the client\'s owner, and this client has none (agents always have one)');
  });

  it('refuses a login_hint naming nobody (or too long to be anyone) with unknown_user_id', async () => {
    await expectBackchannelRefusal(backchannel('agent_c', { login_hint: 'nobody' }), 400, 'unknown_user_id', 'could not identify end-user');
    expect(lookups.users.findByUsername).toHaveBeenCalledWith('nobody');
    vi.clearAllMocks();
    await expectBackchannelRefusal(backchannel('agent_c', { login_hint: 'b'.repeat(513) }), 400, 'unknown_user_id', 'could not identify end-user');
    expect(lookups.users.findById).not.toHaveBeenCalled();
  });

  it('refuses a user of another organization with unauthorized_client', async () => {
    await expectBackchannelRefusal(
      backchannel('agent_c', { login_hint: 'outsider-1' }), 400, 'unauthorized_client',
      'this client belongs to another organization than the user: organization "default" may not act for principals of organization "other" (the operator has not allowed it)',
    );
  });

  it('refuses a login_hint_token', async () => {
    await expectBackchannelRefusal(
      backchannel('agent_c', { login_hint: '', login_hint_token: 'hint' }), 400, 'invalid_request',
      'login_hint_token is not supported here: name the user with login_hint (a user id, a username, or "owner")',
    );
  });

  it('refuses a user_code', async () => {
    await expectBackchannelRefusal(backchannel('agent_c', { user_code: '1234' }), 400, 'invalid_user_code', 'user codes are not in use at this server; send the request without user_code');
  });

  it('refuses an agent\'s request without a binding message, and any malformed one', async () => {
    await expectBackchannelRefusal(backchannel('agent_c', { binding_message: '' }), 400, 'invalid_binding_message', 'binding_message is required for agents: it tells the approver what the request is for');
    const malformed = 'binding_message must be 1–100 letters, digits, punctuation, symbols or spaces';
    await expectBackchannelRefusal(backchannel('agent_c', { binding_message: 'line one\nline two' }), 400, 'invalid_binding_message', malformed);
    await expectBackchannelRefusal(backchannel('app-c', { login_hint: 'bob', binding_message: 'x'.repeat(101) }), 400, 'invalid_binding_message', malformed);
  });

  it('refuses a request_context', async () => {
    await expectBackchannelRefusal(backchannel('agent_c', { request_context: '{"ip":"192.0.2.1"}' }), 400, 'invalid_request', 'request_context is not supported');
  });

  it('refuses an agent a scope its and its roles\' patterns do not allow with invalid_scope', async () => {
    await expectBackchannelRefusal(backchannel('agent_c', { scope: 'openid files:write' }), 400, 'invalid_scope', 'scope "files:write" is not allowed for this agent');
  });

  it('refuses a request whose only second approver is the user asked first with access_denied, and drops the stored request', async () => {
    policies.agent_c = { rules: [{ scopes: ['files:*'], tier: 'strong', second_approvers: ['owner-1'] }], default: 'autonomous' };
    const { status, body } = await backchannel('agent_c');
    expect({ status, ...body }).toEqual({
      status: 400, error: 'access_denied', error_description: 'this request needs a second approver, and the only one its approval tiers name is the user asked first',
    });
    expect(approvalStore.record).not.toHaveBeenCalled();
    expect(audited).toEqual([]);
    const [stored] = backchannelWrites();
    expect(await provider.BackchannelAuthenticationRequest.find(stored.id)).toBeUndefined();
  });
});

describe('CIBA token request', () => {
  it('tells a client polling within the interval to slow down, and that the request is pending otherwise', async () => {
    const { authReqId } = await requested();
    const early = await poll('agent_c', authReqId);
    expect({ status: early.status, ...early.body }).toEqual({
      status: 400, error: 'slow_down', error_description: 'poll at most every 5 seconds (CIBA §7.3 interval), and add 5 seconds after each slow_down',
    });
    polled.clear();
    expect((await poll('agent_c', authReqId)).body.error).toBe('authorization_pending');
  });

  it('issues the approved token once', async () => {
    const { authReqId, approval } = await requested();
    await approve(authReqId, approval);
    const { status, body } = await poll('agent_c', authReqId);
    expect(status).toBe(200);
    expect(body).toMatchObject({ access_token: expect.any(String), token_type: 'Bearer', scope: 'files:read', id_token: expect.any(String) });
    expect(endpoint.tokenWrites()).toEqual([expect.objectContaining({ payload: expect.objectContaining({ kind: 'AccessToken', gty: 'ciba', accountId: 'owner-1', clientId: 'agent_c', aud: FILES }) })]);
    expect((await poll('agent_c', authReqId)).body.error).toBe('invalid_grant');
  });

  it('refuses a request past its expiry with expired_token, expiring and auditing the approval once', async () => {
    const { authReqId, approval } = await requested();
    approval.expiresAt = new Date(Date.now() - 1000);
    const description = 'the backchannel authentication request expired before it was approved; make a new request';
    for (const _attempt of [1, 2]) {
      const { status, body } = await poll('agent_c', authReqId);
      expect({ status, error: body.error, error_description: body.error_description }).toEqual({ status: 400, error: 'expired_token', error_description: description });
    }
    expect(approvalStore.expire).toHaveBeenCalledTimes(2);
    expect(audited.filter((event) => event.event === 'approval.expired')).toEqual([expect.objectContaining({
      outcome: 'failure', clientId: 'agent_c', subject: 'owner-1', reason: 'nobody decided before the request expired', details: { approval: approval.id, tier: 'soft' },
    })]);
    expect(endpoint.tokenWrites()).toEqual([]);
  });

  it('refuses to redeem an approved agent_action without a DPoP proof, leaving it redeemable with one', async () => {
    const { authReqId, approval } = await requested();
    approval.authorizationDetails = [{ type: 'agent_action', action: 'files.delete' }];
    await approve(authReqId, approval);
    const { status, body } = await poll('agent_c', authReqId);
    expect({ status, error: body.error, error_description: body.error_description }).toEqual({
      status: 400, error: 'invalid_request',
      error_description: 'this request\'s authorization_details include agent_action: the token request must carry a DPoP proof (RFC 9449) so the token is bound to the agent\'s key',
    });
    expect(endpoint.tokenWrites()).toEqual([]);
    const key = await dpopKey();
    const bound = await poll('agent_c', authReqId, { dpop: await key.proof(endpoint.url) });
    expect(bound.status).toBe(200);
    expect(bound.body.token_type).toBe('DPoP');
  });

  it('tells the client why a request was denied, from the approval\'s record', async () => {
    const { authReqId, approval } = await requested();
    await provider.backchannelResult(authReqId, new errors.AccessDenied());
    Object.assign(approval, { status: 'denied', decidedBy: { via: 'admin_api', reason: 'not during the freeze' } });
    expect((await poll('agent_c', authReqId)).body).toEqual({ error: 'access_denied', error_description: 'not during the freeze' });

    const other = await requested();
    await provider.backchannelResult(other.authReqId, new errors.AccessDenied());
    Object.assign(other.approval, { status: 'denied', decidedBy: { via: 'admin_api' } });
    expect((await poll('agent_c', other.authReqId)).body).toEqual({ error: 'access_denied', error_description: 'the request was denied' });
  });

  it('leaves another client\'s auth_req_id to oidc-provider, which refuses it, with none of our checks run', async () => {
    const { authReqId, approval } = await requested();
    approval.expiresAt = new Date(Date.now() - 1000);
    const { status, body } = await poll('app-c', authReqId);
    expect({ status, error: body.error }).toEqual({ status: 400, error: 'invalid_grant' });
    expect(approvalStore.expire).not.toHaveBeenCalled();
  });
});
