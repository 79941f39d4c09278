// /admin/approvals: backchannel (CIBA) requests waiting for a person, and the history of decided ones, for
// operator tooling; approving or denying one completes it through oidc-provider's `backchannelResult`, and the
// client's next poll (or its ping notification) gets the token or `access_denied`.
// /admin/approval-tiers/:client_id: a client's approval tiers (policy/approval-tiers.ts).
// An organization's operator (server/admin-scope.ts) lists and decides only the approvals of its organization's
// clients, and reads and sets only its own clients' tiers.
//
// A `strong` tier means the approving user re-authenticates at approval time. Until the inbox pages ask for it,
// the admin API does it here: approving a strong request needs that user's current password in the body, checked
// as a login is (never a remembered session), and a wrong or missing one refuses the approval.
import Router from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import { z } from 'zod';
import type { Approval, ApprovalStore, Approver } from '../../adapters/approval-store.ts';
import type { AuditLog } from '../../adapters/audit-log.ts';
import type { UserStore } from '../../adapters/user-store.ts';
import type { Logger } from '../logger.ts';
import { approvalDecisions } from '../approval-decisions.ts';
import { approvalPolicy } from '../../policy/approval-tiers.ts';
import { adminActor, adminScopeOf, checkMember, listedOrganization } from '../admin-scope.ts';
import { HttpError, InvalidField, NotFound } from '../http-error.ts';
import { readJson } from '../read-body.ts';
import { parseInput } from '../validation.ts';

const listQuery = z.object({
  status: z.enum(['pending', 'approved', 'denied', 'expired']).optional(),
  user_id: z.string().min(1).max(512).optional(),
  client_id: z.string().min(1).max(512).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(2048).optional(),
});
const approveBody = z.strictObject({
  password: z.string().min(1).max(1024).optional(),
  /** The approving user: the named user (the default), or, for the second approval, one of the second approvers. */
  user_id: z.string().min(1).max(512).optional(),
});
const denyBody = z.strictObject({ reason: z.string().min(1).max(500).optional() });

export interface AdminApprovalDependencies {
  provider: Provider;
  approvals: ApprovalStore;
  users: Pick<UserStore, 'findById' | 'verifyPassword'>;
  audit: Pick<AuditLog, 'record'>;
  /** The organization of a client (agent or registered), undefined for none: tiers are stored only for one that exists. */
  clientOrganization: (clientId: string) => Promise<string | undefined>;
  logger: Logger;
}

