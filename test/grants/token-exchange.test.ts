// grants/token-exchange.ts on its own (RFC 8693): the handler its factory builds, on a real oidc-provider token
// endpoint (test/support/token-endpoint.ts), with stand-ins for the presented-token verifier (which tokens are
// "active" is the test's to say), the agent registry, the roles and the lineage store. The Txn-Token and ID-JAG
// branches have files of their own (transaction-token.test.ts, id-jag-issuance.test.ts); here only that the
// requested_token_type dispatches to them.
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Agent } from '../../adapters/agent-store.ts';
import type { Lineage } from '../../adapters/token-lineage.ts';
import { grant, tokenExchangeHandler, type TokenExchangeDependencies } from '../../grants/token-exchange.ts';
import { TOKEN_TYPE } from '../../tokens/token-types.ts';
import { now, presentedTokens, userToken } from '../support/presented-tokens.ts';
import { ISSUER, claimsOf, confidentialClient, dpopKey, onlyToken, tokenEndpoint, type TokenEndpoint, withAgentRecords, singleOrganization } from '../support/token-endpoint.ts';

const FILES = 'https://files.example';
const MAIL = 'https://mail.example';
const DOCS = 'https://docs.example';

const agentRecord = (id: string, fields: Partial<Agent> = {}) => ({
  id, ownerId: 'owner-1', status: 'active', scopes: ['files:*', 'mail:read', 'docs:read'], defaultScopes: [], resources: null, accessTokenTtl: null, ...fields,
}) as Agent;
const agents = new Map([
  agentRecord('agent_x'),
  agentRecord('agent_files_only', { resources: [FILES], scopes: ['files:*', 'mail:read'] }),
  agentRecord('agent_short', { accessTokenTtl: 30 }),
  agentRecord('agent_shallow'),
  agentRecord('agent_strict'),
  agentRecord('agent_impersonator'),
  agentRecord('agent_fenced'),
].map((agent) => [agent.id, agent]));

const presented = presentedTokens();
const { active } = presented;
const lineage = { record: vi.fn(async (_id: string, _lineage: Lineage, _expiresIn: number) => {}), find: vi.fn() };

const deps = {
  issuer: ISSUER,
  agents: { get: vi.fn(async (id: string) => agents.get(id)) },
  roles: { grantsOf: vi.fn(async () => ({ roles: [], patterns: [] })) },
  presented,
  lineage,
  jwtRecords: { of: (jti: string) => `jwt-record:${jti}` },
  delegationDefaults: { maxDepth: 3, humanRootRequired: false, impersonation: false },
  // The Txn-Token service and the ID-JAG issuer are only reached through the dispatch here.
  transactionTokens: { trustDomain: 'trust.example', signer: {}, lifetime: 60, maxContextBytes: 1024 },
  idJag: { issuer: ISSUER, audiences: { get: vi.fn() }, users: { findById: vi.fn() }, presented, signer: {} },
} as unknown as TokenExchangeDependencies;

const exchangeClient = (clientId: string, metadata?: Record<string, unknown>) => confidentialClient(clientId, [grant.grantType], metadata);

let endpoint: TokenEndpoint;
beforeAll(async () => {
  endpoint = await tokenEndpoint({
    grantType: grant.grantType,
    parameters: grant.parameters,
    allowedDuplicateParameters: grant.allowedDuplicateParameters,
    handler: () => tokenExchangeHandler(deps),
    clients: withAgentRecords([
      exchangeClient('agent_x'),
      exchangeClient('agent_files_only'),
      exchangeClient('agent_short'),
      exchangeClient('agent_shallow', { delegation_policy: { max_depth: 1 } }),
      exchangeClient('agent_strict', { delegation_policy: { human_root_required: true } }),
      exchangeClient('agent_impersonator', { delegation_policy: { impersonation: true } }),
      exchangeClient('agent_fenced', { delegation_policy: { allowed_audiences: [FILES] } }),
      exchangeClient('gateway'),
      // Registered with an OpenID Connect scope list, as RFC 7591 clients often are (only static scopes can be listed).
      exchangeClient('scoped-app', { scope: 'openid profile' }),
      // The clients subject tokens were issued to; their policies say who may act on their tokens.
      exchangeClient('app'),
      exchangeClient('restricted-app', { delegation_policy: { allowed_actors: ['agent_trusted'] } }),
    ], agents.values()),
    resources: [
      { identifier: FILES, scopes: ['files:read', 'files:write'] },
      { identifier: MAIL, scopes: ['mail:read'] },
      { identifier: DOCS, scopes: ['docs:read'], tokenFormat: 'jwt' },
    ],
  });
});
afterAll(() => endpoint.close());
beforeEach(() => {
  endpoint.writes.length = 0;
  lineage.record.mockClear();
  presented.accept.mockClear();
  for (const value of Object.keys(active)) delete active[value];
  active['user-token'] = userToken();
});

