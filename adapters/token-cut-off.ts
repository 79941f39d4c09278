// The kill switch's cut-off: tokens of a principal issued before it are inactive (tokens/token-liveness.ts).
// Token `iat` has one-second resolution, so the cut-off is rounded up to a whole second: a token issued in the
// same second as the change is ended with the rest. A change that lets new tokens live (reactivating, a move)
// answers only after that second has passed, so a token issued after it is not ended too.
import { setTimeout as sleep } from 'node:timers/promises';

/** The cut-off for a change made now. */
export function tokenCutOff(now = Date.now()): Date {
  return new Date(Math.ceil((now + 1) / 1000) * 1000);
}

/** Resolves once `cutOff` has passed (at once when it has, or when there is none). */
export async function waitPast(cutOff: Date | null | undefined): Promise<void> {
  const wait = cutOff ? cutOff.getTime() - Date.now() : 0;
  if (wait > 0) await sleep(wait);
}
