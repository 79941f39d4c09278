// Approval tiers: which requests of a client (agent or registered client) a person must approve before a token
// is issued. Policy as data: an ordered rule list, each rule matching scope patterns (policy/scope-patterns.ts)
// or RFC 9396 authorization_details entries of one type, optionally with conditions on their fields, and naming
// the tier. A pure function decides; the token endpoint, the backchannel endpoint and the admin API all ask it.
//
//   autonomous  no person: the client may get the token directly (client_credentials), as before tiers existed
//   soft        one approval of the named user (CIBA), within the request's expiry
//   strong      the approver re-authenticates at approval time (a password again, never a remembered session);
//               a rule may also name `second_approvers`, users of whom one more must approve, re-authenticated too
//
// For every requested scope and every authorization_details entry the first rule that matches decides; none
// matching, the policy's `default` does (autonomous unless set). The request's tier is the strictest of these.
import { z } from 'zod';
import { isScopePattern, scopeAllowed } from './scope-patterns.ts';

export const TIERS = ['autonomous', 'soft', 'strong'] as const;
export type Tier = (typeof TIERS)[number];

const OPERATORS = ['==', '!=', '>', '>=', '<', '<=', 'in', 'exists'] as const;
type Operator = (typeof OPERATORS)[number];

// A field is a dot path into the detail (`amount`, `request.method`): letters, digits, `_` and `-` per segment.
const fieldPath = z.string().regex(/^[A-Za-z0-9_-]{1,64}(\.[A-Za-z0-9_-]{1,64}){0,7}$/, 'must be a dot path of field names (e.g. "amount" or "request.method")');
const scalar = z.union([z.string().max(1024), z.number().finite(), z.boolean()]);

const condition = z.strictObject({
  field: fieldPath,
  op: z.enum(OPERATORS),
  value: z.union([scalar, z.array(scalar).max(100)]).optional(),
}).superRefine((value, ctx) => {
  if (value.op === 'exists') {
    if (value.value !== undefined && typeof value.value !== 'boolean') ctx.addIssue({ code: 'custom', path: ['value'], message: 'must be true or false (or absent) for "exists"' });
    return;
  }
  if (value.value === undefined) ctx.addIssue({ code: 'custom', path: ['value'], message: `is required for "${value.op}"` });
  else if (value.op === 'in' && !Array.isArray(value.value)) ctx.addIssue({ code: 'custom', path: ['value'], message: 'must be an array for "in"' });
  else if (value.op !== 'in' && Array.isArray(value.value)) ctx.addIssue({ code: 'custom', path: ['value'], message: `must be a single value for "${value.op}"` });
  else if (['>', '>=', '<', '<='].includes(value.op) && typeof value.value !== 'number') ctx.addIssue({ code: 'custom', path: ['value'], message: `must be a number for "${value.op}"` });
});
export type Condition = z.infer<typeof condition>;

const rule = z.strictObject({
  /** Scope patterns this rule covers (a requested scope matching any of them). */
  scopes: z.array(z.string().max(256).refine(isScopePattern, 'must be a scope or a scope pattern (resource:action with * or **)')).min(1).max(100).optional(),
  /** An authorization_details type this rule covers. */
  type: z.string().min(1).max(128).optional(),
  /** All must hold of the detail (only with `type`). */
  when: z.array(condition).min(1).max(20).optional(),
  tier: z.enum(TIERS),
  /** Users (ids) of whom one, other than the first approver, must approve as well (strong rules only). */
  second_approvers: z.array(z.string().min(1).max(512)).min(1).max(20).optional(),
}).superRefine((value, ctx) => {
  if (!value.scopes === !value.type) ctx.addIssue({ code: 'custom', message: 'a rule names either "scopes" or "type", exactly one' });
  if (value.second_approvers && value.tier !== 'strong') ctx.addIssue({ code: 'custom', path: ['second_approvers'], message: 'a second approver is part of the "strong" tier only' });
  if (value.when && !value.type) ctx.addIssue({ code: 'custom', path: ['when'], message: 'conditions apply to authorization_details fields, so need "type"' });
});
export type ApprovalRule = z.infer<typeof rule>;

