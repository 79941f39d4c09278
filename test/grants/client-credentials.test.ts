// grants/client-credentials.ts on its own: the handler its factory builds, registered on a real oidc-provider
// token endpoint (test/support/token-endpoint.ts), with stand-ins for the agent registry, the role store and the
// approval tiers.
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Agent } from '../../adapters/agent-store.ts';
import { clientCredentialsHandler, grant } from '../../grants/client-credentials.ts';
import { NO_APPROVAL_POLICY, type ApprovalPolicy } from '../../policy/approval-tiers.ts';
import { confidentialClient, dpopKey, onlyToken, tokenEndpoint, type TokenEndpoint, withAgentRecords } from '../support/token-endpoint.ts';

const FILES = 'https://files.example';
const MAIL = 'https://mail.example';

const agent = {
  id: 'agent_a1', ownerId: 'user-1', status: 'active', scopes: ['files:*'], defaultScopes: ['files:read'], resources: [FILES], accessTokenTtl: 120,
} as Agent;
// An agent the registry holds whatever its id: nothing is decided from the spelling.
const roamingAgent = { ...agent, id: 'worker-2', ownerId: 'user-2', scopes: ['files:read'], defaultScopes: [], resources: null, accessTokenTtl: null } as Agent;

const confidential = (clientId: string, metadata?: Record<string, unknown>) => confidentialClient(clientId, ['client_credentials'], metadata);

const agents = new Map([agent, roamingAgent].map((entry) => [entry.id, entry]));
const roleGrants: Record<string, { roles: string[]; patterns: string[] }> = {
  agent_a1: { roles: ['reader'], patterns: [] },
  'worker-2': { roles: ['mailer'], patterns: ['mail:read'] },
};
let policies: Record<string, ApprovalPolicy> = {};
const deps = {
  agents: { get: vi.fn(async (id: string) => agents.get(id)) },
  roles: { grantsOf: vi.fn(async ({ id }: { id: string }) => roleGrants[id] ?? { roles: [], patterns: [] }) },
  approvals: { policyOf: vi.fn(async (clientId: string) => policies[clientId] ?? NO_APPROVAL_POLICY) },
};

let endpoint: TokenEndpoint;
beforeAll(async () => {
  endpoint = await tokenEndpoint({
    grantType: grant.grantType,
    parameters: grant.parameters,
    allowedDuplicateParameters: grant.allowedDuplicateParameters,
    handler: () => clientCredentialsHandler(deps),
    clients: withAgentRecords([
      confidential('agent_a1'),
      confidential('worker-2'),
      confidential('service-1', { scope: 'openid email' }),
      confidential('dpop-only', { dpop_bound_access_tokens: true }),
    ], agents.values()),
    resources: [
      { identifier: FILES, scopes: ['files:read', 'files:write'], accessTokenTtl: 300 },
      { identifier: MAIL, scopes: ['mail:read'] },
    ],
  });
});
afterAll(() => endpoint.close());
beforeEach(() => {
  endpoint.writes.length = 0;
  policies = {};
});

/** A refusal: the status, the exact error and description, and nothing stored. */
async function expectRefusal(body: Record<string, string | string[]>, error: string, description: string) {
  const response = await endpoint.token(body);
  expect(response).toEqual({ status: 400, body: expect.objectContaining({ error, error_description: description }) });
  expect(endpoint.tokenWrites()).toEqual([]);
  return response.body;
}

