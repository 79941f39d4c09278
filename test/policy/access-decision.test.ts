import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decideAccess, scopeFor, type AccessQuestion, type PresentedTokenFacts, type SubjectFacts } from '../../policy/access-decision.ts';
import { scopeAllowed } from '../../policy/scope-patterns.ts';
import type { DelegationPolicy } from '../../policy/delegation-policy.ts';

const policy: DelegationPolicy = { maxDepth: 3, humanRootRequired: false, impersonation: false, allowedActors: undefined, allowedAudiences: undefined };
const agent: SubjectFacts = { id: 'agent_a', status: 'active', patterns: ['files.archive:read'], rolePatterns: ['files.reports:**'], organization: 'acme' };
const ask = (overrides: Partial<AccessQuestion> = {}): AccessQuestion => ({
  subject: { type: 'agent', id: 'agent_a' },
  action: { name: 'read' },
  resource: { type: 'files', id: 'reports' },
  facts: agent,
  resourceOrganizations: [],
  ...overrides,
});
const token = (overrides: Partial<Extract<PresentedTokenFacts, { active: true }>> = {}): PresentedTokenFacts => ({
  active: true, subject: 'alice', scopes: ['files.reports:read'], act: { sub: 'agent_a' }, rootIsPerson: true, policy, ...overrides,
});
const rule = (question: AccessQuestion) => {
  const decision = decideAccess(question);
  return decision.decision ? 'permit' : decision.context.rule;
};

describe('the resource/action → scope mapping', () => {
  it('is <type>.<id>:<name>, with dotted ids as sub-resources', () => {
    expect(scopeFor({ type: 'files', id: 'reports' }, { name: 'read' })).toBe('files.reports:read');
    expect(scopeFor({ type: 'files', id: 'reports.q3' }, { name: 'read' })).toBe('files.reports.q3:read');
    expect(scopeFor({ type: 'document', id: 'boxcarring.md' }, { name: 'can_read' })).toBe('document.boxcarring.md:can_read');
  });

  it('names no scope for characters our scope grammar lacks, or a wildcard', () => {
    for (const [type, id, name] of [['files', 'a/b', 'read'], ['files', '*', 'read'], ['files', 'x', '*'], ['files', 'x', '**'], ['files', 'a..b', 'read'], ['fi les', 'x', 'read'], ['files', 'x', 'read:write']]) {
      expect(scopeFor({ type, id }, { name }), `${type} ${id} ${name}`).toBeUndefined();
    }
  });
});

