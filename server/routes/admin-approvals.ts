// /admin/approvals: backchannel (CIBA) requests waiting for a person, and the history of decided ones, for
// operator tooling; approving or denying one completes it through oidc-provider's `backchannelResult`, and the
// client's next poll (or its ping notification) gets the token or `access_denied`.
// /admin/approval-tiers/:client_id: a client's approval tiers (policy/approval-tiers.ts).
//
// A `strong` tier means the approving user re-authenticates at approval time. Until the inbox pages ask for it,
// the admin API does it here: approving a strong request needs that user's current password in the body, checked
// as a login is (never a remembered session), and a wrong or missing one refuses the approval.
import Router from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import { errors } from 'oidc-provider';
import { z } from 'zod';
import type { Approval, ApprovalStore, Approver } from '../../adapters/approval-store.ts';
import type { AuditLog } from '../../adapters/audit-log.ts';
import type { JsonObject } from '../../adapters/database.ts';
import { StorageUnavailable } from '../../adapters/dependency-faults.ts';
import { InvalidCursorError } from '../../adapters/pagination.ts';
import type { UserStore } from '../../adapters/user-store.ts';
import type { Logger } from '../logger.ts';
import { approvalPolicy } from '../../policy/approval-tiers.ts';
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
const approveBody = z.strictObject({ password: z.string().min(1).max(1024).optional() });
const denyBody = z.strictObject({ reason: z.string().min(1).max(500).optional() });

export interface AdminApprovalDependencies {
  provider: Provider;
  approvals: ApprovalStore;
  users: Pick<UserStore, 'findById' | 'verifyPassword'>;
  audit: Pick<AuditLog, 'record'>;
  /** Whether a client (agent or registered) exists: tiers are stored only for one that does. */
  clientExists: (clientId: string) => Promise<boolean>;
  logger: Logger;
}

