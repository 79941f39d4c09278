// The issuance pipeline's steps (issuance/pipeline.ts) on their own: the rules every grant of ours shares, with
// stand-ins for the client's records and a real oidc-provider instance where its helpers need one.
import Provider, { errors } from 'oidc-provider';
import { describe, expect, it, vi } from 'vitest';
import { parseClientRecord, type ClientRecord } from '../../policy/client-record.ts';
import {
  acceptedByResource, allowedPatterns, checkTargetAllowed, issueAccessToken, lifetimeFor, rulesFor, type ClientRules,
} from '../../issuance/pipeline.ts';

const agentMetadata = {
  client_id: 'agent_a1', client_kind: 'agent', owner: 'user-1', scope_patterns: ['files:*'], default_scopes: [],
  allowed_resources: ['https://files.example'], access_token_ttl: 120,
};
const agentRecord: ClientRecord = parseClientRecord(agentMetadata);
const clientRecord: ClientRecord = parseClientRecord({ client_id: 'mcp-client' });
const agentRules: ClientRules = { record: agentRecord, roles: ['reader'], rolePatterns: ['docs:read'] };
const clientRules: ClientRules = { record: clientRecord, roles: [], rolePatterns: [] };
const resource = (scope: string, accessTokenTTL?: number) => ({ scope, accessTokenTTL }) as never;
/** Stands in for an oidc-provider Client: the record is read from its metadata. */
const client = (metadata: Record<string, unknown>) => ({ clientId: metadata.client_id, metadata: () => metadata });

describe('rulesFor', () => {
  it('reads the record from the client\'s metadata and loads the roles it holds', async () => {
    const roles = { grantsOf: vi.fn(async (principal: { id: string }) => (principal.id === 'agent_a1' ? { roles: ['reader'], patterns: ['docs:read'] } : { roles: [], patterns: [] })) };
    expect(await rulesFor(client(agentMetadata) as never, { roles })).toEqual(agentRules);
    expect(roles.grantsOf).toHaveBeenCalledWith({ type: 'client', id: 'agent_a1' });
    expect(await rulesFor(client({ client_id: 'mcp-client' }) as never, { roles })).toEqual(clientRules);
  });

  it('decides the kind from the record, never from the id\'s spelling', async () => {
    const roles = { grantsOf: async () => ({ roles: [], patterns: [] }) };
    expect((await rulesFor(client({ client_id: 'agent_lookalike' }) as never, { roles })).record.kind).toBe('registered');
    expect((await rulesFor(client({ client_id: 'svc', client_kind: 'agent', owner: 'u', scope_patterns: [] }) as never, { roles })).record.kind).toBe('agent');
  });

  it('parses a client once, however often it is asked for', async () => {
    const metadata = vi.fn(() => agentMetadata);
    const instance = { clientId: 'agent_a1', metadata };
    const roles = { grantsOf: async () => ({ roles: [], patterns: [] }) };
    await rulesFor(instance as never, { roles });
    await rulesFor(instance as never, { roles });
    expect(metadata).toHaveBeenCalledTimes(1);
  });
});

describe('allowedPatterns', () => {
  it('is the client\'s patterns and its roles\', or undefined for a client without patterns', () => {
    expect(allowedPatterns(agentRules)).toEqual(['files:*', 'docs:read']);
    expect(allowedPatterns({ ...clientRules, rolePatterns: ['docs:read'] })).toBeUndefined();
    const registered = parseClientRecord({ client_id: 'svc', owner: 'u', scope_patterns: ['reports:read'] });
    expect(allowedPatterns({ record: registered, roles: [], rolePatterns: [] })).toEqual(['reports:read']);
  });
});

describe('checkTargetAllowed', () => {
  it('lets an agent use its resources and refuses others with invalid_target naming the resource', () => {
    expect(() => checkTargetAllowed(agentRules, 'https://files.example')).not.toThrow();
    expect(() => checkTargetAllowed(agentRules, undefined)).not.toThrow();
    expect(() => checkTargetAllowed(agentRules, 'https://mail.example')).toThrow(errors.InvalidTarget);
    let refusal: unknown;
    try {
      checkTargetAllowed(agentRules, 'https://mail.example');
    } catch (error) {
      refusal = error;
    }
    expect(refusal).toMatchObject({ error: 'invalid_target', error_description: 'this agent may not request tokens for "https://mail.example"' });
  });

  it('leaves a client without a resource list unrestricted', () => {
    expect(() => checkTargetAllowed(clientRules, 'https://mail.example')).not.toThrow();
    expect(() => checkTargetAllowed({ ...agentRules, record: { ...agentRecord, resources: undefined } }, 'https://mail.example')).not.toThrow();
  });
});