function exchange(clientId: string, params: Record<string, string | string[]> = {}, headers?: Record<string, string>) {
  return endpoint.token({ client_id: clientId, subject_token: 'user-token', subject_token_type: TOKEN_TYPE.accessToken, ...params }, headers);
}

/** A refusal: the status, the exact error and description, and nothing stored (no token, no lineage). */
async function expectRefusal(response: Promise<{ status: number; body: Record<string, unknown> }>, error: string, description: string) {
  const { status, body } = await response;
  expect({ status, error: body.error, error_description: body.error_description }).toEqual({ status: 400, error, error_description: description });
  expect(endpoint.tokenWrites()).toEqual([]);
  expect(lineage.record).not.toHaveBeenCalled();
  return body;
}

describe('token exchange: the request (RFC 8693 §2.1)', () => {
  it.each([
    [{ subject_token: '' }, "missing required parameter 'subject_token'"],
    [{ subject_token_type: '' }, "missing required parameter 'subject_token_type'"],
    [{ actor_token: 'actor' }, 'actor_token_type is required when actor_token is present'],
    [{ actor_token_type: TOKEN_TYPE.accessToken }, 'actor_token_type must not be sent without actor_token'],
    [{ requested_token_type: TOKEN_TYPE.refreshToken }, `requested_token_type "${TOKEN_TYPE.refreshToken}" is not supported; this server issues access tokens (${TOKEN_TYPE.accessToken}), Txn-Tokens (${TOKEN_TYPE.txnToken}) and ID-JAGs (${TOKEN_TYPE.idJag})`],
  ])('refuses %j with invalid_request before looking at any token', async (params, description) => {
    await expectRefusal(exchange('agent_x', params), 'invalid_request', description);
    expect(presented.accept).not.toHaveBeenCalled();
  });

  it('refuses a subject token the verifier does not accept with invalid_request and its reason (§2.2.2)', async () => {
    await expectRefusal(exchange('agent_x', { subject_token: 'revoked' }), 'invalid_request', 'subject_token is not active (unknown, expired or revoked)');
  });

  // So checkRequest's own "must not be repeated" is never reached through the endpoint.
  it('has a repeated single-valued parameter refused by oidc-provider before the handler runs', async () => {
    await expectRefusal(exchange('agent_x', { subject_token: ['user-token', 'user-token'] }), 'invalid_request', "'subject_token' parameter must not be provided twice");
    expect(presented.accept).not.toHaveBeenCalled();
  });

  it('refuses more than one target with invalid_target (RFC 8707 §2.2)', async () => {
    await expectRefusal(exchange('agent_x', { audience: FILES, resource: MAIL }), 'invalid_target', 'only one audience or resource may be requested per exchange');
  });
});

describe('token exchange: dispatch on requested_token_type', () => {
  it('sends a Txn-Token request to the Transaction Token Service', async () => {
    await expectRefusal(
      exchange('agent_x', { requested_token_type: TOKEN_TYPE.txnToken }), 'unauthorized_client',
      'this client is not a workload the operator allows to request Txn-Tokens (txn_token_policy)',
    );
  });

  it('sends an ID-JAG request to the ID-JAG issuer', async () => {
    await expectRefusal(
      exchange('agent_x', { requested_token_type: TOKEN_TYPE.idJag }), 'invalid_request',
      `an ID-JAG is issued for an ID token this server issued to the client (subject_token_type ${TOKEN_TYPE.idToken})`,
    );
  });

  it('issues an access token when the access token type is asked for by name', async () => {
    const { status, body } = await exchange('agent_x', { requested_token_type: TOKEN_TYPE.accessToken, scope: 'files:read' });
    expect(status).toBe(200);
    expect(body.issued_token_type).toBe(TOKEN_TYPE.accessToken);
  });
});