export function adminApprovalRoutes(deps: AdminApprovalDependencies): Router {
  const { approvals, audit } = deps;
  const router = new Router({ prefix: '/admin' });

  function record(ctx: Context, event: string, approval: Approval, outcome: 'success' | 'failure', details: JsonObject = {}, reason?: string): void {
    audit.record({
      event,
      outcome,
      ...(reason ? { reason } : {}),
      actor: { admin: true },
      clientId: approval.clientId,
      subject: approval.userId,
      requestId: ctx.state.requestId,
      sourceIp: ctx.ip,
      details: { approval: approval.id, tier: approval.tier, ...details },
    });
  }

  /** The approval, or 409 when it cannot be decided any more (expired ones are marked and audited on the way). */
  async function pending(ctx: Context): Promise<Approval> {
    const approval = await approvals.get(ctx.params.id);
    if (!approval) throw new NotFound('approval');
    if (approval.status === 'pending' && approval.expiresAt.getTime() <= Date.now()) {
      const expired = await approvals.expire(approval.id);
      if (expired) record(ctx, 'approval.expired', expired, 'failure', {}, 'nobody decided before the request expired');
      throw new HttpError(409, 'invalid_request', 'the approval request has expired; the client must make a new one');
    }
    if (approval.status !== 'pending') throw new HttpError(409, 'invalid_request', `the approval request is already ${approval.status}`);
    return approval;
  }

  /** Another approver got there first (on any instance). */
  const alreadyDecided = () => new HttpError(409, 'invalid_request', 'the approval request was decided (or expired) meanwhile');

  // The request is completed in Redis or memory; a failed ping (the client's notification endpoint) does not undo
  // the decision: the client can still poll (CIBA §10.2).
  async function complete(approval: Approval, result: InstanceType<Provider['Grant']> | InstanceType<typeof errors.AccessDenied>, options: Record<string, unknown>): Promise<{ notification?: string }> {
    try {
      await deps.provider.backchannelResult(approval.authReqId, result as never, options);
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

  router.get('/approvals', async (ctx) => {
    const query = parseInput(listQuery, ctx.query);
    try {
      const page = await approvals.list({ status: query.status, userId: query.user_id, clientId: query.client_id, limit: query.limit, cursor: query.cursor });
      ctx.body = { items: page.items.map(view), next_cursor: page.nextCursor };
    } catch (error) {
      if (error instanceof InvalidCursorError) throw new InvalidField('cursor', error.message);
      throw error;
    }
  });

  router.get('/approvals/:id', async (ctx) => {
    const approval = await approvals.get(ctx.params.id);
    if (!approval) throw new NotFound('approval');
    ctx.body = view(approval);
  });

  router.post('/approvals/:id/approve', async (ctx) => {
    const body = parseInput(approveBody, await optionalJson(ctx));
    const approval = await pending(ctx);
    const approver: Approver = { via: 'admin_api' };
    if (approval.tier === 'strong') {
      const user = await deps.users.findById(approval.userId);
      const reauthenticated = user && body.password !== undefined ? await deps.users.verifyPassword(user.username, body.password) : undefined;
      if (!reauthenticated) {
        record(ctx, 'approval.approved', approval, 'failure', {}, body.password === undefined ? 'strong tier: no re-authentication' : 'strong tier: re-authentication failed');
        throw new HttpError(403, 'access_denied', body.password === undefined
          ? 'this request is of approval tier "strong": the user it names must re-authenticate; send their current password as {"password": …}'
          : 'this request is of approval tier "strong" and the password given is not the named user\'s');
      }
      Object.assign(approver, { user_id: approval.userId, reauthenticated: true });
    }
    const decided = await approvals.decide(approval.id, 'approved', approver);
    if (!decided) throw alreadyDecided();

    const { provider } = deps;
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
    record(ctx, 'approval.approved', decided, 'success', { approver });
    ctx.body = { ...view(decided), ...outcome };
  });

  router.post('/approvals/:id/deny', async (ctx) => {
    const body = parseInput(denyBody, await optionalJson(ctx));
    const approval = await pending(ctx);
    const decided = await approvals.decide(approval.id, 'denied', { via: 'admin_api', ...(body.reason ? { reason: body.reason } : {}) });
    if (!decided) throw alreadyDecided();
    // CIBA §11: the client's next token request is answered access_denied.
    const outcome = await complete(approval, new errors.AccessDenied(body.reason ?? 'the request was denied'), {});
    record(ctx, 'approval.denied', decided, 'success', { approver: decided.decidedBy, ...(body.reason ? { reason: body.reason } : {}) });
    ctx.body = { ...view(decided), ...outcome };
  });

  router.get('/approval-tiers/:clientId', async (ctx) => {
    const policy = await approvals.storedPolicy(ctx.params.clientId);
    if (!policy) throw new NotFound('approval tiers for this client');
    ctx.body = policy;
  });

  router.put('/approval-tiers/:clientId', async (ctx) => {
    const policy = parseInput(approvalPolicy, await readJson(ctx));
    if (!(await deps.clientExists(ctx.params.clientId))) throw new NotFound('client');
    await approvals.setPolicy(ctx.params.clientId, policy);
    audit.record({
      event: 'approval_tiers.updated', outcome: 'success', actor: { admin: true }, clientId: ctx.params.clientId,
      requestId: ctx.state.requestId, sourceIp: ctx.ip, details: { rules: policy.rules.length, default: policy.default },
    });
    ctx.body = policy;
  });

  router.delete('/approval-tiers/:clientId', async (ctx) => {
    if (!(await approvals.deletePolicy(ctx.params.clientId))) throw new NotFound('approval tiers for this client');
    audit.record({ event: 'approval_tiers.deleted', outcome: 'success', actor: { admin: true }, clientId: ctx.params.clientId, requestId: ctx.state.requestId, sourceIp: ctx.ip });
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
  };
}
