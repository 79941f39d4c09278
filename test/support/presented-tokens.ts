// A stand-in for tokens/presented-tokens.ts in the grant unit tests: which subject and actor tokens are active is
// the test's to say (by value), and anything else is refused the way the real verifier refuses a token it does not
// know, with a PresentedTokenError naming the role.
import { vi } from 'vitest';
import { PresentedTokenError } from '../../tokens/presented-token-error.ts';
import type { PresentedRole, PresentedToken } from '../../tokens/presented-tokens.ts';
import { ISSUER } from './token-endpoint.ts';

export const now = () => Math.floor(Date.now() / 1000);

/** A user's access token of ours for `https://files.example`, issued to client `app`, as the verifier describes it. */
export function userToken(fields: Partial<PresentedToken> = {}): PresentedToken {
  return {
    subject: 'user-1', issuer: ISSUER, rootIsPerson: true, scopes: ['files:read', 'files:write'], expiresAt: now() + 1000,
    act: undefined, mayAct: undefined, clientId: 'app', jkt: undefined, lineage: [{ kind: 'AccessToken', id: 'at-user' }],
    audiences: ['https://files.example'], rootClientId: 'app', isIdToken: false, ...fields,
  };
}

export function presentedTokens() {
  const active: Record<string, PresentedToken> = {};
  return {
    /** The tokens accepted, by value; tests set and clear them. */
    active,
    accept: vi.fn(async (_ctx: unknown, value: string, _type: string, role: PresentedRole, _acceptedTypes?: readonly string[]) => {
      const token = active[value];
      if (!token) throw new PresentedTokenError('ERR_UNACCEPTABLE_TOKEN', `${role} is not active (unknown, expired or revoked)`, { role });
      return token;
    }),
  };
}