describe('token exchange: the issued access token', () => {
  it('is the subject\'s, acted for by the client (act), for the subject token\'s resource, and remembers its lineage', async () => {
    const { status, body } = await exchange('agent_x', { scope: 'files:read' });
    expect(status).toBe(200);
    expect(body).toEqual({ access_token: expect.any(String), token_type: 'Bearer', expires_in: 600, scope: 'files:read', issued_token_type: TOKEN_TYPE.accessToken });
    const stored = onlyToken(endpoint);
    expect(stored).toMatchObject({ kind: 'AccessToken', accountId: 'user-1', clientId: 'agent_x', gty: 'token_exchange', aud: FILES, scope: 'files:read', extra: { act: { sub: 'agent_x' } } });
    expect(stored.extra).not.toHaveProperty('may_act');
    expect(lineage.record).toHaveBeenCalledExactlyOnceWith(stored.jti, { ancestors: [{ kind: 'AccessToken', id: 'at-user' }], rootIsPerson: true, rootClientId: 'app' }, 600);
  });

  it('carries the subject token\'s whole scope within the agent\'s patterns when none is requested', async () => {
    active['user-token'] = userToken({ scopes: ['files:read', 'files:write', 'calendar:read'] });
    const { body } = await exchange('agent_x');
    expect(body.scope).toBe('files:read files:write');
  });

  it('nests the client outside the subject token\'s earlier actors (§4.1), and keeps its may_act', async () => {
    active['user-token'] = userToken({ act: { sub: 'agent_y' }, mayAct: { sub: 'agent_x' } });
    expect((await exchange('agent_x', { scope: 'files:read' })).status).toBe(200);
    expect(onlyToken(endpoint).extra).toEqual({ act: { sub: 'agent_x', act: { sub: 'agent_y' } }, may_act: { sub: 'agent_x' } });
  });

  it('names the actor of an actor_token (with its issuer when foreign), lives no longer than it, and descends from both tokens', async () => {
    active.actor = userToken({
      subject: 'agent-in-partner', issuer: 'https://idp.partner.example', clientId: 'agent_x', expiresAt: now() + 90,
      lineage: [{ kind: 'ClientCredentials', id: 'cc-actor' }], audiences: undefined, rootIsPerson: false,
    });
    const { status, body } = await exchange('agent_x', { scope: 'files:read', actor_token: 'actor', actor_token_type: TOKEN_TYPE.jwt });
    expect(status).toBe(200);
    expect(body.expires_in).toBeGreaterThanOrEqual(89);
    expect(body.expires_in).toBeLessThanOrEqual(90);
    expect(onlyToken(endpoint).extra).toEqual({ act: { sub: 'agent-in-partner', iss: 'https://idp.partner.example' } });
    const [, recorded, lifetime] = lineage.record.mock.calls[0];
    expect(recorded.ancestors).toEqual([{ kind: 'AccessToken', id: 'at-user' }, { kind: 'ClientCredentials', id: 'cc-actor' }]);
    expect(lifetime).toBe(body.expires_in);
  });

  it('lives no longer than the subject token has left, nor than the agent\'s own limit', async () => {
    active['user-token'] = userToken({ expiresAt: now() + 42 });
    const { body } = await exchange('agent_x', { scope: 'files:read' });
    expect(body.expires_in).toBeGreaterThanOrEqual(41);
    expect(body.expires_in).toBeLessThanOrEqual(42);
    expect(lineage.record.mock.calls[0][2]).toBe(body.expires_in);
    endpoint.writes.length = 0;
    expect((await exchange('agent_short', { scope: 'files:read' })).body.expires_in).toBe(30);
  });

  it('has no `act` when the client\'s policy allows impersonation and no actor_token is sent', async () => {
    const { status } = await exchange('agent_impersonator', { scope: 'files:read' });
    expect(status).toBe(200);
    const stored = onlyToken(endpoint);
    expect(stored.accountId).toBe('user-1');
    expect(stored.extra).toBeUndefined();
  });

  it('is for the resource its scope refers to when the subject token is bound to none', async () => {
    active['user-token'] = userToken({ audiences: undefined, scopes: ['mail:read'] });
    const { status, body } = await exchange('gateway', { scope: 'mail:read' });
    expect(status).toBe(200);
    expect(body.scope).toBe('mail:read');
    expect(onlyToken(endpoint).aud).toBe(MAIL);
  });

  it('records the lineage of a JWT access token under the id its record is stored by', async () => {
    active['user-token'] = userToken({ audiences: [DOCS], scopes: ['docs:read'] });
    const { status, body } = await exchange('agent_x', { scope: 'docs:read' });
    expect(status).toBe(200);
    const { jti, sub, act } = claimsOf(body.access_token);
    expect({ sub, act }).toEqual({ sub: 'user-1', act: { sub: 'agent_x' } });
    expect(lineage.record.mock.calls[0][0]).toBe(`jwt-record:${jti}`);
  });

  it('is bound to the key of a DPoP-bound subject token when the proof is made with it', async () => {
    const key = await dpopKey();
    active['user-token'] = userToken({ jkt: key.thumbprint });
    const { status, body } = await exchange('agent_x', { scope: 'files:read' }, { dpop: await key.proof(endpoint.url) });
    expect(status).toBe(200);
    expect(body.token_type).toBe('DPoP');
    expect(onlyToken(endpoint).jkt).toBe(key.thumbprint);
  });

  it('takes the target from `audience` as from `resource`', async () => {
    expect((await exchange('agent_x', { audience: FILES, scope: 'files:read' })).status).toBe(200);
    expect(onlyToken(endpoint).aud).toBe(FILES);
  });

  it('applies no policy of ours to a trusted issuer\'s token, whatever client id it names', async () => {
    active['user-token'] = userToken({ issuer: 'https://idp.partner.example', clientId: 'restricted-app', rootClientId: undefined, lineage: [] });
    expect((await exchange('agent_x', { scope: 'files:read' })).status).toBe(200);
  });

  it('sends no `scope` when neither the request nor the subject token has any', async () => {
    active['user-token'] = userToken({ scopes: [] });
    const { status, body } = await exchange('agent_x');
    expect(status).toBe(200);
    expect(body).not.toHaveProperty('scope');
  });
});

