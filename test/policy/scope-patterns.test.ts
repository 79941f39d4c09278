import { describe, expect, it } from 'vitest';
import { InvalidScopePatternError, isConcreteScope, parseScopePattern, scopeAllowed, scopesNotAllowed } from '../../policy/scope-patterns.ts';

describe('scope patterns', () => {
  it.each([
    ['files:read', 'files:read', true],
    ['files:read', 'files:write', false],
    ['files:read', 'files.reports:read', false],
    ['files:*', 'files:read', true],
    ['files:*', 'files:delete', true],
    ['files:*', 'files.reports:read', false],
    ['files:**', 'files:read', true],
    ['files:**', 'files.reports:read', true],
    ['files:**', 'files.reports.q1:write', true],
    ['files:**', 'filesystem:read', false],
    ['files:**', 'other.files:read', false],
    ['files.**:read', 'files:read', true],
    ['files.**:read', 'files.reports.q1:read', true],
    ['files.**:read', 'files.reports:write', false],
    ['files.*:read', 'files.reports:read', true],
    ['files.*:read', 'files:read', false],
    ['files.*:read', 'files.reports.q1:read', false],
    ['*.tasks:write', 'projects.tasks:write', true],
    ['*.tasks:write', 'projects.tasks:read', false],
    ['*.tasks:write', 'projects.sub.tasks:write', false],
    ['*:read', 'anything:read', true],
    ['*:read', 'any.thing:read', false],
    ['**:read', 'any.thing.at.all:read', true],
    ['**:*', 'a.b:c', true],
    ['projects.tasks:read', 'projects.tasks:read', true],
    ['read', 'read', true],
    ['read', 'write', false],
    ['read', 'files:read', false],
    ['files:read', 'read', false],
  ])('%s allows %s: %s', (pattern, scope, allowed) => {
    expect(scopeAllowed(scope, [pattern])).toBe(allowed);
  });

  it('never treats a requested wildcard as a concrete scope', () => {
    expect(scopeAllowed('files:*', ['files:*'])).toBe(false);
    expect(scopeAllowed('files:**', ['**:*'])).toBe(false);
    expect(scopeAllowed('*.tasks:read', ['**:read'])).toBe(false);
    expect(isConcreteScope('files.reports:read')).toBe(true);
    expect(isConcreteScope('openid')).toBe(true);
    expect(isConcreteScope('files:*')).toBe(false);
  });

  it('allows a scope when any pattern allows it', () => {
    expect(scopeAllowed('b:read', ['a:read', 'b:*'])).toBe(true);
    expect(scopesNotAllowed(['a:read', 'b:write', 'c:read'], ['a:read', 'b:*'])).toEqual(['c:read']);
    expect(scopesNotAllowed([], [])).toEqual([]);
    expect(scopeAllowed('a:read', [])).toBe(false);
  });

  it.each([
    ['', 'is empty'],
    ['files:', 'has no action'],
    [':read', 'has no resource'],
    ['files:read:write', 'more than one ":"'],
    ['files..reports:read', 'invalid resource segment ""'],
    ['files.**.reports:read', '"**" only as the last'],
    ['fi*les:read', 'invalid resource segment'],
    ['files:re*d', 'invalid action'],
    ['files:***', 'invalid action'],
    ['files reports:read', 'invalid resource segment'],
    ['a"b', 'characters a plain scope cannot have'],
    ['*', 'characters a plain scope cannot have'],
    ['x'.repeat(300), 'longer than 256'],
  ])('refuses the malformed pattern %j', (pattern, problem) => {
    expect(() => parseScopePattern(pattern)).toThrow(InvalidScopePatternError);
    expect(() => parseScopePattern(pattern)).toThrow(problem);
  });

  it('ignores malformed patterns instead of letting them match', () => {
    expect(scopeAllowed('files:read', ['files:', 'fi*les:read'])).toBe(false);
  });
});
