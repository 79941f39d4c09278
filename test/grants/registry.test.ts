import { describe, expect, it } from 'vitest';
import { grants, registerGrants, type GrantDependencies } from '../../grants/index.ts';

// A recorder in place of oidc-provider: what registerGrants hands it is the whole subject here.
function recorder() {
  const registered: { name: string; params: string[]; dupes: string[] }[] = [];
  return { registered, provider: { registerGrantType: (name: string, handler: unknown, params: string[], dupes: string[]) => { expect(handler).toBeTypeOf('function'); registered.push({ name, params, dupes }); } } };
}

// Handler factories only read their dependencies when a request comes; the identity matters, not the content.
const deps = (idJagEnabled: boolean) => ({
  issuer: 'https://as.example', ciba: { approvals: {} }, transactionTokens: { signer: {} }, idJag: idJagEnabled ? { enabled: true } : undefined,
}) as unknown as GrantDependencies;

describe('grants/index.ts', () => {
  it('lists each grant once, every one of the same shape', () => {
    expect(grants.map((grant) => grant.grantType)).toEqual([
      'client_credentials', 'urn:ietf:params:oauth:grant-type:token-exchange', 'urn:openid:params:grant-type:ciba', 'urn:ietf:params:oauth:grant-type:jwt-bearer',
    ]);
    for (const grant of grants) {
      expect(grant.parameters.length).toBeGreaterThan(0);
      expect(grant.allowedDuplicateParameters.every((name) => grant.parameters.includes(name))).toBe(true);
      expect(grant.handler).toBeTypeOf('function');
    }
  });

  it('registers every offered grant with its parameters; jwt-bearer only where an enterprise IdP is trusted', () => {
    const without = recorder();
    expect(registerGrants(without.provider as never, deps(false))).not.toContain('urn:ietf:params:oauth:grant-type:jwt-bearer');
    expect(without.registered.map((entry) => entry.name)).toHaveLength(3);
    const withIdp = recorder();
    expect(registerGrants(withIdp.provider as never, deps(true))).toHaveLength(4);
    expect(withIdp.registered.find((entry) => entry.name === 'urn:ietf:params:oauth:grant-type:token-exchange')).toMatchObject({
      params: expect.arrayContaining(['subject_token', 'actor_token', 'requested_token_type', 'audience', 'resource', 'scope']), dupes: ['audience', 'resource'],
    });
    expect(withIdp.registered.find((entry) => entry.name === 'urn:openid:params:grant-type:ciba')).toMatchObject({ params: ['auth_req_id', 'resource', 'authorization_details'], dupes: ['resource'] });
  });
});
