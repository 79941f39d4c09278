// The operator's rules for token exchange, as data (configuration defaults plus per-client overrides stored with
// the client) and small pure functions, one per rule. A rule that refuses says which rule it is, so an operator
// reading an error or the audit trail knows what to change.
import { z } from 'zod';
import type { ActClaim } from './act-chain.ts';
import { chainDepth } from './act-chain.ts';

export interface DelegationPolicy {
  /** Most actors a chain may name (RFC 8693 §4.1 nesting), the new actor included. */
  maxDepth: number;
  /** The principal at the root of the chain must be a person, not a client or agent. */
  humanRootRequired: boolean;
  /** Without an actor_token, the client may get a token for the subject with no `act` at all. */
  impersonation: boolean;
  /** Who may act on tokens issued to this client; undefined: anyone the other rules allow. */
  allowedActors: string[] | undefined;
  /** Audiences (resource identifiers) this client may request when it acts; undefined: any registered resource. */
  allowedAudiences: string[] | undefined;
}

export type PolicyDefaults = Pick<DelegationPolicy, 'maxDepth' | 'humanRootRequired' | 'impersonation'>;

/** The per-client override, as stored in client metadata (`delegation_policy`) and on agents. */
export const clientDelegationPolicy = z.strictObject({
  max_depth: z.number().int().min(1).max(20).optional(),
  human_root_required: z.boolean().optional(),
  impersonation: z.boolean().optional(),
  allowed_actors: z.array(z.string().min(1).max(2048)).max(1000).optional(),
  allowed_audiences: z.array(z.string().min(1).max(2048)).max(1000).optional(),
});
export type ClientDelegationPolicy = z.infer<typeof clientDelegationPolicy>;

/**
 * RFC 8693 §4.4 `may_act` as a client or agent states it for the tokens it gets: the one party (identity claims
 * only) that may act for the token's subject.
 */
export const mayActStatement = z.strictObject({
  sub: z.string().min(1).max(2048),
  iss: z.string().min(1).max(2048).optional(),
});

/** The policy for one client: its stored override on top of the operator's defaults. */
export function policyFor(defaults: PolicyDefaults, override: ClientDelegationPolicy | undefined): DelegationPolicy {
  return {
    maxDepth: override?.max_depth ?? defaults.maxDepth,
    humanRootRequired: override?.human_root_required ?? defaults.humanRootRequired,
    impersonation: override?.impersonation ?? defaults.impersonation,
    allowedActors: override?.allowed_actors,
    allowedAudiences: override?.allowed_audiences,
  };
}

export interface PolicyRefusal {
  rule: 'max_depth' | 'allowed_actors' | 'human_root_required' | 'allowed_audiences' | 'subject_audience' | 'may_act' | 'scope';
  /** The OAuth error code RFC 8693 §2.2.2 prescribes for this kind of refusal. */
  error: 'invalid_request' | 'invalid_target' | 'invalid_scope';
  description: string;
  /** For a scope refusal: the scope that was refused. */
  scope?: string;
}

export function checkChainDepth(chain: ActClaim | undefined, maxDepth: number): PolicyRefusal | undefined {
  const depth = chainDepth(chain);
  if (depth <= maxDepth) return undefined;
  return { rule: 'max_depth', error: 'invalid_request', description: `the delegation chain would name ${depth} actors; at most ${maxDepth} are allowed` };
}

export function checkAllowedActor(actor: string, allowedActors: string[] | undefined): PolicyRefusal | undefined {
  if (!allowedActors || allowedActors.includes(actor)) return undefined;
  return { rule: 'allowed_actors', error: 'invalid_request', description: `"${actor}" is not allowed to act on tokens of the subject token's client` };
}

export function checkHumanRoot(required: boolean, rootIsPerson: boolean): PolicyRefusal | undefined {
  if (!required || rootIsPerson) return undefined;
  return { rule: 'human_root_required', error: 'invalid_request', description: 'the subject at the root of the chain must be a person, not a client or agent' };
}

export function checkAudience(audience: string | undefined, allowedAudiences: string[] | undefined): PolicyRefusal | undefined {
  if (!allowedAudiences || audience === undefined || allowedAudiences.includes(audience)) return undefined;
  return { rule: 'allowed_audiences', error: 'invalid_target', description: `this client may not request tokens for "${audience}"` };
}

/**
 * A token for one resource only yields tokens for that resource: scope names are the resource's own, so carrying
 * them to another resource would grant there what was granted here (`read` at the calendar is not `read` at the
 * mailbox). A subject token bound to no resource leaves the target to the other rules.
 */
export function checkTargetWithinSubjectAudience(target: string | undefined, subjectAudiences: string[] | undefined): PolicyRefusal | undefined {
  if (!subjectAudiences || target === undefined || subjectAudiences.includes(target)) return undefined;
  return { rule: 'subject_audience', error: 'invalid_target', description: `the subject token is for ${subjectAudiences.map((a) => `"${a}"`).join(', ')}; a token for "${target}" cannot be derived from it` };
}

/**
 * RFC 8693 §4.4: a subject token's `may_act` names the party allowed to act for its subject; every identity
 * member it states must match the actor.
 */
export function checkMayAct(mayAct: Record<string, unknown> | undefined, actor: { sub: string; iss?: string }, ourIssuer: string): PolicyRefusal | undefined {
  if (!mayAct) return undefined;
  const actorIssuer = actor.iss ?? ourIssuer;
  const matches = mayAct.sub === actor.sub && (mayAct.iss === undefined || mayAct.iss === actorIssuer);
  if (matches) return undefined;
  return { rule: 'may_act', error: 'invalid_request', description: `the subject token's may_act does not name "${actor.sub}" as a party that may act for its subject` };
}

/**
 * Scopes only ever narrow: every requested scope must be within `ceiling` (the subject token's scopes, already
 * intersected with what the client may have). Without a request, the issued scopes are the ceiling itself.
 */
export function narrowScopes(requested: string[], ceiling: string[]): { scopes: string[] } | PolicyRefusal {
  if (requested.length === 0) return { scopes: ceiling };
  const allowed = new Set(ceiling);
  const outside = requested.find((scope) => !allowed.has(scope));
  if (outside === undefined) return { scopes: requested };
  return { rule: 'scope', error: 'invalid_scope', scope: outside, description: `scope "${outside}" is not within the subject token's scope and what this client may have` };
}