describe('decideAccess', () => {
  it('permits what the subject\'s own patterns or its roles\' allow', () => {
    expect(decideAccess(ask())).toEqual({ decision: true });
    expect(decideAccess(ask({ resource: { type: 'files', id: 'archive' } }))).toEqual({ decision: true });
    expect(decideAccess(ask({ resource: { type: 'files', id: 'reports.q3' }, action: { name: 'write' } }))).toEqual({ decision: true });
  });

  it('denies with the rule and a reason naming the scope', () => {
    expect(decideAccess(ask({ resource: { type: 'files', id: 'secrets' } }))).toEqual({
      decision: false, context: { rule: 'scope_not_allowed', reason: 'agent "agent_a" is not allowed "files.secrets:read" by its scopes or roles' },
    });
  });

  it('denies unknown subject types, unknown subjects, and suspended or revoked agents', () => {
    expect(rule(ask({ subject: { type: 'group', id: 'x' } }))).toBe('unknown_subject_type');
    expect(rule(ask({ facts: undefined }))).toBe('unknown_subject');
    expect(rule(ask({ facts: { ...agent, status: 'suspended' } }))).toBe('subject_inactive');
    expect(rule(ask({ facts: { ...agent, status: 'revoked' } }))).toBe('subject_inactive');
    expect(rule(ask({ resource: { type: 'files', id: 'a/b' } }))).toBe('unmappable_request');
  });

  it('with a token in context: it must be alive, the subject\'s, carry the scope, and its chain within policy', () => {
    expect(rule(ask({ token: token() }))).toBe('permit');
    expect(rule(ask({ token: token({ act: undefined, subject: 'agent_a' }) }))).toBe('permit');
    expect(rule(ask({ token: { active: false, reason: 'revoked' } }))).toBe('token_inactive');
    expect(rule(ask({ token: token({ act: { sub: 'agent_b', act: { sub: 'agent_a' } } }) }))).toBe('token_subject_mismatch');
    expect(rule(ask({ token: token({ scopes: ['files.archive:read'] }) }))).toBe('token_scope');
    const deep = { sub: 'agent_a', act: { sub: 'b', act: { sub: 'c', act: { sub: 'd' } } } };
    expect(rule(ask({ token: token({ act: deep }) }))).toBe('max_depth');
    expect(rule(ask({ token: token({ policy: { ...policy, allowedActors: ['agent_b'] } }) }))).toBe('allowed_actors');
    expect(rule(ask({ token: token({ rootIsPerson: false, policy: { ...policy, humanRootRequired: true } }) }))).toBe('human_root_required');
    // Without a chain there is no delegation for the human-root rule to judge.
    expect(rule(ask({ token: token({ act: undefined, subject: 'agent_a', rootIsPerson: false, policy: { ...policy, humanRootRequired: true } }) }))).toBe('permit');
  });

  const segment = fc.stringMatching(/^[a-z0-9_-]{1,6}$/);
  const patternArb = fc.tuple(fc.array(fc.oneof(segment, fc.constant('*')), { minLength: 1, maxLength: 3 }), fc.oneof(segment, fc.constant('*'), fc.constant('**')))
    .map(([resource, action]) => `${resource.join('.')}:${action}`);
  const questionArb = fc.record({
    type: fc.constantFrom('agent', 'client', 'user', 'group'),
    resourceType: segment,
    resourceId: fc.array(segment, { minLength: 1, maxLength: 3 }).map((parts) => parts.join('.')),
    action: segment,
    status: fc.constantFrom('active', 'suspended', 'revoked') as fc.Arbitrary<SubjectFacts['status']>,
    patterns: fc.array(patternArb, { maxLength: 4 }),
    rolePatterns: fc.array(patternArb, { maxLength: 4 }),
    known: fc.boolean(),
  }).map((q): AccessQuestion => ({
    subject: { type: q.type, id: 'agent_x' },
    action: { name: q.action },
    resource: { type: q.resourceType, id: q.resourceId },
    facts: q.known ? { id: 'agent_x', status: q.status, patterns: q.patterns, rolePatterns: q.rolePatterns, organization: 'default' } : undefined,
    resourceOrganizations: [],
  }));

  it('permits exactly when a known, active subject\'s patterns or roles allow the mapped scope (property)', () => {
    fc.assert(fc.property(questionArb, (question) => {
      const { facts } = question;
      const expected = question.subject.type !== 'group' && !!facts && facts.status === 'active'
        && scopeAllowed(scopeFor(question.resource, question.action)!, [...facts.patterns, ...facts.rolePatterns]);
      expect(decideAccess(question).decision).toBe(expected);
    }));
  });

  it('a token in context only ever narrows: it never turns a deny into a permit (property)', () => {
    const tokenArb = fc.oneof(
      fc.constant<PresentedTokenFacts>({ active: false, reason: 'x' }),
      fc.record({ scopes: fc.array(fc.constantFrom('files.reports:read', 'a.b:c'), { maxLength: 2 }), depth: fc.integer({ min: 0, max: 5 }) })
        .map(({ scopes, depth }): PresentedTokenFacts => {
          let act: { sub: string; act?: unknown } | undefined;
          for (let i = 0; i < depth; i += 1) act = { sub: i === depth - 1 ? 'agent_x' : `a${i}`, ...(act ? { act } : {}) };
          return { active: true, subject: 'agent_x', scopes, act: act as never, rootIsPerson: true, policy };
        }),
    );
    fc.assert(fc.property(questionArb, tokenArb, (question, presented) => {
      if (!decideAccess(question).decision) expect(decideAccess({ ...question, token: presented }).decision).toBe(false);
    }));
  });

  it('denies another organization\'s resource before any scope rule; its own organization\'s or an unowned family is for the scopes to decide', () => {
    expect(decideAccess(ask({ resourceOrganizations: ['beta'] }))).toEqual({
      decision: false, context: { rule: 'organization_mismatch', reason: 'resource "files" belongs to organization "beta", and agent "agent_a" to "acme"' },
    });
    expect(decideAccess(ask({ resourceOrganizations: ['acme'] }))).toEqual({ decision: true });
    // Registered in several organizations, one of them the subject's: the scope rules decide.
    expect(decideAccess(ask({ resourceOrganizations: ['beta', 'acme'] }))).toEqual({ decision: true });
    expect(decideAccess(ask({ resourceOrganizations: [] }))).toEqual({ decision: true });
    // A suspended subject is still told it is suspended first.
    expect(rule(ask({ facts: { ...agent, status: 'suspended' }, resourceOrganizations: ['beta'] }))).toBe('subject_inactive');
  });
});
