// grants/jwt-bearer.ts on its own (RFC 7523 with ID-JAGs): the handler its factory builds, on a real oidc-provider
// token endpoint (test/support/token-endpoint.ts), with stand-ins for the ID-JAG verifier (which assertions verify
// is the test's to say), the agent registry, the roles and the user store. The one-time use of an ID-JAG goes
// through oidc-provider's ReplayDetection, stored by the test adapter, so its write is seen.
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Agent } from '../../adapters/agent-store.ts';
import type { User } from '../../adapters/user-store.ts';
import { grant, jwtBearerHandler, type JwtBearerDependencies } from '../../grants/jwt-bearer.ts';
import type { IdentityAssertionGrant } from '../../tokens/id-jag-verifier.ts';
import { PresentedTokenError } from '../../tokens/presented-token-error.ts';
import { now } from '../support/presented-tokens.ts';
import { confidentialClient, dpopKey, onlyToken, tokenEndpoint, type TokenEndpoint, withAgentRecords } from '../support/token-endpoint.ts';

const API = 'https://api.example';
const OTHER = 'https://other.example';
const IDP = 'https://idp.example';

const agent = { id: 'agent_j', ownerId: 'owner-1', status: 'active', scopes: ['read'], defaultScopes: [], resources: [API], accessTokenTtl: 120 } as unknown as Agent;

let sequence = 0;
/** A verified ID-JAG for the client, each with its own jti. */
function idJag(fields: Partial<IdentityAssertionGrant> = {}): IdentityAssertionGrant {
  sequence += 1;
  return { issuer: IDP, subject: 'idp|alice', users: 'external', jti: `jti-${sequence}`, expiresAt: now() + 300, resources: [API], scopes: ['read', 'write'], ...fields };
}

// The assertions the stand-in verifier accepts, by value.
const assertions: Record<string, IdentityAssertionGrant> = {};
const verifier = {
  enabled: true,
  verify: vi.fn(async (assertion: string, _clientId: string) => {
    const verified = assertions[assertion];
    if (!verified) throw new PresentedTokenError('ERR_INVALID_ASSERTION', 'the assertion has a signature that does not verify with the identity provider\'s keys');
    return verified;
  }),
};
const localUsers: User[] = [];
const users = {
  findByEmail: vi.fn(async (email: string) => localUsers.filter((user) => user.email === email)),
  create: vi.fn(async ({ username, email }: { username: string; email?: string }) => {
    const user = { id: `user-${localUsers.length + 1}`, username, email: email ?? null, name: null, orgId: 'default', createdAt: new Date(), updatedAt: new Date() };
    localUsers.push(user);
    return user;
  }),
};
const deps = {
  idJag: verifier,
  agents: { get: vi.fn(async (id: string) => (id === agent.id ? agent : undefined)) },
  roles: { grantsOf: vi.fn(async () => ({ roles: [], patterns: [] })) },
  users,
} as unknown as JwtBearerDependencies;

let endpoint: TokenEndpoint;
beforeAll(async () => {
  endpoint = await tokenEndpoint({
    grantType: grant.grantType,
    parameters: grant.parameters,
    allowedDuplicateParameters: grant.allowedDuplicateParameters,
    handler: () => jwtBearerHandler(deps),
    clients: withAgentRecords([
      confidentialClient('mcp-client', [grant.grantType]), confidentialClient('agent_j', [grant.grantType]),
      confidentialClient('dpop-client', [grant.grantType], { dpop_bound_access_tokens: true }),
    ], [agent]),
    resources: [{ identifier: API, scopes: ['read', 'write'], accessTokenTtl: 900 }, { identifier: OTHER, scopes: ['x'] }],
  });
});
afterAll(() => endpoint.close());
beforeEach(() => {
  endpoint.writes.length = 0;
  verifier.verify.mockClear();
  users.create.mockClear();
  localUsers.length = 0;
  for (const value of Object.keys(assertions)) delete assertions[value];
});

