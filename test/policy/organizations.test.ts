// The organization isolation rules (policy/organizations.ts) apart from HTTP: which rule refuses, with which
// OAuth error, and that the actor rule is checked before the resource rule.
import { describe, expect, it } from 'vitest';
import { organizationRefusal, type OrganizationFacts } from '../../policy/organizations.ts';

const facts = (overrides: Partial<OrganizationFacts>): OrganizationFacts => ({
  clientOrg: 'acme', subjectOrg: 'acme', crossOrgActorAllowed: true, exchange: false, ...overrides,
});

describe('organizationRefusal', () => {
  it('allows everything within one organization, and a token for no registered resource', () => {
    expect(organizationRefusal(facts({ resource: { identifier: 'https://a.test/', orgId: 'acme' } }))).toBeUndefined();
    expect(organizationRefusal(facts({}))).toBeUndefined();
  });

  it("refuses another organization's resource as invalid_target, naming both organizations", () => {
    expect(organizationRefusal(facts({ resource: { identifier: 'https://b.test/', orgId: 'beta' } }))).toEqual({
      rule: 'organization_resource',
      error: 'invalid_target',
      description: 'resource "https://b.test/" belongs to organization "beta", and the token would be for organization "acme"',
    });
  });

  it('refuses acting across organizations unless allowed: invalid_request in token exchange, unauthorized_client elsewhere', () => {
    const across = { clientOrg: 'beta', subjectOrg: 'acme', crossOrgActorAllowed: false };
    expect(organizationRefusal(facts({ ...across, exchange: true }))).toMatchObject({ rule: 'organization_actor', error: 'invalid_request' });
    expect(organizationRefusal(facts({ ...across, exchange: false }))).toMatchObject({ rule: 'organization_actor', error: 'unauthorized_client' });
    // The actor rule speaks first: the subject token is what is unacceptable, whatever the target.
    expect(organizationRefusal(facts({ ...across, exchange: true, resource: { identifier: 'https://b.test/', orgId: 'beta' } }))).toMatchObject({ rule: 'organization_actor' });
  });

  it("with the pair allowed, the actor gets tokens for the subject organization's resources only", () => {
    const allowed = { clientOrg: 'beta', subjectOrg: 'acme', crossOrgActorAllowed: true, exchange: true };
    expect(organizationRefusal(facts({ ...allowed, resource: { identifier: 'https://a.test/', orgId: 'acme' } }))).toBeUndefined();
    expect(organizationRefusal(facts({ ...allowed, resource: { identifier: 'https://b.test/', orgId: 'beta' } }))).toMatchObject({ rule: 'organization_resource', error: 'invalid_target' });
  });

  it('refuses an actor of another organization in token exchange unless allowed, after the client rule and before the resource rule', () => {
    const actor = { id: 'agent_b', org: 'beta', allowed: false };
    expect(organizationRefusal(facts({ exchange: true, actor }))).toEqual({
      rule: 'organization_actor',
      error: 'invalid_request',
      description: 'actor_token belongs to another organization: "agent_b" is of organization "beta", which may not act for principals of organization "acme" (the operator has not allowed it)',
    });
    expect(organizationRefusal(facts({ exchange: true, actor: { ...actor, allowed: true } }))).toBeUndefined();
    expect(organizationRefusal(facts({ exchange: true, actor: { ...actor, org: 'acme' } }))).toBeUndefined();
    expect(organizationRefusal(facts({ exchange: true, clientOrg: 'gamma', crossOrgActorAllowed: false, actor }))).toMatchObject({ description: expect.stringContaining('subject_token belongs') });
    expect(organizationRefusal(facts({ exchange: true, actor, resource: { identifier: 'https://b.test/', orgId: 'beta' } }))).toMatchObject({ description: expect.stringContaining('actor_token belongs') });
  });
});
