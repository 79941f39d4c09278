// Approval tiers (policy/approval-tiers.ts): first matching rule per scope and detail, the strictest wins, field
// conditions, the default, and the policy's own validation.
import { describe, expect, it } from 'vitest';
import { approvalPolicy, approvalTier, NO_APPROVAL_POLICY, reasonsNeedingApproval, stricterTier } from '../../policy/approval-tiers.ts';

const policy = approvalPolicy.parse({
  rules: [
    { type: 'agent_action', when: [{ field: 'action', op: '==', value: 'payments.create' }, { field: 'parameters.amount', op: '>', value: 1000 }], tier: 'strong' },
    { type: 'agent_action', when: [{ field: 'action', op: 'in', value: ['payments.create', 'payments.refund'] }], tier: 'soft' },
    { type: 'agent_action', tier: 'autonomous' },
    { scopes: ['payments:**'], tier: 'soft' },
    { scopes: ['reports:read'], tier: 'autonomous' },
  ],
});

const payment = (amount: unknown) => ({ type: 'agent_action', action: 'payments.create', parameters: { amount } });

describe('approval tiers', () => {
  it('is autonomous throughout without rules (the behaviour before tiers)', () => {
    expect(approvalTier(NO_APPROVAL_POLICY, { scopes: ['payments:write'], authorizationDetails: [payment(5000)] }).tier).toBe('autonomous');
  });

  it('lets the first matching rule decide each scope', () => {
    expect(approvalTier(policy, { scopes: ['reports:read'], authorizationDetails: [] })).toEqual({
      tier: 'autonomous', reasons: [{ target: { scope: 'reports:read' }, rule: 4, tier: 'autonomous' }], secondApprovers: [],
    });
    expect(approvalTier(policy, { scopes: ['payments.invoices:pay'], authorizationDetails: [] }).tier).toBe('soft');
  });

  it('applies field conditions: amount > 1000 is strong, a smaller payment soft, another action autonomous', () => {
    expect(approvalTier(policy, { scopes: [], authorizationDetails: [payment(1200)] }).reasons[0]).toEqual({ target: { detail: 0, type: 'agent_action' }, rule: 0, tier: 'strong' });
    // Amounts as RFC 9396's examples write them, decimal strings, compare as numbers.
    expect(approvalTier(policy, { scopes: [], authorizationDetails: [payment('1000.01')] }).tier).toBe('strong');
    expect(approvalTier(policy, { scopes: [], authorizationDetails: [payment(1000)] }).tier).toBe('soft');
    expect(approvalTier(policy, { scopes: [], authorizationDetails: [payment('lots')] }).tier).toBe('soft');
    expect(approvalTier(policy, { scopes: [], authorizationDetails: [{ type: 'agent_action', action: 'calendar.read' }] }).tier).toBe('autonomous');
  });

  it('takes the strictest tier over every scope and detail, and names the ones needing a person', () => {
    const decision = approvalTier(policy, { scopes: ['reports:read', 'payments:write'], authorizationDetails: [{ type: 'agent_action', action: 'calendar.read' }, payment(2000)] });
    expect(decision.tier).toBe('strong');
    expect(reasonsNeedingApproval(decision).map((reason) => reason.target)).toEqual([{ scope: 'payments:write' }, { detail: 1, type: 'agent_action' }]);
  });

  it('falls back to the default for what no rule covers', () => {
    const strict = approvalPolicy.parse({ rules: [{ scopes: ['reports:read'], tier: 'autonomous' }], default: 'soft' });
    expect(approvalTier(strict, { scopes: ['reports:read'], authorizationDetails: [] }).tier).toBe('autonomous');
    expect(approvalTier(strict, { scopes: ['files:delete'], authorizationDetails: [] }).reasons[0]).toEqual({ target: { scope: 'files:delete' }, rule: undefined, tier: 'soft' });
    expect(approvalTier(strict, { scopes: [], authorizationDetails: [{ type: 'other' }] }).tier).toBe('soft');
  });

  it('supports exists, != and the other comparisons', () => {
    const rules = approvalPolicy.parse({ rules: [
      { type: 't', when: [{ field: 'request.method', op: '!=', value: 'GET' }], tier: 'soft' },
      { type: 't', when: [{ field: 'request', op: 'exists', value: false }], tier: 'strong' },
      { type: 'n', when: [{ field: 'x', op: '<=', value: 3 }], tier: 'strong' },
      { type: 'n', when: [{ field: 'x', op: '<', value: 10 }, { field: 'x', op: '>=', value: 4 }], tier: 'soft' },
    ] });
    const tier = (detail: Record<string, unknown>) => approvalTier(rules, { scopes: [], authorizationDetails: [detail] }).tier;
    expect(tier({ type: 't', request: { method: 'POST' } })).toBe('soft');
    expect(tier({ type: 't', request: { method: 'GET' } })).toBe('autonomous');
    expect(tier({ type: 't' })).toBe('strong');
    expect(tier({ type: 'n', x: 3 })).toBe('strong');
    expect(tier({ type: 'n', x: 9 })).toBe('soft');
    expect(tier({ type: 'n', x: 10 })).toBe('autonomous');
  });

  it('collects the second approvers of every matching strong rule, once each, in request order (scopes, then details)', () => {
    const dual = approvalPolicy.parse({
      rules: [
        { type: 'agent_action', when: [{ field: 'parameters.amount', op: '>', value: 10000 }], tier: 'strong', second_approvers: ['cfo', 'controller'] },
        { scopes: ['payments:write'], tier: 'strong', second_approvers: ['controller', 'treasurer'] },
        { scopes: ['payments:**'], tier: 'soft' },
      ],
    });
    expect(approvalTier(dual, { scopes: ['payments:write'], authorizationDetails: [payment(20000)] })).toMatchObject({ tier: 'strong', secondApprovers: ['controller', 'treasurer', 'cfo'] });
    expect(approvalTier(dual, { scopes: ['payments:read'], authorizationDetails: [payment(50)] })).toMatchObject({ tier: 'soft', secondApprovers: [] });
  });

  it('orders tiers', () => {
    expect(stricterTier('autonomous', 'soft')).toBe('soft');
    expect(stricterTier('strong', 'soft')).toBe('strong');
  });

  it('refuses malformed policies, naming the problem', () => {
    const problem = (input: unknown) => {
      const parsed = approvalPolicy.safeParse(input);
      return parsed.success ? undefined : `${parsed.error.issues[0].path.join('.')}: ${parsed.error.issues[0].message}`;
    };
    expect(problem({ rules: [{ tier: 'soft' }] })).toBe('rules.0: a rule names either "scopes" or "type", exactly one');
    expect(problem({ rules: [{ scopes: ['a:b'], type: 't', tier: 'soft' }] })).toBe('rules.0: a rule names either "scopes" or "type", exactly one');
    expect(problem({ rules: [{ scopes: ['a:b'], when: [{ field: 'x', op: '==', value: 1 }], tier: 'soft' }] })).toBe('rules.0.when: conditions apply to authorization_details fields, so need "type"');
    expect(problem({ rules: [{ type: 't', when: [{ field: 'amount', op: '>', value: '1000' }], tier: 'soft' }] })).toBe('rules.0.when.0.value: must be a number for ">"');
    expect(problem({ rules: [{ type: 't', when: [{ field: 'amount', op: 'in', value: 3 }], tier: 'soft' }] })).toBe('rules.0.when.0.value: must be an array for "in"');
    expect(problem({ rules: [{ type: 't', when: [{ field: 'a..b', op: 'exists' }], tier: 'soft' }] })).toContain('rules.0.when.0.field');
    expect(problem({ rules: [{ scopes: ['a:b'], tier: 'maybe' }] })).toContain('rules.0.tier');
    expect(problem({ rules: [{ scopes: ['re*d:x:'], tier: 'soft' }] })).toContain('rules.0.scopes.0');
    expect(problem({ rules: [], extra: 1 })).toContain('extra');
    expect(problem({ rules: [{ scopes: ['a:b'], tier: 'soft', second_approvers: ['cfo'] }] })).toBe('rules.0.second_approvers: a second approver is part of the "strong" tier only');
    expect(problem({ rules: [{ scopes: ['a:b'], tier: 'strong', second_approvers: [] }] })).toContain('rules.0.second_approvers');
  });
});
