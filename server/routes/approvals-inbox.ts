// /approvals: the approvals inbox, where a user signs in with their password and approves or denies the
// backchannel (CIBA) requests addressed to them. Its own short session, server-side (Redis or memory, shared by
// every instance), in an HttpOnly SameSite=Strict cookie scoped to /approvals; every POST carries the session's
// CSRF token (the sign-in form a token bound to a pre-session cookie), so no other site can decide for a user.
// A strong-tier approval asks for the password again at that moment, whatever the session. Errors are HTML.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import Router from '@koa/router';
import type { Context, Middleware, Next } from 'koa';
import compose from 'koa-compose';
import type Provider from 'oidc-provider';
import type { Approval, ApprovalStore, Approver } from '../../adapters/approval-store.ts';
import type { AuditLog } from '../../adapters/audit-log.ts';
import { StorageUnavailable } from '../../adapters/dependency-faults.ts';
import { PasswordHashingBusy } from '../../adapters/scrypt-gate.ts';
import type { UserStore } from '../../adapters/user-store.ts';
import { approvalDecisions, approvalStep, type DecisionContext } from '../approval-decisions.ts';
import { HttpError } from '../http-error.ts';
import { inboxErrorPage, inboxHeaders, inboxPage, inboxSignInPage, type InboxEntry } from '../inbox-pages.ts';
import type { Logger } from '../logger.ts';
import { passwordSignIn } from '../password-sign-in.ts';
import { readForm } from '../read-body.ts';
import type { GuessThrottle } from '../throttles.ts';

const SESSION_COOKIE = 'approvals_session';
const SIGN_IN_COOKIE = 'approvals_sign_in';
/** A sitting at the inbox, not a remembered login: a quarter of an hour. */
const SESSION_SECONDS = 15 * 60;
const FIELD_MAX = 1024;

interface InboxSession { userId: string; username: string; csrf: string }

export interface InboxSessionStore {
  upsert(id: string, payload: Record<string, unknown>, expiresIn: number): Promise<void>;
  find(id: string): Promise<Record<string, unknown> | undefined | void>;
  destroy(id: string): Promise<void>;
}

export interface ApprovalsInboxDependencies {
  provider: Provider;
  approvals: ApprovalStore;
  users: Pick<UserStore, 'verifyPassword' | 'findById'>;
  audit: Pick<AuditLog, 'record'>;
  throttle?: GuessThrottle;
  sessions: InboxSessionStore;
  csrfKey: string;
  /** Cookies marked Secure when the issuer is https. */
  secureCookies: boolean;
  logger: Logger;
}

