// Steps both kinds of token exchange take (access tokens in grants/token-exchange.ts, Txn-Tokens in
// grants/transaction-token.ts): accepting a presented token with RFC 8693's error, the scope ceiling it sets,
// the lifetime it leaves, and a delegation-policy refusal as the OAuth error it names.
import { errors, type TokenEndpointGrantContext } from 'oidc-provider';
import type { PolicyRefusal } from '../policy/delegation-policy.ts';
import { OIDC_SCOPES } from '../config/defaults.ts';
import { scopeAllowed } from '../policy/scope-patterns.ts';
import type { PresentedRole, PresentedToken, PresentedTokens } from '../tokens/presented-tokens.ts';
import { PresentedTokenError } from '../tokens/presented-token-error.ts';

type Client = NonNullable<TokenEndpointGrantContext['oidc']['client']>;

export async function acceptToken(ctx: TokenEndpointGrantContext, presented: PresentedTokens, value: string, type: string, role: PresentedRole, acceptedTypes?: readonly string[]): Promise<PresentedToken> {
  try {
    return await presented.accept(ctx, value, type, role, acceptedTypes);
  } catch (error) {
    // §2.2.2: an invalid or unacceptable subject or actor token is `invalid_request`.
    if (error instanceof PresentedTokenError) throw new errors.InvalidRequest(error.message);
    throw error;
  }
}

/**
 * What the new token may carry at most: the subject token's scopes, within what the client may have (its scope
 * patterns and its roles', issuance/pipeline.ts allowedPatterns, or else its `scope` metadata).
 */
export function scopeCeiling(subject: PresentedToken, client: Client, patterns: string[] | undefined): string[] {
  const subjectScopes = subject.scopes ?? [];
  if (patterns) return subjectScopes.filter((scope) => scopeAllowed(scope, patterns));
  // A client's `scope` metadata lists the OpenID Connect scopes it may ask for, as oidc-provider reads it; resource
  // scopes cannot be registered there (server/registration-access.ts) and are governed by the resource.
  const allowed = client.scope?.split(' ');
  return allowed ? subjectScopes.filter((scope) => !OIDC_SCOPES.includes(scope) || allowed.includes(scope)) : subjectScopes;
}

/**
 * Seconds a presented token has left, which nothing issued from it may outlive; refused, naming it, once it has
 * expired (a trusted issuer's token is accepted within the clock tolerance, so it can reach here expired).
 */
export function remainingLifetime(token: PresentedToken, role: PresentedRole = 'subject_token'): number {
  const remaining = token.expiresAt - Math.floor(Date.now() / 1000);
  if (remaining <= 0) throw new errors.InvalidRequest(`${role} has expired`);
  return remaining;
}

export function refuseIf(refusal: PolicyRefusal | undefined): void {
  if (!refusal) return;
  const description = refusal.rule === 'scope' ? refusal.description : `delegation policy "${refusal.rule}" refused: ${refusal.description}`;
  if (refusal.error === 'invalid_target') throw new errors.InvalidTarget(description);
  if (refusal.error === 'invalid_scope') throw new errors.InvalidScope(description, refusal.scope ?? '');
  throw new errors.InvalidRequest(description);
}