describe('token exchange: refusals', () => {
  it('refuses an actor_token issued to another client', async () => {
    active.actor = userToken({ subject: 'agent_y', clientId: 'agent_y' });
    await expectRefusal(exchange('agent_x', { actor_token: 'actor', actor_token_type: TOKEN_TYPE.accessToken }), 'invalid_request', 'actor_token was not issued to this client');
  });

  it('refuses a DPoP-bound subject token without a proof of its key', async () => {
    active['user-token'] = userToken({ jkt: 'the-bound-key-thumbprint' });
    await expectRefusal(exchange('agent_x'), 'invalid_request', 'subject_token is DPoP-bound: the request must carry a DPoP proof made with the key it is bound to');
    const other = await dpopKey();
    endpoint.writes.length = 0;
    await expectRefusal(
      exchange('agent_x', {}, { dpop: await other.proof(endpoint.url) }), 'invalid_request',
      'subject_token is DPoP-bound: the request must carry a DPoP proof made with the key it is bound to',
    );
  });

  it('refuses a DPoP-bound actor token without a proof of its key', async () => {
    active.actor = userToken({ subject: 'agent_x', clientId: 'agent_x', jkt: 'the-actor-key-thumbprint' });
    await expectRefusal(
      exchange('agent_x', { actor_token: 'actor', actor_token_type: TOKEN_TYPE.accessToken }), 'invalid_request',
      'actor_token is DPoP-bound: the request must carry a DPoP proof made with the key it is bound to',
    );
  });

  it('refuses an actor the subject token\'s may_act does not name (§4.4)', async () => {
    active['user-token'] = userToken({ mayAct: { sub: 'agent_other' } });
    await expectRefusal(
      exchange('agent_x'), 'invalid_request',
      'delegation policy "may_act" refused: the subject token\'s may_act does not name "agent_x" as a party that may act for its subject',
    );
  });

  it('refuses an actor the subject token\'s client does not allow, also when that client is only the chain\'s root', async () => {
    const description = 'delegation policy "allowed_actors" refused: "agent_x" is not allowed to act on tokens of the subject token\'s client';
    active['user-token'] = userToken({ clientId: 'restricted-app', rootClientId: 'restricted-app' });
    await expectRefusal(exchange('agent_x'), 'invalid_request', description);
    // Exchanged once by a client without that restriction: the root's restriction still holds.
    active['user-token'] = userToken({ clientId: 'app', rootClientId: 'restricted-app', act: { sub: 'agent_trusted' } });
    await expectRefusal(exchange('agent_x'), 'invalid_request', description);
  });

  it('applies the requesting client\'s own allowed_actors to a token issued to itself', async () => {
    active['user-token'] = userToken({ clientId: 'restricted-app', rootClientId: 'restricted-app' });
    await expectRefusal(exchange('restricted-app'), 'invalid_request', 'delegation policy "allowed_actors" refused: "restricted-app" is not allowed to act on tokens of the subject token\'s client');
  });

  it('refuses a chain deeper than the client\'s max_depth', async () => {
    active['user-token'] = userToken({ act: { sub: 'agent_y' } });
    await expectRefusal(exchange('agent_shallow'), 'invalid_request', 'delegation policy "max_depth" refused: the delegation chain would name 2 actors; at most 1 are allowed');
  });

  it('refuses a chain rooted in a client where the policy requires a person', async () => {
    active['user-token'] = userToken({ rootIsPerson: false });
    await expectRefusal(exchange('agent_strict'), 'invalid_request', 'delegation policy "human_root_required" refused: the subject at the root of the chain must be a person, not a client or agent');
  });

  it('refuses an audience outside the client\'s allowed_audiences with invalid_target', async () => {
    await expectRefusal(exchange('agent_fenced', { audience: MAIL }), 'invalid_target', `delegation policy "allowed_audiences" refused: this client may not request tokens for "${MAIL}"`);
  });

  it('refuses a target the subject token is not for with invalid_target', async () => {
    await expectRefusal(
      exchange('agent_x', { resource: MAIL }), 'invalid_target',
      `delegation policy "subject_audience" refused: the subject token is for "${FILES}"; a token for "${MAIL}" cannot be derived from it`,
    );
  });

  it('refuses a target outside the agent\'s resources, named or inferred from the scope', async () => {
    active['user-token'] = userToken({ audiences: undefined, scopes: ['files:read', 'mail:read'] });
    const description = `this agent may not request tokens for "${MAIL}"`;
    await expectRefusal(exchange('agent_files_only', { resource: MAIL }), 'invalid_target', description);
    await expectRefusal(exchange('agent_files_only', { scope: 'mail:read' }), 'invalid_target', description);
  });

  it('refuses a scope beyond the subject token\'s with invalid_scope naming it', async () => {
    const body = await expectRefusal(
      exchange('agent_x', { scope: 'files:read files:admin' }), 'invalid_scope',
      'scope "files:admin" is not within the subject token\'s scope and what this client may have',
    );
    expect(body.scope).toBe('files:admin');
  });

  it('refuses a scope of the subject token that the agent\'s patterns do not allow', async () => {
    active['user-token'] = userToken({ scopes: ['files:read', 'calendar:read'] });
    await expectRefusal(exchange('agent_x', { scope: 'calendar:read' }), 'invalid_scope', 'scope "calendar:read" is not within the subject token\'s scope and what this client may have');
  });

  it('refuses an expired subject token', async () => {
    active['user-token'] = userToken({ expiresAt: now() - 1 });
    await expectRefusal(exchange('agent_x'), 'invalid_request', 'subject_token has expired');
  });

  // oidc-provider reads a client's `scope` metadata as the OpenID Connect (static) scopes it may ask for, and nothing
  // else can be registered there: the exchange's ceiling gates only those, as client_credentials does.
  it('lets a client registered with an OpenID Connect scope list exchange a token for a resource scope', async () => {
    const { status, body } = await exchange('scoped-app', { scope: 'files:read' });
    expect({ status, scope: body.scope, error_description: body.error_description }).toEqual({ status: 200, scope: 'files:read', error_description: undefined });
  });

  // A foreign actor token verified within the clock tolerance (config/defaults.ts clockTolerance) can reach the
  // handler a few seconds after its `exp`: the refusal names the token that expired.
  it('names the actor_token when it is the actor token that has expired', async () => {
    active.actor = userToken({ subject: 'agent_x', clientId: 'agent_x', expiresAt: now() - 1 });
    await expectRefusal(exchange('agent_x', { actor_token: 'actor', actor_token_type: TOKEN_TYPE.jwt }), 'invalid_request', 'actor_token has expired');
  });
});
