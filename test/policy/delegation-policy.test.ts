import { describe, expect, it } from 'vitest';
import { nestActor } from '../../policy/act-chain.ts';
import {
  checkAllowedActor, checkAudience, checkChainDepth, checkHumanRoot, checkMayAct, checkTargetWithinSubjectAudience, clientDelegationPolicy, narrowScopes, policyFor,
} from '../../policy/delegation-policy.ts';

const ISSUER = 'https://as.example';
const chain = (...actors: string[]) => actors.reverse().reduce<ReturnType<typeof nestActor> | undefined>((prior, sub) => nestActor({ sub }, prior), undefined);

describe('delegation policy', () => {
  it('merges a client override onto the defaults', () => {
    const defaults = { maxDepth: 5, humanRootRequired: false, impersonation: false };
    expect(policyFor(defaults, undefined)).toEqual({ ...defaults, allowedActors: undefined, allowedAudiences: undefined });
    expect(policyFor(defaults, { max_depth: 2, human_root_required: true, allowed_actors: ['a'] })).toEqual({
      maxDepth: 2, humanRootRequired: true, impersonation: false, allowedActors: ['a'], allowedAudiences: undefined,
    });
    expect(clientDelegationPolicy.safeParse({ max_depth: 0 }).success).toBe(false);
    expect(clientDelegationPolicy.safeParse({ bogus: true }).success).toBe(false);
  });

  it('max_depth counts every actor of the new chain', () => {
    expect(checkChainDepth(chain('c', 'b', 'a'), 3)).toBeUndefined();
    expect(checkChainDepth(undefined, 1)).toBeUndefined();
    expect(checkChainDepth(chain('d', 'c', 'b', 'a'), 3)).toMatchObject({ rule: 'max_depth', error: 'invalid_request', description: expect.stringContaining('4 actors') });
  });

  it('allowed_actors', () => {
    expect(checkAllowedActor('a', undefined)).toBeUndefined();
    expect(checkAllowedActor('a', ['a', 'b'])).toBeUndefined();
    expect(checkAllowedActor('c', ['a', 'b'])).toMatchObject({ rule: 'allowed_actors', error: 'invalid_request' });
    expect(checkAllowedActor('c', [])).toMatchObject({ rule: 'allowed_actors' });
  });

  it('human_root_required', () => {
    expect(checkHumanRoot(false, false)).toBeUndefined();
    expect(checkHumanRoot(true, true)).toBeUndefined();
    expect(checkHumanRoot(true, false)).toMatchObject({ rule: 'human_root_required', error: 'invalid_request' });
  });

  it('allowed_audiences refuses with invalid_target', () => {
    expect(checkAudience('https://a/', undefined)).toBeUndefined();
    expect(checkAudience(undefined, ['https://a/'])).toBeUndefined();
    expect(checkAudience('https://a/', ['https://a/'])).toBeUndefined();
    expect(checkAudience('https://b/', ['https://a/'])).toMatchObject({ rule: 'allowed_audiences', error: 'invalid_target' });
  });

  it('subject_audience: a token for one resource yields tokens for that resource only', () => {
    expect(checkTargetWithinSubjectAudience('https://a/', ['https://a/'])).toBeUndefined();
    expect(checkTargetWithinSubjectAudience('https://b/', undefined)).toBeUndefined();
    expect(checkTargetWithinSubjectAudience(undefined, ['https://a/'])).toBeUndefined();
    expect(checkTargetWithinSubjectAudience('https://b/', ['https://a/'])).toMatchObject({ rule: 'subject_audience', error: 'invalid_target' });
  });

  it('may_act must name the actor (and its issuer, when stated)', () => {
    expect(checkMayAct(undefined, { sub: 'x' }, ISSUER)).toBeUndefined();
    expect(checkMayAct({ sub: 'x' }, { sub: 'x' }, ISSUER)).toBeUndefined();
    expect(checkMayAct({ sub: 'x', iss: ISSUER }, { sub: 'x' }, ISSUER)).toBeUndefined();
    expect(checkMayAct({ sub: 'x', iss: 'https://other' }, { sub: 'x' }, ISSUER)).toMatchObject({ rule: 'may_act', error: 'invalid_request' });
    expect(checkMayAct({ sub: 'x' }, { sub: 'y' }, ISSUER)).toMatchObject({ rule: 'may_act' });
    expect(checkMayAct({ sub: 'x' }, { sub: 'x', iss: 'https://idp' }, ISSUER)).toBeUndefined();
    expect(checkMayAct({}, { sub: 'x' }, ISSUER)).toMatchObject({ rule: 'may_act' });
  });

  it('scopes only narrow', () => {
    expect(narrowScopes([], ['a', 'b'])).toEqual({ scopes: ['a', 'b'] });
    expect(narrowScopes(['a'], ['a', 'b'])).toEqual({ scopes: ['a'] });
    expect(narrowScopes(['a', 'c'], ['a', 'b'])).toMatchObject({ rule: 'scope', error: 'invalid_scope', scope: 'c', description: expect.stringContaining('"c"') });
    expect(narrowScopes(['a'], [])).toMatchObject({ rule: 'scope' });
  });
});
