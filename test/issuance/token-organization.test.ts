// How a token's organization is read from the stores (issuance/token-organization.ts), with stand-ins for the
// records: where each party is found decides its organization, never its id's spelling, and a refusal is the
// OAuth error its rule names.
import { errors } from 'oidc-provider';
import { describe, expect, it } from 'vitest';
import { externalOrganization, organizationFacts, tokenOrganization, type OrganizationLookups } from '../../issuance/token-organization.ts';

const lookups = (allowed: [subjectOrg: string, actorOrg: string][] = []): OrganizationLookups => ({
  agents: { get: async (id: string) => (id === 'agent_acme' ? { orgId: 'acme' } : undefined) as never },
  users: { findById: async (id: string) => (id === 'user-beta' ? { orgId: 'beta' } : undefined) as never },
  resources: { get: async (id: string) => (id === 'https://acme.test/' ? { identifier: id, orgId: 'acme' } : undefined) as never },
  organizations: { allowsActor: async (subjectOrg: string, actorOrg: string) => allowed.some(([s, a]) => s === subjectOrg && a === actorOrg) },
  registeredClients: { record: async (id: string) => (id === 'registered-beta' ? { orgId: 'beta' } : undefined) as never },
});

describe('organizationFacts', () => {
  it('finds the client as an agent, a registered client, or else in the default organization', async () => {
    expect((await organizationFacts({ clientId: 'agent_acme' }, lookups())).clientOrg).toBe('acme');
    expect((await organizationFacts({ clientId: 'registered-beta' }, lookups())).clientOrg).toBe('beta');
    // A client metadata document's client, or an id shaped like an agent's that the registry does not hold.
    expect((await organizationFacts({ clientId: 'https://app.example/client.json' }, lookups())).clientOrg).toBe('default');
    expect((await organizationFacts({ clientId: 'agent_gone' }, lookups())).clientOrg).toBe('default');
  });

  it("takes the subject's organization from the user, an agent or a client, and the client's for a subject we do not hold", async () => {
    expect((await organizationFacts({ clientId: 'agent_acme', accountId: 'user-beta' }, lookups())).subjectOrg).toBe('beta');
    expect((await organizationFacts({ clientId: 'registered-beta', accountId: 'agent_acme' }, lookups())).subjectOrg).toBe('acme');
    expect((await organizationFacts({ clientId: 'agent_acme', accountId: 'partner:alice' }, lookups())).subjectOrg).toBe('acme');
    // No principal of ours has an id PostgreSQL text cannot hold: nothing is looked up.
    expect((await organizationFacts({ clientId: 'agent_acme', accountId: 'nul\u0000' }, lookups())).subjectOrg).toBe('acme');
  });
});

describe('tokenOrganization', () => {
  it("is the subject's organization, default included", async () => {
    expect(await tokenOrganization({ clientId: 'agent_acme', aud: 'https://acme.test/' }, lookups())).toBe('acme');
    expect(await tokenOrganization({ clientId: 'public-app' }, lookups())).toBe('default');
  });

  it('throws the error each rule names', async () => {
    await expect(tokenOrganization({ clientId: 'registered-beta', aud: 'https://acme.test/' }, lookups())).rejects.toBeInstanceOf(errors.InvalidTarget);
    await expect(tokenOrganization({ clientId: 'agent_acme', accountId: 'user-beta', gty: 'token_exchange' }, lookups())).rejects.toBeInstanceOf(errors.InvalidRequest);
    await expect(tokenOrganization({ clientId: 'agent_acme', accountId: 'user-beta', gty: 'authorization_code' }, lookups())).rejects.toBeInstanceOf(errors.UnauthorizedClient);
    expect(await tokenOrganization({ clientId: 'agent_acme', accountId: 'user-beta', gty: 'token_exchange' }, lookups([['beta', 'acme']]))).toBe('beta');
  });
});

describe('externalOrganization', () => {
  it('is the organization of the longest prefix naming the subject, and none for a subject no prefix names', () => {
    const subjects = [{ prefix: 'idp:', orgId: 'acme' }, { prefix: 'idp:eu:', orgId: 'beta' }, { prefix: '', orgId: 'never' }];
    expect(externalOrganization('idp:bob', subjects)).toBe('acme');
    expect(externalOrganization('idp:eu:bob', subjects)).toBe('beta');
    expect(externalOrganization('bob', subjects)).toBeUndefined();
  });
});