export function adminApprovalRoutes(deps: AdminApprovalDependencies): Router {
  const { approvals, audit } = deps;
  const router = new Router({ prefix: '/admin' });

  const decisions = approvalDecisions(deps);
  const contextOf = (ctx: Context) => ({ actor: adminActor(ctx), requestId: ctx.state.requestId as string | undefined, sourceIp: ctx.ip });
  /** 404 for none, 403 for another organization's (checked before anything is decided or marked expired). */
  const visibleTo = (ctx: Context) => (approval: Approval) => checkMember(ctx, 'approval', approval.orgId);

  router.get('/approvals', async (ctx) => {
    const query = parseInput(listQuery, ctx.query);
    const page = await approvals.list({ status: query.status, userId: query.user_id, clientId: query.client_id, orgId: listedOrganization(ctx), limit: query.limit, cursor: query.cursor });
    ctx.body = { items: page.items.map(view), next_cursor: page.nextCursor };
  });

  router.get('/approvals/:id', async (ctx) => {
    const approval = await approvals.get(ctx.params.id);
    if (!approval) throw new NotFound('approval');
    visibleTo(ctx)(approval);
    ctx.body = view(approval);
  });

  router.post('/approvals/:id/approve', async (ctx) => {
    const body = parseInput(approveBody, await optionalJson(ctx));
    const approval = await decisions.pending(contextOf(ctx), ctx.params.id, visibleTo(ctx));
    const approver: Approver = { via: 'admin_api' };
    // Who approves: the named user, unless it waits for a second approver, whom the operator must name.
    const awaitingSecond = approval.firstApproval !== null;
    if (awaitingSecond && body.user_id === undefined) {
      throw new InvalidField('user_id', `this request has the named user's approval and waits for a second approver: send the user_id and password of one of ${approval.secondApprovers.map((id) => `"${id}"`).join(', ')}`);
    }
    if (!awaitingSecond && body.user_id !== undefined && body.user_id !== approval.userId) {
      throw new InvalidField('user_id', 'the user this request is addressed to approves it first');
    }
    const approverId = body.user_id ?? approval.userId;
    if (approval.tier === 'strong') {
      const user = await deps.users.findById(approverId);
      const reauthenticated = user && body.password !== undefined ? await deps.users.verifyPassword(user.username, body.password) : undefined;
      if (!reauthenticated) {
        decisions.record(contextOf(ctx), 'approval.approved', approval, 'failure', {}, body.password === undefined ? 'strong tier: no re-authentication' : 'strong tier: re-authentication failed');
        throw new HttpError(403, 'access_denied', body.password === undefined
          ? 'this request is of approval tier "strong": the approving user must re-authenticate; send their current password as {"password": …}'
          : 'this request is of approval tier "strong" and the password given is not the approving user\'s');
      }
      Object.assign(approver, { user_id: approverId, reauthenticated: true });
    }
    const { decided, ...outcome } = await decisions.approve(contextOf(ctx), approval, approver);
    ctx.body = { ...view(decided), ...outcome };
  });

  router.post('/approvals/:id/deny', async (ctx) => {
    const body = parseInput(denyBody, await optionalJson(ctx));
    const approval = await decisions.pending(contextOf(ctx), ctx.params.id, visibleTo(ctx));
    const { decided, ...outcome } = await decisions.deny(contextOf(ctx), approval, { via: 'admin_api', ...(body.reason ? { reason: body.reason } : {}) });
    ctx.body = { ...view(decided), ...outcome };
  });

  /**
   * The organization of the client the path names, for this caller: 403 for another organization's. An
   * organization's operator is told 404 for a client that does not exist; the platform operator may still read
   * and delete the tiers of a client that is gone (`undefined`).
   */
  async function tieredClient(ctx: Context): Promise<string | undefined> {
    const orgId = await deps.clientOrganization(ctx.params.clientId);
    if (orgId === undefined) {
      if (adminScopeOf(ctx).kind === 'organization') throw new NotFound('client');
      return undefined;
    }
    checkMember(ctx, 'client', orgId);
    return orgId;
  }

  function recordTiers(ctx: Context, event: string, orgId: string | undefined, details?: { rules: number; default: string }): void {
    audit.record({
      event, outcome: 'success', actor: adminActor(ctx), clientId: ctx.params.clientId, ...(orgId ? { orgId } : {}),
      requestId: ctx.state.requestId, sourceIp: ctx.ip, ...(details ? { details } : {}),
    });
  }

  router.get('/approval-tiers/:clientId', async (ctx) => {
    await tieredClient(ctx);
    const policy = await approvals.storedPolicy(ctx.params.clientId);
    if (!policy) throw new NotFound('approval tiers for this client');
    ctx.body = policy;
  });

  router.put('/approval-tiers/:clientId', async (ctx) => {
    const policy = parseInput(approvalPolicy, await readJson(ctx));
    const orgId = await tieredClient(ctx);
    if (orgId === undefined) throw new NotFound('client');
    const scope = adminScopeOf(ctx);
    // A second approver who is nobody would leave every request of that rule waiting until it expires; an
    // organization's operator names only its own organization's users.
    for (const [index, rule] of policy.rules.entries()) {
      for (const [position, userId] of (rule.second_approvers ?? []).entries()) {
        const user = await deps.users.findById(userId);
        if (!user) throw new InvalidField(`rules.${index}.second_approvers.${position}`, `"${userId}" is not a user of this server`);
        if (scope.kind === 'organization' && user.orgId !== scope.orgId) {
          throw new InvalidField(`rules.${index}.second_approvers.${position}`, `"${userId}" is not a user of organization "${scope.orgId}"`);
        }
      }
    }
    await approvals.setPolicy(ctx.params.clientId, policy);
    recordTiers(ctx, 'approval_tiers.updated', orgId, { rules: policy.rules.length, default: policy.default });
    ctx.body = policy;
  });

  router.delete('/approval-tiers/:clientId', async (ctx) => {
    const orgId = await tieredClient(ctx);
    if (!(await approvals.deletePolicy(ctx.params.clientId))) throw new NotFound('approval tiers for this client');
    recordTiers(ctx, 'approval_tiers.deleted', orgId);
    ctx.status = 204;
  });

  return router;
}

/** A JSON body, or none at all (an approval or denial needs no fields). */
async function optionalJson(ctx: Context): Promise<unknown> {
  const length = ctx.request.length;
  if (!ctx.request.type && (length === undefined || length === 0) && !ctx.get('transfer-encoding')) return {};
  return readJson(ctx);
}

/** The approval as the admin API shows it; the auth_req_id (the client's handle on the request) is not shown. */
function view(approval: Approval) {
  return {
    id: approval.id,
    status: approval.status,
    tier: approval.tier,
    client_id: approval.clientId,
    user_id: approval.userId,
    binding_message: approval.bindingMessage,
    scope: approval.scope.join(' '),
    authorization_details: approval.authorizationDetails,
    reasons: approval.reasons,
    expires_at: approval.expiresAt,
    created_at: approval.createdAt,
    decided_at: approval.decidedAt,
    decided_by: approval.decidedBy,
    second_approvers: approval.secondApprovers,
    first_approval: approval.firstApproval && { approver: approval.firstApproval.by, at: approval.firstApproval.at },
  };
}
