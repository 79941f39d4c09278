import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { cycleThrough, expandRoles, inheritorsOf, patternsOfRoles, roleGraph, type RoleNode } from '../../policy/roles.ts';

const role = (name: string, scopes: string[], inherits: string[] = []): RoleNode => ({ name, scopes, inherits });
const graph = roleGraph([
  role('viewer', ['reports:read']),
  role('editor', ['reports:write'], ['viewer']),
  role('admin', ['reports:*', 'users:read'], ['editor']),
  role('auditor', ['audit:read'], ['viewer']),
]);

describe('role inheritance', () => {
  it('expands three levels, each role once, in the order reached', () => {
    expect(expandRoles(graph, ['admin'])).toEqual(['admin', 'editor', 'viewer']);
    expect(expandRoles(graph, ['admin', 'auditor'])).toEqual(['admin', 'editor', 'viewer', 'auditor']);
  });

  it('grants the patterns of every role reached, each once', () => {
    expect(patternsOfRoles(graph, ['admin'])).toEqual(['reports:*', 'users:read', 'reports:write', 'reports:read']);
    expect(patternsOfRoles(graph, ['editor', 'auditor'])).toEqual(['reports:write', 'reports:read', 'audit:read']);
    expect(patternsOfRoles(graph, [])).toEqual([]);
  });

  it('grants nothing for a name the graph no longer has', () => {
    expect(expandRoles(graph, ['deleted', 'viewer'])).toEqual(['viewer']);
  });

  it('names the roles inheriting one directly', () => {
    expect(inheritorsOf(graph, 'viewer')).toEqual(['auditor', 'editor']);
    expect(inheritorsOf(graph, 'admin')).toEqual([]);
  });
});

describe('cycles', () => {
  it('names the path of the cycle a change would close', () => {
    expect(cycleThrough(graph, role('viewer', ['reports:read'], ['admin']))).toEqual(['viewer', 'admin', 'editor', 'viewer']);
    expect(cycleThrough(graph, role('editor', [], ['editor']))).toEqual(['editor', 'editor']);
  });

  it('accepts changes that close none, diamonds included', () => {
    expect(cycleThrough(graph, role('lead', [], ['admin', 'auditor']))).toBeUndefined();
    expect(cycleThrough(graph, role('viewer', ['reports:read'], ['unknown']))).toBeUndefined();
  });

  it('never lets a sequence of accepted changes form a cycle (property)', () => {
    const names = ['a', 'b', 'c', 'd', 'e'];
    const change = fc.record({ name: fc.constantFrom(...names), inherits: fc.subarray(names) });
    fc.assert(fc.property(fc.array(change, { maxLength: 30 }), (changes) => {
      const roles = new Map<string, RoleNode>();
      for (const { name, inherits } of changes) {
        const candidate = role(name, [], inherits);
        if (!cycleThrough(roles, candidate)) roles.set(name, candidate);
      }
      // Acyclic: expanding any role never reaches itself through a parent.
      for (const node of roles.values()) {
        expect(node.inherits.flatMap((parent) => expandRoles(roles, [parent]))).not.toContain(node.name);
      }
    }));
  });
});
