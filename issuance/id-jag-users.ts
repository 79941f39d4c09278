// Whose access token a redeemed ID-JAG gives, by the IdP's `id_jag.users` setting (config/trusted-issuers.ts):
// the IdP's own subject (`external`), the one local user with the ID-JAG's email (`email`), or that user created
// on first use (`just_in_time`). The draft recommends `email` (or `aud_sub`) for exactly this subject resolution.
// Linking by email trusts the IdP to assert only addresses its users own; the operator chooses it per IdP.
import { randomBytes } from 'node:crypto';
import { DuplicateUsernameError, type User, type UserStore } from '../adapters/user-store.ts';
import type { IdentityAssertionGrant } from '../tokens/id-jag-verifier.ts';
import { PresentedTokenError } from '../tokens/presented-token-error.ts';
import { quotable } from '../tokens/trusted-issuers.ts';

/** The subject of the token issued for `grant`, and whether a user was created for it. */
export interface LinkedSubject {
  subject: string;
  /** Set when this redemption created the local user (`just_in_time`). */
  created?: User;
}

export async function subjectOf(grant: IdentityAssertionGrant, users: UserStore): Promise<LinkedSubject> {
  if (grant.users === 'external') return { subject: grant.subject };
  if (!grant.email) {
    throw new PresentedTokenError('ERR_UNKNOWN_USER', `the assertion has no verified "email" claim, by which this identity provider's users are linked to local users`);
  }
  const linked = await onlyUser(grant.email, users);
  if (linked) return { subject: linked.id };
  if (grant.users === 'email') throw new PresentedTokenError('ERR_UNKNOWN_USER', `no local user has the assertion's email address "${quotable(grant.email)}"`);

  try {
    // A password nobody knows: the user exists to hold tokens and roles; signing in at our login page needs an
    // operator's password reset first.
    const created = await users.create({ username: grant.email, password: randomBytes(32).toString('base64url'), email: grant.email, ...(grant.name ? { name: grant.name } : {}) });
    return { subject: created.id, created };
  } catch (error) {
    if (!(error instanceof DuplicateUsernameError)) throw error;
    // A concurrent first redemption (on any instance) created it a moment ago; or the username is someone else's.
    const winner = await onlyUser(grant.email, users);
    if (winner) return { subject: winner.id };
    throw new PresentedTokenError('ERR_UNKNOWN_USER', `a local user named "${quotable(grant.email)}" exists without that email address, so none is created or linked`);
  }
}

async function onlyUser(email: string, users: UserStore): Promise<User | undefined> {
  const matches = await users.findByEmail(email, 2);
  if (matches.length > 1) throw new PresentedTokenError('ERR_UNKNOWN_USER', `more than one local user has the assertion's email address "${quotable(email)}": none is chosen`);
  return matches[0];
}
