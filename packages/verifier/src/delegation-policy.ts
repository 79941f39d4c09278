// What this resource accepts of a delegated token's `act` chain (RFC 8693 §4.1). Refusals are 401 invalid_token:
// the token itself is unacceptable here, as one for another audience is, and neither more scope (what a 403
// insufficient_scope would send an MCP client to step up for) nor any number of retries can change its chain.
import type { AccessTokenClaims, ActorClaim } from './access-token-claims.ts';
import { InvalidToken } from './errors.ts';

export interface DelegationPolicy {
  /** Most actors a chain may have: 0 accepts only undelegated tokens, 1 one hop, and so on. Default: no limit. */
  maxDepth?: number;
  /**
   * The actors (`sub` values) that may act here. RFC 8693 §4.1: access decisions use the current actor, the
   * outermost `act`, only; prior (nested) actors are informational and not matched. Undelegated tokens have no
   * actor and are not affected.
   */
  allowedActors?: readonly string[];
  /**
   * Whether the chain's root, the token's `sub` (the party everyone in the chain acts for), is a person. Asked
   * of every token, delegated or not: an agent's own token is rooted in that agent.
   */
  humanRoot?: (sub: string, claims: AccessTokenClaims) => boolean;
}

/** The actors of the chain, current (outermost) first. */
export function actorChain(act: ActorClaim | undefined): ActorClaim[] {
  const chain: ActorClaim[] = [];
  for (let actor = act; actor; actor = actor.act) chain.push(actor);
  return chain;
}

export function checkDelegation(claims: AccessTokenClaims, policy: DelegationPolicy): void {
  const chain = actorChain(claims.act);
  if (policy.maxDepth !== undefined && chain.length > policy.maxDepth) {
    throw new InvalidToken(`delegation chain has ${chain.length} actors; this resource accepts at most ${policy.maxDepth}`);
  }
  if (policy.allowedActors && chain.length > 0 && !policy.allowedActors.includes(chain[0].sub)) {
    throw new InvalidToken('the acting party of this delegated token is not allowed at this resource');
  }
  if (policy.humanRoot && !policy.humanRoot(claims.sub, claims)) {
    throw new InvalidToken('this resource accepts only tokens on behalf of a person');
  }
}