/** Presents `verified` as the assertion. */
function redeem(clientId: string, verified: IdentityAssertionGrant | string, params: Record<string, string> = {}, headers?: Record<string, string>) {
  const assertion = typeof verified === 'string' ? verified : `assertion-${verified.jti}`;
  if (typeof verified !== 'string') assertions[assertion] = verified;
  return endpoint.token({ client_id: clientId, assertion, ...params }, headers);
}

const claimed = () => endpoint.writes.filter((write) => write.model === 'ReplayDetection');

/** A refusal: the status, the exact error and description, no token stored and the ID-JAG's jti left unclaimed. */
async function expectRefusal(response: Promise<{ status: number; body: Record<string, unknown> }>, error: string, description: string) {
  const { status, body } = await response;
  expect({ status, error: body.error, error_description: body.error_description }).toEqual({ status: 400, error, error_description: description });
  expect(endpoint.tokenWrites()).toEqual([]);
  expect(claimed()).toEqual([]);
  return body;
}

describe('jwt-bearer: the issued token', () => {
  it('is the IdP\'s subject\'s, for the resource the ID-JAG names, with the scopes it grants, and claims its jti once', async () => {
    const verified = idJag();
    const { status, body } = await redeem('mcp-client', verified);
    expect(status).toBe(200);
    expect(body).toEqual({ access_token: expect.any(String), token_type: 'Bearer', expires_in: 900, scope: 'read write' });
    expect(verifier.verify).toHaveBeenCalledWith(`assertion-${verified.jti}`, 'mcp-client');
    expect(onlyToken(endpoint)).toMatchObject({ kind: 'AccessToken', accountId: 'idp|alice', clientId: 'mcp-client', gty: 'id_jag', aud: API, scope: 'read write' });
    expect(claimed()).toHaveLength(1);
  });

  it('carries what both the request and the ID-JAG name', async () => {
    const { body } = await redeem('mcp-client', idJag(), { scope: 'write delete' });
    expect(body.scope).toBe('write');
  });

  it('stays within an agent\'s patterns and lifetime', async () => {
    const { status, body } = await redeem('agent_j', idJag());
    expect(status).toBe(200);
    expect(body).toMatchObject({ expires_in: 120, scope: 'read' });
  });

  it('uses the requested resource among several the ID-JAG names', async () => {
    const { status } = await redeem('mcp-client', idJag({ resources: [OTHER, API] }), { resource: API });
    expect(status).toBe(200);
    expect(onlyToken(endpoint).aud).toBe(API);
  });

  it('is for the one local user with the ID-JAG\'s email where the IdP links by email', async () => {
    localUsers.push({ id: 'user-7', username: 'ada', email: 'ada@example.com', name: null, orgId: 'default', createdAt: new Date(), updatedAt: new Date() });
    await redeem('mcp-client', idJag({ users: 'email', email: 'ada@example.com' }));
    expect(onlyToken(endpoint).accountId).toBe('user-7');
  });

  it('creates that user on first use where the IdP links just in time', async () => {
    await redeem('mcp-client', idJag({ users: 'just_in_time', email: 'new@example.com', name: 'New' }));
    expect(users.create).toHaveBeenCalledOnce();
    expect(onlyToken(endpoint).accountId).toBe('user-1');
  });

  it('is bound to the key a DPoP-bound ID-JAG names when the proof is made with it', async () => {
    const key = await dpopKey();
    const { status, body } = await redeem('mcp-client', idJag({ jkt: key.thumbprint }), {}, { dpop: await key.proof(endpoint.url) });
    expect(status).toBe(200);
    expect(body.token_type).toBe('DPoP');
    expect(onlyToken(endpoint).jkt).toBe(key.thumbprint);
  });
});

