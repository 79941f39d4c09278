// The operator's "approval pending" webhook (APPROVAL_WEBHOOK_URL): an HTTPS POST whose body is a JWT signed with
// our signing key (`typ: approval-pending+jwt`), so the receiver verifies it against our JWKS and needs no shared
// secret. It carries the approval's own id, never the auth_req_id (the client's handle on the request). Sent in
// the background, retried with exponential backoff and jitter; a receiver that stays down is logged, and the
// approval waits in the inbox regardless. Our own loop: no retry library (p-retry) is a dependency here.
import { randomUUID } from 'node:crypto';
import type { Approval } from '../adapters/approval-store.ts';
import type { SigningAlg } from '../keys/signing-keys.ts';
import type { TokenSigner } from '../keys/token-signer.ts';
import type { Logger } from './logger.ts';

export const WEBHOOK_TYP = 'approval-pending+jwt';

export interface ApprovalWebhookOptions {
  url: string;
  issuer: string;
  signer: Pick<TokenSigner, 'sign'>;
  alg: SigningAlg;
  logger: Logger;
  /** Attempts in all (the first included), and the first wait in milliseconds, doubled after each failure. */
  attempts?: number;
  baseDelayMs?: number;
  timeoutMs?: number;
}

export function approvalWebhook(options: ApprovalWebhookOptions): (approval: Approval) => void {
  const attempts = options.attempts ?? 6;
  const baseDelayMs = options.baseDelayMs ?? 500;
  const timeoutMs = options.timeoutMs ?? 5000;

  async function deliver(approval: Approval): Promise<void> {
    const body = await options.signer.sign({
      iss: options.issuer,
      iat: Math.floor(Date.now() / 1000),
      jti: randomUUID(),
      approval_id: approval.id,
      client_id: approval.clientId,
      user: approval.userId,
      tier: approval.tier,
      binding_message: approval.bindingMessage,
      scope: approval.scope.join(' '),
      authorization_details: approval.authorizationDetails,
      expires_at: Math.floor(approval.expiresAt.getTime() / 1000),
    }, { alg: options.alg, typ: WEBHOOK_TYP });
    for (let attempt = 1; ; attempt += 1) {
      const failure = await fetch(options.url, {
        method: 'POST', headers: { 'content-type': 'application/jwt' }, body, redirect: 'error', signal: AbortSignal.timeout(timeoutMs),
      }).then((response) => (response.ok ? undefined : `HTTP ${response.status}`), (error: Error) => error.message);
      if (failure === undefined) return;
      if (attempt >= attempts || approval.expiresAt.getTime() <= Date.now()) {
        options.logger.warn({ approval: approval.id, attempts: attempt, failure }, 'approval webhook: gave up');
        return;
      }
      const wait = baseDelayMs * 2 ** (attempt - 1);
      await new Promise((resolve) => setTimeout(resolve, wait / 2 + Math.random() * (wait / 2)));
    }
  }

  return (approval) => {
    deliver(approval).catch((error: unknown) => options.logger.warn({ err: error, approval: approval.id }, 'approval webhook: not sent'));
  };
}