describe('client_credentials for an agent', () => {
  it('issues a token for the resource its scope belongs to, capped by the agent\'s lifetime, with sub, owner and roles', async () => {
    const { status, body } = await endpoint.token({ client_id: 'agent_a1', scope: 'files:read' });
    expect(status).toBe(200);
    expect(body).toEqual({ access_token: expect.any(String), token_type: 'Bearer', expires_in: 120, scope: 'files:read' });
    expect(onlyToken(endpoint)).toMatchObject({
      kind: 'ClientCredentials', clientId: 'agent_a1', aud: FILES, scope: 'files:read',
      extra: { sub: 'agent_a1', owner: 'user-1', roles: ['reader'] },
    });
    expect(endpoint.writes[0].expiresIn).toBe(120);
  });

  it('grants the agent\'s default scopes when the request names none, and says so in `scope`', async () => {
    const { body } = await endpoint.token({ client_id: 'agent_a1' });
    expect(body).toMatchObject({ scope: 'files:read', expires_in: 120 });
    expect(onlyToken(endpoint)).toMatchObject({ aud: FILES, scope: 'files:read' });
  });

  it('lets the agent\'s roles widen its patterns, and leaves `roles` to the roles it holds', async () => {
    const { status, body } = await endpoint.token({ client_id: 'worker-2', scope: 'mail:read' });
    expect(status).toBe(200);
    // No lifetime of its own, nor has MAIL: the grant's default (config/defaults.ts).
    expect(body).toEqual({ access_token: expect.any(String), token_type: 'Bearer', expires_in: 600, scope: 'mail:read' });
    expect(onlyToken(endpoint)).toMatchObject({ aud: MAIL, extra: { sub: 'worker-2', owner: 'user-2', roles: ['mailer'] } });
  });

  it('refuses a scope outside the agent\'s and its roles\' patterns with invalid_scope naming it', async () => {
    const body = await expectRefusal({ client_id: 'agent_a1', scope: 'files:read mail:read' }, 'invalid_scope', 'scope "mail:read" is not allowed for this agent');
    expect(body.scope).toBe('mail:read');
  });

  it('refuses a resource the agent may not use with invalid_target', async () => {
    await expectRefusal({ client_id: 'agent_a1', scope: 'files:read', resource: MAIL }, 'invalid_target', `this agent may not request tokens for "${MAIL}"`);
  });

  it('refuses more than one resource with invalid_target', async () => {
    await expectRefusal({ client_id: 'worker-2', scope: 'files:read', resource: [FILES, MAIL] }, 'invalid_target', 'only a single resource indicator value is supported for this grant type');
  });

  it('refuses a named resource that accepts none of the granted scopes with invalid_scope (RFC 6749 §3.3)', async () => {
    await expectRefusal({ client_id: 'worker-2', scope: 'files:read', resource: MAIL }, 'invalid_scope', 'none of the requested scopes (files:read) can be granted for this request');
  });

  it('refuses a scope whose approval tier needs a person, pointing at the backchannel endpoint', async () => {
    policies.agent_a1 = { rules: [{ scopes: ['files:write'], tier: 'soft' }], default: 'autonomous' };
    const body = await expectRefusal(
      { client_id: 'agent_a1', scope: 'files:read files:write' }, 'invalid_scope',
      'scope "files:write" needs a person\'s approval (approval tier "soft"): ask for it at the backchannel_authentication_endpoint (OpenID CIBA, in the server metadata)',
    );
    expect(body.scope).toBe('files:write');
    expect(deps.approvals.policyOf).toHaveBeenLastCalledWith('agent_a1');
  });

  it('refuses an authorization_details entry whose tier needs a person with invalid_authorization_details', async () => {
    policies['worker-2'] = { rules: [{ type: 'payment', tier: 'strong' }], default: 'autonomous' };
    await expectRefusal(
      { client_id: 'worker-2', scope: 'files:read', resource: FILES, authorization_details: JSON.stringify([{ type: 'payment', amount: 5 }]) }, 'invalid_authorization_details',
      'authorization_details[0] (type "payment") needs a person\'s approval (approval tier "strong"): ask for it at the backchannel_authentication_endpoint (OpenID CIBA, in the server metadata)',
    );
  });

  it('carries autonomous authorization_details in the token and the response (RFC 9396 §7)', async () => {
    const details = [{ type: 'payment', amount: 5 }];
    const { status, body } = await endpoint.token({ client_id: 'worker-2', scope: 'files:read', resource: FILES, authorization_details: JSON.stringify(details) });
    expect(status).toBe(200);
    expect(body).toMatchObject({ scope: 'files:read', authorization_details: details });
    expect(onlyToken(endpoint).rar).toEqual(details);
  });

  it('issues the approval tier\'s autonomous scopes as usual', async () => {
    policies.agent_a1 = { rules: [{ scopes: ['files:write'], tier: 'soft' }], default: 'autonomous' };
    expect((await endpoint.token({ client_id: 'agent_a1', scope: 'files:read' })).status).toBe(200);
  });
});

describe('client_credentials for a client that is not an agent', () => {
  it('gets what oidc-provider\'s grant gives: the resource\'s lifetime, the scope, no claims of ours', async () => {
    const { status, body } = await endpoint.token({ client_id: 'service-1', scope: 'files:read' });
    expect(status).toBe(200);
    expect(body).toEqual({ access_token: expect.any(String), token_type: 'Bearer', expires_in: 300, scope: 'files:read' });
    const stored = onlyToken(endpoint);
    expect(stored).toMatchObject({ clientId: 'service-1', aud: FILES, scope: 'files:read' });
    expect(stored.extra).toBeUndefined();
  });

  it('refuses an OpenID Connect scope the client is not registered for with invalid_scope', async () => {
    await expectRefusal({ client_id: 'service-1', scope: 'profile' }, 'invalid_scope', 'requested scope is not allowed');
  });

  it('is refused a scope approval tiers reserve for a person, as an agent is', async () => {
    policies['service-1'] = { rules: [], default: 'strong' };
    await expectRefusal(
      { client_id: 'service-1', scope: 'files:write' }, 'invalid_scope',
      'scope "files:write" needs a person\'s approval (approval tier "strong"): ask for it at the backchannel_authentication_endpoint (OpenID CIBA, in the server metadata)',
    );
  });
});

describe('client_credentials and DPoP (RFC 9449)', () => {
  it('binds the token to the proof\'s key', async () => {
    const key = await dpopKey();
    const { status, body } = await endpoint.token({ client_id: 'agent_a1', scope: 'files:read' }, { dpop: await key.proof(endpoint.url) });
    expect(status).toBe(200);
    expect(body.token_type).toBe('DPoP');
    expect(onlyToken(endpoint)).toMatchObject({ jkt: key.thumbprint });
  });

  it('refuses a client that requires DPoP-bound tokens and sent no proof, storing nothing', async () => {
    await expectRefusal({ client_id: 'dpop-only' }, 'invalid_grant', 'grant request is invalid');
  });
});
