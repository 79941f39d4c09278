// The client record (policy/client-record.ts) read from the metadata of each kind of client.
import { describe, expect, it } from 'vitest';
import { clientRecordOf, parseClientRecord } from '../../policy/client-record.ts';

describe('parseClientRecord', () => {
  it('reads an agent\'s rules from the metadata the agent store writes', () => {
    expect(parseClientRecord({
      client_id: 'agent_1', client_kind: 'agent', org_id: 'acme', owner: 'u1', scope_patterns: ['files:*'], default_scopes: ['files:read'],
      allowed_resources: ['https://files.example/'], access_token_ttl: 300, delegation_policy: { max_depth: 2 }, may_act: { sub: 'agent_2' },
      grant_types: ['client_credentials'],
    })).toEqual({
      id: 'agent_1', kind: 'agent', orgId: 'acme', ownerId: 'u1', scopePatterns: ['files:*'], defaultScopes: ['files:read'], resources: ['https://files.example/'],
      accessTokenTtl: 300, delegationPolicy: { max_depth: 2 }, mayAct: { sub: 'agent_2' }, txnTokenPolicy: undefined,
    });
  });

  it('gives an anonymous registration or a metadata-document client the same record with nothing set', () => {
    const empty = {
      kind: 'registered', orgId: 'default', ownerId: undefined, scopePatterns: undefined, defaultScopes: [], resources: undefined, accessTokenTtl: undefined,
      delegationPolicy: undefined, mayAct: undefined, txnTokenPolicy: undefined,
    };
    expect(parseClientRecord({ client_id: 'dcr-1', token_endpoint_auth_method: 'none', redirect_uris: ['http://127.0.0.1/cb'] })).toEqual({ id: 'dcr-1', ...empty });
    expect(parseClientRecord({ client_id: 'https://app.example/client.json', client_name: 'app' })).toEqual({ id: 'https://app.example/client.json', ...empty });
  });

  it('never makes an agent of a client whose id only looks like one', () => {
    expect(parseClientRecord({ client_id: 'agent_lookalike' }).kind).toBe('registered');
  });

  it('refuses metadata oidc-provider\'s validator would have refused (a wiring mistake, not a client\'s input)', () => {
    expect(() => parseClientRecord({ client_id: 'x', client_kind: 'robot' })).toThrow();
    expect(() => parseClientRecord({ client_id: 'x', access_token_ttl: -1 })).toThrow();
  });
});

describe('clientRecordOf', () => {
  it('parses a Client instance once and a changed client (a new instance) again', () => {
    let calls = 0;
    const client = (ttl: number) => ({ metadata: () => { calls += 1; return { client_id: 'c', access_token_ttl: ttl }; } });
    const first = client(60);
    expect(clientRecordOf(first).accessTokenTtl).toBe(60);
    expect(clientRecordOf(first).accessTokenTtl).toBe(60);
    expect(calls).toBe(1);
    expect(clientRecordOf(client(120)).accessTokenTtl).toBe(120);
    expect(calls).toBe(2);
  });
});