/** What an operator stores for a client: the rules in order, and the tier when none matches. */
export const approvalPolicy = z.strictObject({
  rules: z.array(rule).max(200),
  default: z.enum(TIERS).default('autonomous'),
});
export type ApprovalPolicy = z.infer<typeof approvalPolicy>;

/** No rules: everything autonomous, the behaviour before tiers. */
export const NO_APPROVAL_POLICY: ApprovalPolicy = { rules: [], default: 'autonomous' };

/** What a request asks for, as the tiers see it. */
export interface ApprovalSubject {
  scopes: readonly string[];
  authorizationDetails: readonly Record<string, unknown>[];
}

/** Why the tier is what it is: which scope or detail, and which rule (undefined: the policy default). */
export interface TierReason {
  target: { scope: string } | { detail: number; type: string };
  rule: number | undefined;
  tier: Tier;
}

export interface TierDecision {
  tier: Tier;
  /** One per requested scope and detail, in request order. */
  reasons: TierReason[];
  /**
   * Users of whom one must approve after the named user, from every matching rule that names them (in request
   * order, once each); empty when no second approval is needed.
   */
  secondApprovers: string[];
}

const RANK: Record<Tier, number> = { autonomous: 0, soft: 1, strong: 2 };

export function stricterTier(a: Tier, b: Tier): Tier {
  return RANK[a] >= RANK[b] ? a : b;
}

/** The tier the policy gives the request: the strictest of its scopes' and details' tiers. */
export function approvalTier(policy: ApprovalPolicy, subject: ApprovalSubject): TierDecision {
  const reasons: TierReason[] = [];
  for (const scope of subject.scopes) {
    const index = policy.rules.findIndex((candidate) => candidate.scopes !== undefined && scopeAllowed(scope, candidate.scopes));
    reasons.push({ target: { scope }, rule: index === -1 ? undefined : index, tier: index === -1 ? policy.default : policy.rules[index].tier });
  }
  subject.authorizationDetails.forEach((detail, position) => {
    const type = String(detail.type);
    const index = policy.rules.findIndex((candidate) => candidate.type === type && (candidate.when ?? []).every((test) => holds(test, detail)));
    reasons.push({ target: { detail: position, type }, rule: index === -1 ? undefined : index, tier: index === -1 ? policy.default : policy.rules[index].tier });
  });
  const secondApprovers = new Set(reasons.flatMap((reason) => (reason.rule === undefined ? [] : policy.rules[reason.rule].second_approvers ?? [])));
  return { tier: reasons.reduce<Tier>((tier, reason) => stricterTier(tier, reason.tier), 'autonomous'), reasons, secondApprovers: [...secondApprovers] };
}

/** The reasons that need a person, for a refusal that names them. */
export function reasonsNeedingApproval(decision: TierDecision): TierReason[] {
  return decision.reasons.filter((reason) => reason.tier !== 'autonomous');
}

function fieldValue(detail: Record<string, unknown>, path: string): unknown {
  let current: unknown = detail;
  for (const segment of path.split('.')) {
    if (typeof current !== 'object' || current === null || Array.isArray(current) || !Object.hasOwn(current, segment)) return undefined;
    current = (current as Record<string, unknown>)[segment];
  }
  return current;
}

// A condition on a field the detail lacks, or of another type, does not hold: `amount > 1000` says nothing of a
// detail without an amount (a rule meant to catch large amounts should then be paired with `exists`).
function holds(test: Condition, detail: Record<string, unknown>): boolean {
  const actual = fieldValue(detail, test.field);
  const op: Operator = test.op;
  switch (op) {
    case 'exists':
      return (actual !== undefined) === (test.value ?? true);
    case 'in':
      return (test.value as unknown[]).some((candidate) => candidate === actual);
    case '==':
      return actual === test.value;
    case '!=':
      return actual !== undefined && actual !== test.value;
    default: {
      const number = typeof actual === 'number' ? actual : typeof actual === 'string' && /^-?\d+(\.\d+)?$/.test(actual) ? Number(actual) : undefined;
      if (number === undefined) return false;
      const bound = test.value as number;
      if (op === '>') return number > bound;
      if (op === '>=') return number >= bound;
      if (op === '<') return number < bound;
      return number <= bound;
    }
  }
}
