// A username and password checked as the login interaction checks them: the guess throttle counted before the
// scrypt derivation (so a burst cannot pass the limit together), the scrypt gate inside UserStore, the audit of
// failures, and the throttle told of a success.
import type { AuditLog } from '../adapters/audit-log.ts';
import type { User, UserStore } from '../adapters/user-store.ts';
import { retryAfterSeconds, type GuessThrottle } from './throttles.ts';

export type SignInResult = { user: User } | { refused: 'throttled'; retryAfter: number } | { refused: 'invalid_credentials' };

export async function passwordSignIn(
  deps: { users: Pick<UserStore, 'verifyPassword'>; throttle?: GuessThrottle; audit?: Pick<AuditLog, 'record'> },
  attempt: { username: string; password: string; address: string; requestId?: string; clientId?: string },
): Promise<SignInResult> {
  const guesser = { name: attempt.username, address: attempt.address };
  const facts = { clientId: attempt.clientId, requestId: attempt.requestId, sourceIp: attempt.address };
  const refusedMs = (await deps.throttle?.attempt(guesser)) ?? 0;
  if (refusedMs) {
    const seconds = retryAfterSeconds(refusedMs);
    deps.audit?.record({ ...facts, event: 'login.throttled', outcome: 'failure', reason: 'rate_limited', details: { username: attempt.username.slice(0, 256), retry_after: seconds } });
    return { refused: 'throttled', retryAfter: seconds };
  }
  const user = await deps.users.verifyPassword(attempt.username, attempt.password);
  if (!user) {
    deps.audit?.record({ ...facts, event: 'login.failed', outcome: 'failure', reason: 'invalid_credentials', details: { username: attempt.username.slice(0, 256) } });
    return { refused: 'invalid_credentials' };
  }
  await deps.throttle?.succeeded(guesser);
  return { user };
}