describe('jwt-bearer: refusals (RFC 7523 §3.1: the assertion\'s are invalid_grant, saying which rule)', () => {
  it('refuses a request without an assertion with invalid_request', async () => {
    await expectRefusal(endpoint.token({ client_id: 'mcp-client' }), 'invalid_request', "missing required parameter 'assertion'");
    expect(verifier.verify).not.toHaveBeenCalled();
  });

  it('refuses an assertion the verifier refuses, with its reason', async () => {
    await expectRefusal(redeem('mcp-client', 'forged'), 'invalid_grant', 'the assertion has a signature that does not verify with the identity provider\'s keys');
  });

  it('refuses a DPoP-bound ID-JAG without a proof of its key', async () => {
    await expectRefusal(redeem('mcp-client', idJag({ jkt: 'bound-key' })), 'invalid_grant', 'the ID-JAG is DPoP-bound: the request must carry a DPoP proof made with the key it is bound to');
  });

  it.each([
    ['a resource the ID-JAG does not name', { resources: [API] }, { resource: OTHER }, `the ID-JAG does not grant access to "${OTHER}"`],
    ['no resource on either side', { resources: [] }, {}, 'the ID-JAG names no resource and the request has none'],
    ['several resources and none chosen', { resources: [API, OTHER] }, {}, 'the ID-JAG names several resources: choose one with the resource parameter'],
    ['a resource this server does not hold', { resources: ['https://unknown.example'] }, {}, 'the ID-JAG\'s resource "https://unknown.example" is not a resource of this server'],
  ])('refuses %s', async (_case, fields, params, description) => {
    await expectRefusal(redeem('mcp-client', idJag(fields), params), 'invalid_grant', description);
  });

  it('refuses a resource the agent may not use with invalid_target', async () => {
    await expectRefusal(redeem('agent_j', idJag({ resources: [OTHER] })), 'invalid_target', `this agent may not request tokens for "${OTHER}"`);
  });

  it('refuses requested scopes of which none can be granted with invalid_scope, before the jti is claimed', async () => {
    const body = await expectRefusal(redeem('mcp-client', idJag({ scopes: ['read'] }), { scope: 'write' }), 'invalid_scope', 'none of the requested scopes (write) can be granted for this request');
    expect(body.scope).toBe('write');
  });

  it('refuses an unknown user without claiming the jti, so the same ID-JAG works once the user exists', async () => {
    const verified = idJag({ users: 'email', email: 'late@example.com' });
    await expectRefusal(redeem('mcp-client', verified), 'invalid_grant', 'no local user has the assertion\'s email address "late@example.com"');
    localUsers.push({ id: 'user-late', username: 'late', email: 'late@example.com', name: null, orgId: 'default', createdAt: new Date(), updatedAt: new Date() });
    expect((await redeem('mcp-client', verified)).status).toBe(200);
    expect(onlyToken(endpoint).accountId).toBe('user-late');
  });

  it('refuses an ID-JAG linked by email that carries none', async () => {
    await expectRefusal(
      redeem('mcp-client', idJag({ users: 'email' })), 'invalid_grant',
      'the assertion has no verified "email" claim, by which this identity provider\'s users are linked to local users',
    );
  });

  it('refuses an ID-JAG used before, storing no second token', async () => {
    const verified = idJag();
    expect((await redeem('mcp-client', verified)).status).toBe(200);
    endpoint.writes.length = 0;
    const { status, body } = await redeem('mcp-client', verified);
    expect({ status, ...body }).toEqual({ status: 400, error: 'invalid_grant', error_description: 'this ID-JAG was already used (its jti was seen before)' });
    expect(endpoint.tokenWrites()).toEqual([]);
  });

  // A request refused for another reason leaves the ID-JAG usable: a client that must use DPoP and sent no proof
  // is refused before the jti is claimed, and its retry with a proof succeeds.
  it('leaves an ID-JAG usable after a refusal for a missing DPoP proof', async () => {
    const verified = idJag();
    expect((await redeem('dpop-client', verified)).body.error).toBe('invalid_grant');
    expect(claimed()).toEqual([]);
    const key = await dpopKey();
    expect((await redeem('dpop-client', verified, {}, { dpop: await key.proof(endpoint.url) })).status).toBe(200);
  });
});
