// The RFC 8693 §4.1 `act` (actor) claim: who is acting for the token's subject, newest actor outermost, prior
// actors nested inside it, the least recent most deeply. Only identity claims belong inside `act`.

export interface ActClaim {
  sub: string;
  iss?: string;
  act?: ActClaim;
}

/** Claims that identify a party; anything else (exp, aud, scope…) means nothing inside `act` (§4.1). */
const IDENTITY_MEMBERS = ['sub', 'iss'] as const;

/** Deepest nesting we will even read: a hostile token cannot make us recurse without end. */
const MAX_READ_DEPTH = 32;

export class MalformedActClaimError extends Error {
  readonly code = 'ERR_MALFORMED_ACT';

  constructor(problem: string) {
    super(`the token's act claim ${problem}`);
    this.name = 'MalformedActClaimError';
  }
}

/**
 * Parses an `act` claim from a token we verified, keeping only identity members. Undefined when absent;
 * MalformedActClaimError when it is not a chain of objects each naming a `sub`.
 */
export function parseActClaim(value: unknown, depth = 0): ActClaim | undefined {
  if (value === undefined) return undefined;
  if (depth >= MAX_READ_DEPTH) throw new MalformedActClaimError(`is nested more than ${MAX_READ_DEPTH} levels deep`);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new MalformedActClaimError('is not a JSON object');
  const claims = value as Record<string, unknown>;
  if (typeof claims.sub !== 'string' || claims.sub.length === 0) throw new MalformedActClaimError('has an actor without a "sub"');
  const act: ActClaim = { sub: claims.sub };
  for (const member of IDENTITY_MEMBERS) {
    if (member !== 'sub' && typeof claims[member] === 'string') act[member] = claims[member] as string;
  }
  const prior = parseActClaim(claims.act, depth + 1);
  if (prior) act.act = prior;
  return act;
}

/** The chain after `actor` acts on a token whose chain was `prior`: the new actor outermost (§4.1). */
export function nestActor(actor: { sub: string; iss?: string }, prior: ActClaim | undefined): ActClaim {
  return { sub: actor.sub, ...(actor.iss ? { iss: actor.iss } : {}), ...(prior ? { act: prior } : {}) };
}

/** Actors from newest to oldest. */
export function actorsOf(act: ActClaim | undefined): ActClaim[] {
  const actors: ActClaim[] = [];
  for (let current = act; current; current = current.act) actors.push(current);
  return actors;
}

/** How many actors the chain names (0 without `act`). */
export function chainDepth(act: ActClaim | undefined): number {
  return actorsOf(act).length;
}