describe('acceptedByResource', () => {
  it('keeps only the scopes the resource defines, in order', () => {
    expect(acceptedByResource(['b', 'x', 'a'], resource('a b'))).toEqual(['b', 'a']);
    expect(acceptedByResource(['a'], resource(''))).toEqual([]);
  });

  it('keeps every scope without a resource', () => {
    expect(acceptedByResource(['openid', 'x'], undefined)).toEqual(['openid', 'x']);
  });
});

describe('lifetimeFor', () => {
  it('is the resource\'s lifetime, else the grant\'s default, within the agent\'s and every bound', () => {
    expect(lifetimeFor(clientRules, undefined, 600)).toBe(600);
    expect(lifetimeFor(clientRules, resource('', 300), 600)).toBe(300);
    expect(lifetimeFor(agentRules, resource('', 300), 600)).toBe(120);
    expect(lifetimeFor(agentRules, resource('', 300), 600, 45, Infinity)).toBe(45);
  });
});

describe('issueAccessToken', () => {
  const provider = new Provider('http://127.0.0.1:1', { features: { devInteractions: { enabled: false } } });
  function context() {
    const ctx = { oidc: { provider, client: { clientId: 'c1', dpopBoundAccessTokens: false }, entity: vi.fn() }, body: undefined as unknown };
    const token = { scope: undefined as string | undefined, tokenType: 'Bearer', expiration: 300, save: vi.fn(async () => 'the-token'), setThumbprint: vi.fn() };
    return { ctx, token };
  }

  it('stores the token with its granted scope, hands it to the audit trail, runs afterSave, and answers with the scope', async () => {
    const { ctx, token } = context();
    const afterSave = vi.fn(async () => expect(token.save).toHaveBeenCalled());
    await issueAccessToken(ctx as never, { token: token as never, entity: 'AccessToken', dPoP: undefined, requested: ['a', 'b'], granted: ['a'], issuedTokenType: 'urn:ietf:params:oauth:token-type:access_token', afterSave });
    expect(token.scope).toBe('a');
    expect(ctx.oidc.entity).toHaveBeenCalledWith('AccessToken', token);
    expect(afterSave).toHaveBeenCalledOnce();
    expect(ctx.body).toEqual({ access_token: 'the-token', token_type: 'Bearer', expires_in: 300, scope: 'a', issued_token_type: 'urn:ietf:params:oauth:token-type:access_token' });
  });

  it('sends the scope even when it equals the request, and none when nothing was asked or granted', async () => {
    const asked = context();
    await issueAccessToken(asked.ctx as never, { token: asked.token as never, entity: 'ClientCredentials', dPoP: undefined, requested: ['a'], granted: ['a'] });
    expect(asked.ctx.body).toMatchObject({ scope: 'a' });
    const none = context();
    await issueAccessToken(none.ctx as never, { token: none.token as never, entity: 'ClientCredentials', dPoP: undefined, requested: [], granted: [] });
    expect(none.ctx.body).not.toHaveProperty('scope');
  });

  it('refuses asked-for scopes of which none is granted with invalid_scope, storing nothing', async () => {
    const { ctx, token } = context();
    await expect(issueAccessToken(ctx as never, { token: token as never, entity: 'AccessToken', dPoP: undefined, requested: ['x'], granted: [] }))
      .rejects.toMatchObject({ error: 'invalid_scope', error_description: 'none of the requested scopes (x) can be granted for this request' });
    expect(token.save).not.toHaveBeenCalled();
    expect(ctx.oidc.entity).not.toHaveBeenCalled();
  });

  it('refuses a client that requires DPoP-bound tokens and sent no proof, storing nothing', async () => {
    const { ctx, token } = context();
    ctx.oidc.client.dpopBoundAccessTokens = true;
    await expect(issueAccessToken(ctx as never, { token: token as never, entity: 'AccessToken', dPoP: undefined, requested: [], granted: ['a'] }))
      .rejects.toMatchObject({ error: 'invalid_grant' });
    expect(token.save).not.toHaveBeenCalled();
  });
});