/** The inbox's routes behind its HTML error rendering (unknown paths under /approvals included). */
export function approvalsInboxRoutes(deps: ApprovalsInboxDependencies): Middleware {
  const router = new Router({ prefix: '/approvals' });
  const decisions = approvalDecisions(deps);
  const cookie = (name: string, value: string, maxAge: number) =>
    `${name}=${value}; Path=/approvals; HttpOnly; SameSite=Strict; Max-Age=${maxAge}${deps.secureCookies ? '; Secure' : ''}`;
  const signInCsrf = (nonce: string) => createHmac('sha256', deps.csrfKey).update(`approvals-sign-in:${nonce}`).digest('base64url');
  const same = (a: string, b: string | null) => {
    const left = Buffer.from(a);
    const right = Buffer.from(b ?? '');
    return left.length === right.length && timingSafeEqual(left, right);
  };
  const cookieValue = (ctx: Context, name: string) => {
    const found = ctx.cookies.get(name);
    return found && /^[A-Za-z0-9_-]{16,64}$/.test(found) ? found : undefined;
  };

  async function session(ctx: Context): Promise<(InboxSession & { id: string }) | undefined> {
    const id = cookieValue(ctx, SESSION_COOKIE);
    if (!id) return undefined;
    const stored = (await deps.sessions.find(id)) as InboxSession | undefined;
    return stored && { ...stored, id };
  }

  const context = (ctx: Context, userId: string): DecisionContext => ({ actor: { user: userId, via: 'inbox' }, requestId: ctx.state.requestId as string | undefined, sourceIp: ctx.ip });

  function signInForm(ctx: Context, status = 200, input: { username?: string; error?: string } = {}) {
    const nonce = randomBytes(24).toString('base64url');
    ctx.append('Set-Cookie', cookie(SIGN_IN_COOKIE, nonce, 600));
    ctx.status = status;
    ctx.type = 'html';
    ctx.body = inboxSignInPage({ csrf: signInCsrf(nonce), ...input });
  }

  /**
   * A decided or pending approval addressed to this user, or waiting for them as its second approver; 404 for
   * anyone else's (whether it exists is not told).
   */
  async function ownApproval(ctx: Context, userId: string): Promise<Approval> {
    const id = ctx.params.id;
    const approval = id.length <= 128 ? await deps.approvals.get(id) : undefined;
    if (!approval || !isFor(approval, userId)) throw new HttpError(404, 'not_found', 'no approval request of yours has this id');
    // An agent or client never decides its own request, whatever name it signed in with.
    if (approval.clientId === userId) throw new HttpError(403, 'access_denied', 'a client cannot decide its own request');
    return approval;
  }

  async function entries(items: Approval[], userId: string): Promise<InboxEntry[]> {
    return Promise.all(items.map(async (approval) => {
      const client = await deps.provider.Client.find(approval.clientId).catch(() => undefined);
      const step = approval.secondApprovers.length && approval.status === 'pending' ? approvalStep(approval, userId) : undefined;
      const firstBy = approval.firstApproval?.by.user_id;
      const first = firstBy ? (await deps.users.findById(firstBy))?.username ?? firstBy : undefined;
      const note = !approval.secondApprovers.length ? undefined
        : first ? `Approved by ${first}; ${approval.status === 'pending' ? 'waits for' : 'needed'} a second approver.`
        : 'Needs a second approver after you.';
      return { approval, clientName: client?.clientName ?? approval.clientId, note, canApprove: !step || !('refused' in step) };
    }));
  }

  const htmlErrors = async (ctx: Context, next: Next) => {
    ctx.set(inboxHeaders());
    try {
      await next();
      if (ctx.status >= 400 && ctx.body == null) throw new HttpError(ctx.status, ctx.status === 405 ? 'invalid_request' : 'not_found', ctx.status === 405 ? `${ctx.method} is not allowed here` : 'no such page');
    } catch (error) {
      let status = 500;
      let code = 'server_error';
      let description = 'the server failed to handle the request';
      if (error instanceof HttpError) ({ status, error: code, message: description } = error);
      else if (error instanceof StorageUnavailable || error instanceof PasswordHashingBusy) {
        status = error.statusCode;
        code = error.error;
        description = error.error_description ?? 'try again shortly';
        ctx.set('Retry-After', '1');
      } else deps.logger.error({ err: error, path: ctx.path }, 'approvals inbox: request failed');
      ctx.status = status;
      ctx.type = 'html';
      ctx.body = inboxErrorPage({ error: code, description });
    }
  };

  router.get('/', async (ctx) => {
    const current = await session(ctx);
    if (!current) return signInForm(ctx);
    const listed = await deps.approvals.list({ userId: current.userId, orSecondApprover: current.userId, limit: 200 });
    const now = Date.now();
    for (const approval of listed.items.filter((item) => item.status === 'pending' && item.expiresAt.getTime() <= now)) {
      await decisions.expire(context(ctx, current.userId), approval);
      approval.status = 'expired';
    }
    const pending = listed.items.filter((item) => item.status === 'pending');
    const history = listed.items.filter((item) => item.status !== 'pending');
    ctx.type = 'html';
    ctx.body = inboxPage({ username: current.username, csrf: current.csrf, pending: await entries(pending, current.userId), history: await entries(history, current.userId) });
  });

  router.post('/sign-in', async (ctx) => {
    const form = await readForm(ctx);
    const nonce = cookieValue(ctx, SIGN_IN_COOKIE);
    if (!nonce || !same(signInCsrf(nonce), form.get('csrf'))) throw staleForm();
    const username = form.get('username') ?? '';
    const password = form.get('password') ?? '';
    if (username.length > FIELD_MAX || password.length > FIELD_MAX) throw new HttpError(400, 'invalid_request', 'the username or password is too long');
    const result = await passwordSignIn(deps, { username, password, address: ctx.ip, requestId: ctx.state.requestId as string | undefined });
    if ('refused' in result) {
      if (result.refused === 'throttled') {
        ctx.set('Retry-After', String(result.retryAfter));
        return signInForm(ctx, 429, { username, error: `Too many failed sign-in attempts for this username. Try again in ${result.retryAfter} seconds.` });
      }
      return signInForm(ctx, 400, { username, error: 'Invalid username or password.' });
    }
    const id = randomBytes(32).toString('base64url');
    await deps.sessions.upsert(id, { userId: result.user.id, username: result.user.username, csrf: randomBytes(32).toString('base64url') }, SESSION_SECONDS);
    ctx.append('Set-Cookie', cookie(SIGN_IN_COOKIE, '', 0));
    ctx.append('Set-Cookie', cookie(SESSION_COOKIE, id, SESSION_SECONDS));
    ctx.status = 303;
    ctx.redirect('/approvals');
  });

  router.post('/sign-out', async (ctx) => {
    const form = await readForm(ctx);
    const current = await session(ctx);
    if (!current || !same(current.csrf, form.get('csrf'))) throw staleForm();
    await deps.sessions.destroy(current.id);
    ctx.append('Set-Cookie', cookie(SESSION_COOKIE, '', 0));
    ctx.status = 303;
    ctx.redirect('/approvals');
  });

  router.post('/:id/:decision', async (ctx) => {
    const { decision } = ctx.params;
    if (decision !== 'approve' && decision !== 'deny') throw new HttpError(404, 'not_found', 'no such page');
    const form = await readForm(ctx);
    const current = await session(ctx);
    if (!current) throw new HttpError(401, 'login_required', 'your approvals session ended; sign in again');
    if (!same(current.csrf, form.get('csrf'))) throw staleForm();
    const approval = await ownApproval(ctx, current.userId);
    const decisionContext = context(ctx, current.userId);
    await decisions.pending(decisionContext, approval.id);
    const approver: Approver = { via: 'inbox', user_id: current.userId };
    if (decision === 'deny') {
      await decisions.deny(decisionContext, approval, approver);
    } else {
      if (approval.tier === 'strong') {
        // Re-authentication at approval time (issue 17: never a remembered session), through the same throttle.
        const password = form.get('password') ?? '';
        const result = password && password.length <= FIELD_MAX
          ? await passwordSignIn(deps, { username: current.username, password, address: ctx.ip, requestId: ctx.state.requestId as string | undefined })
          : { refused: 'invalid_credentials' as const };
        if ('refused' in result) {
          decisions.record(decisionContext, 'approval.approved', approval, 'failure', {}, password ? 'strong tier: re-authentication failed' : 'strong tier: no re-authentication');
          throw new HttpError(403, 'access_denied', 'this request needs your password again to be approved, and the password given was missing or wrong');
        }
        approver.reauthenticated = true;
      }
      await decisions.approve(decisionContext, approval, approver);
    }
    ctx.status = 303;
    ctx.redirect('/approvals');
  });

  return compose([htmlErrors, router.routes(), router.allowedMethods()] as Middleware[]);
}

/** Addressed to the user, or naming them as a second approver once the first approval is in. */
function isFor(approval: Approval, userId: string): boolean {
  return approval.userId === userId || (approval.firstApproval !== null && approval.secondApprovers.includes(userId));
}

function staleForm(): HttpError {
  return new HttpError(403, 'invalid_request', 'the form is stale or was not served by this server; go back, reload and try again');
}
