// Deciding an approval, once, for every place a person or an operator decides one (the admin API and the inbox
// pages): the conditional update, the completion of oidc-provider's backchannel request (CIBA §10: the
// client's next poll, or its ping, gets the token or access_denied) and the audit event with approver and tier.
import type Provider from 'oidc-provider';
import { errors } from 'oidc-provider';
import type { Approval, ApprovalStore, Approver } from '../adapters/approval-store.ts';
import type { AuditEvent } from '../adapters/audit-log.ts';
import type { JsonObject } from '../adapters/database.ts';
import { StorageUnavailable } from '../adapters/dependency-faults.ts';
import { HttpError, NotFound } from './http-error.ts';
import type { Logger } from './logger.ts';

export interface DecisionContext {
  actor: JsonObject;
  requestId?: string;
  sourceIp?: string;
}

export interface ApprovalDecisionDependencies {
  provider: Provider;
  approvals: ApprovalStore;
  audit: { record(event: AuditEvent): void };
  logger: Logger;
}

export function approvalDecisions(deps: ApprovalDecisionDependencies) {
  const { approvals, provider } = deps;

  function record(context: DecisionContext, event: string, approval: Approval, outcome: 'success' | 'failure', details: JsonObject = {}, reason?: string): void {
    deps.audit.record({
      event, outcome, ...(reason ? { reason } : {}), actor: context.actor, clientId: approval.clientId, subject: approval.userId, orgId: approval.orgId,
      requestId: context.requestId, sourceIp: context.sourceIp, details: { approval: approval.id, tier: approval.tier, ...details },
    });
  }

  /**
   * The approval, or 409 when it cannot be decided any more (expired ones are marked and audited on the way).
   * `check` refuses one this caller may not decide (another organization's), before anything is marked.
   */
  async function pending(context: DecisionContext, id: string, check?: (approval: Approval) => void): Promise<Approval> {
    const approval = await approvals.get(id);
    if (!approval) throw new NotFound('approval');
    check?.(approval);
    if (approval.status === 'pending' && approval.expiresAt.getTime() <= Date.now()) {
      await expire(context, approval);
      throw new HttpError(409, 'invalid_request', 'the approval request has expired; the client must make a new one');
    }
    if (approval.status !== 'pending') throw new HttpError(409, 'invalid_request', `the approval request is already ${approval.status}`);
    return approval;
  }

  async function expire(context: DecisionContext, approval: Approval): Promise<void> {
    const expired = await approvals.expire(approval.id);
    if (expired) record(context, 'approval.expired', expired, 'failure', {}, 'nobody decided before the request expired');
  }

  /** Another approver got there first (on any instance). */
  const alreadyDecided = () => new HttpError(409, 'invalid_request', 'the approval request was decided (or expired) meanwhile');

  // The request is completed in Redis or memory; a failed ping (the client's notification endpoint) does not undo
  // the decision: the client can still poll (CIBA §10.2).
  async function complete(approval: Approval, result: InstanceType<Provider['Grant']> | InstanceType<typeof errors.AccessDenied>, options: Record<string, unknown>): Promise<{ notification?: string }> {
    try {
      await provider.backchannelResult(approval.authReqId, result as never, options);
      return {};
    } catch (error) {
      if (error instanceof StorageUnavailable) throw error;
      if ((error as Error).message === 'BackchannelAuthenticationRequest not found') {
        throw new HttpError(409, 'invalid_request', 'the backchannel request is gone (it expired); the client must make a new one');
      }
      deps.logger.warn({ err: error, approval: approval.id }, 'approval: notifying the client failed');
      return { notification: `the client's notification endpoint could not be reached (${(error as Error).message}); it can still poll` };
    }
  }

  async function approve(context: DecisionContext, approval: Approval, approver: Approver): Promise<{ decided: Approval; notification?: string; awaiting_second_approver?: true }> {
    if (approval.secondApprovers.length) {
      const step = approvalStep(approval, approver.user_id);
      if ('refused' in step) throw new HttpError(403, 'access_denied', step.refused);
      if (step.step === 'first') {
        const first = await approvals.approveFirst(approval.id, approver);
        if (!first) throw alreadyDecided();
        record(context, 'approval.first_approved', first, 'success', { approver, second_approvers: first.secondApprovers });
        return { decided: first, awaiting_second_approver: true };
      }
    }
    const decided = await approvals.decide(approval.id, 'approved', approver);
    if (!decided) throw alreadyDecided();
    const request = await provider.BackchannelAuthenticationRequest.find(approval.authReqId, { ignoreExpiration: true });
    if (!request) throw new HttpError(409, 'invalid_request', 'the backchannel request is gone (it expired); the client must make a new one');
    // The grant holds what was asked for, as asked: the token gets these scopes at the requested resource.
    const grant = new provider.Grant({ accountId: approval.userId, clientId: approval.clientId });
    const scope = approval.scope.join(' ');
    grant.addOIDCScope(scope);
    for (const resource of [request.resource].flat().filter((value): value is string => typeof value === 'string')) grant.addResourceScope(resource, scope);
    await grant.save();
    const outcome = await complete(approval, grant, {
      authTime: Math.floor(Date.now() / 1000),
      ...(approval.tier === 'strong' ? { amr: ['pwd'] } : {}),
      ...(approval.authorizationDetails ? { rar: approval.authorizationDetails } : {}),
    });
    record(context, 'approval.approved', decided, 'success', { approver, ...(decided.firstApproval ? { first_approver: decided.firstApproval.by } : {}) });
    return { decided, ...outcome };
  }

  async function deny(context: DecisionContext, approval: Approval, approver: Approver): Promise<{ decided: Approval; notification?: string }> {
    const decided = await approvals.decide(approval.id, 'denied', approver);
    if (!decided) throw alreadyDecided();
    // CIBA §11: the client's next token request is answered access_denied.
    const outcome = await complete(approval, new errors.AccessDenied(approver.reason ?? 'the request was denied'), {});
    record(context, 'approval.denied', decided, 'success', { approver, ...(approver.reason ? { reason: approver.reason } : {}) });
    return { decided, ...outcome };
  }

  return { pending, expire, approve, deny, record };
}
export type ApprovalDecisions = ReturnType<typeof approvalDecisions>;

/**
 * Whether `userId` may approve `approval` now, for a request whose tiers ask for a second approver: the user it
 * names approves first, then one of its second approvers other than them. Every place that approves asks this.
 */
export function approvalStep(approval: Approval, userId: string | undefined): { step: 'first' | 'second' } | { refused: string } {
  if (!approval.firstApproval) {
    if (userId === approval.userId) return { step: 'first' };
    return { refused: userId !== undefined && approval.secondApprovers.includes(userId)
      ? 'the user this request is addressed to approves it first; a second approver approves after them'
      : 'this request needs the approval of the user it is addressed to first' };
  }
  if (userId === approval.userId || userId === approval.firstApproval.by.user_id) return { refused: 'this request has your approval already; it waits for a second approver' };
  if (userId !== undefined && approval.secondApprovers.includes(userId)) return { step: 'second' };
  return { refused: 'this request waits for a second approver, and you are not one of those its approval tiers name' };
}
