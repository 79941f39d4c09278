// Who may approve a request that needs a second approver (server/approval-decisions.ts approvalStep): the user
// it is addressed to first, then one of its second approvers other than them, never the same person twice.
import { describe, expect, it } from 'vitest';
import type { Approval } from '../../adapters/approval-store.ts';
import { approvalStep } from '../../server/approval-decisions.ts';

const pending = (overrides: Partial<Approval> = {}): Approval => ({
  id: 'apr_1', authReqId: 'req', clientId: 'agent_1', userId: 'olga', scope: [], authorizationDetails: null, bindingMessage: 'Pay',
  tier: 'strong', reasons: [], status: 'pending', expiresAt: new Date(Date.now() + 60_000), createdAt: new Date(), decidedAt: null, decidedBy: null,
  secondApprovers: ['cfo', 'controller'], firstApproval: null, orgId: 'default', ...overrides,
});
const firstApproved = pending({ firstApproval: { by: { via: 'inbox', user_id: 'olga', reauthenticated: true }, at: new Date() } });

describe('approvalStep', () => {
  it('the named user approves first; nobody else does', () => {
    expect(approvalStep(pending(), 'olga')).toEqual({ step: 'first' });
    expect(approvalStep(pending(), 'cfo')).toEqual({ refused: 'the user this request is addressed to approves it first; a second approver approves after them' });
    expect(approvalStep(pending(), 'mallory')).toEqual({ refused: 'this request needs the approval of the user it is addressed to first' });
    expect(approvalStep(pending(), undefined)).toMatchObject({ refused: expect.any(String) });
  });

  it('then one of the second approvers, never the first approver again', () => {
    expect(approvalStep(firstApproved, 'cfo')).toEqual({ step: 'second' });
    expect(approvalStep(firstApproved, 'controller')).toEqual({ step: 'second' });
    expect(approvalStep(firstApproved, 'olga')).toEqual({ refused: 'this request has your approval already; it waits for a second approver' });
    expect(approvalStep(firstApproved, 'mallory')).toEqual({ refused: 'this request waits for a second approver, and you are not one of those its approval tiers name' });
    expect(approvalStep(firstApproved, undefined)).toMatchObject({ refused: expect.any(String) });
  });
});
