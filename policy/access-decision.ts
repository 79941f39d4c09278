// The rule behind the permission check (OpenID AuthZEN Authorization API 1.0, server/routes/access-evaluation.ts):
// may this subject perform this action on this resource? One pure function over facts the caller gathered from
// our stores, so the PDP decides exactly as token issuance does — the same scope patterns, the same roles, the
// same kill switch, the same delegation rules — and the rules are unit-tested apart from HTTP.
//
// The question maps onto our `resource:action` scopes (policy/scope-patterns.ts):
//   resource {type, id} + action {name}  →  scope `<type>.<id>:<name>`
//   {type: "files", id: "reports"} + {name: "read"}  →  `files.reports:read`
// so a subject allowed `files:**` or `files.*:read` may read it and one allowed only `files.archive:*` may not.
// `id` may itself be dotted (`reports.q3` → `files.reports.q3:read`). Each segment and the action must be a
// scope-pattern name (letters, digits, `_`, `-`); anything else names no scope we could have granted.
//
// Organizations (policy/organizations.ts): a subject of one organization is denied another's resources, as token
// issuance refuses a token for them. A question's resource belongs to the organizations of the registered
// resources whose scopes name its family (the first segment of `type`: `files.reports` → `files`); a family no
// registered resource names belongs to none, and only the scope rules decide.
import { actorsOf, chainDepth, type ActClaim } from './act-chain.ts';
import { checkAllowedActor, checkChainDepth, checkHumanRoot, type DelegationPolicy } from './delegation-policy.ts';
import { scopeAllowed } from './scope-patterns.ts';

/** The subject types we can answer for: an agent or other OAuth client by client_id, a user by id or username. */
export const SUBJECT_TYPES = ['agent', 'client', 'user'] as const;
export type SubjectType = (typeof SUBJECT_TYPES)[number];

/** What our stores say about the subject. */
export interface SubjectFacts {
  /** Its canonical id: the client_id, or the user's id (also when the request named the username). */
  id: string;
  /** Users and non-agent clients are always active; agents can be suspended or revoked (the kill switch). */
  status: 'active' | 'suspended' | 'revoked';
  /** Its own scope patterns (an agent's `scopes`, a client's registered `scope`; users have none). */
  patterns: readonly string[];
  /** The patterns of every role it holds, inherited roles included (policy/roles.ts). */
  rolePatterns: readonly string[];
  /** Its organization (`default` unless the operator put it in another). */
  organization: string;
}

/** The access token `context.access_token` carried, as our stores know it. */
export type PresentedTokenFacts =
  | { active: false; reason: string }
  | {
    active: true;
    /** Its `sub`: the principal. */
    subject: string;
    scopes: readonly string[];
    /** RFC 8693 §4.1 chain, newest actor outermost. */
    act: ActClaim | undefined;
    /** Whether the principal at the root of its chain is a person. */
    rootIsPerson: boolean;
    /** The delegation policy of the client it was issued to (policy/delegation-policy.ts). */
    policy: DelegationPolicy;
  };

export interface AccessQuestion {
  subject: { type: string; id: string };
  action: { name: string };
  resource: { type: string; id: string };
  /** undefined: no such subject in our stores. */
  facts: SubjectFacts | undefined;
  /** The organizations of the registered resources of the resource's family; empty when none names it. */
  resourceOrganizations: readonly string[];
  token?: PresentedTokenFacts;
}

export type DenyRule =
  | 'unknown_subject_type'
  | 'unknown_subject'
  | 'subject_inactive'
  | 'unmappable_request'
  | 'organization_mismatch'
  | 'scope_not_allowed'
  | 'token_inactive'
  | 'token_subject_mismatch'
  | 'token_scope'
  | 'max_depth'
  | 'allowed_actors'
  | 'human_root_required';

/** AuthZEN §5.5: `decision`, and for a deny a `context` naming the rule and why. */
export type AccessDecision =
  | { decision: true }
  | { decision: false; context: { reason: string; rule: DenyRule } };

const NAME = /^[A-Za-z0-9_-]+$/;

/** The scope a resource and action stand for, or undefined when they name none (see the header). */
export function scopeFor(resource: { type: string; id: string }, action: { name: string }): string | undefined {
  const segments = [...resource.type.split('.'), ...resource.id.split('.')];
  if (!segments.every((segment) => NAME.test(segment)) || !NAME.test(action.name)) return undefined;
  return `${segments.join('.')}:${action.name}`;
}

function deny(rule: DenyRule, reason: string): AccessDecision {
  return { decision: false, context: { reason, rule } };
}

/** The decision. Closed by default: every path that does not reach the end denies. */
export function decideAccess(question: AccessQuestion): AccessDecision {
  const { subject, facts, token } = question;
  if (!(SUBJECT_TYPES as readonly string[]).includes(subject.type)) {
    return deny('unknown_subject_type', `subject type "${subject.type}" is not one this server knows (${SUBJECT_TYPES.join(', ')})`);
  }
  if (!facts) return deny('unknown_subject', `no ${subject.type} "${subject.id}" is known to this server`);
  if (facts.status !== 'active') return deny('subject_inactive', `${subject.type} "${facts.id}" is ${facts.status}`);

  const scope = scopeFor(question.resource, question.action);
  if (scope === undefined) {
    return deny('unmappable_request', 'the resource type and id and the action name must be letters, digits, "_" or "-" (dot-separated) to name a resource:action scope');
  }
  const { resourceOrganizations } = question;
  if (resourceOrganizations.length && !resourceOrganizations.includes(facts.organization)) {
    return deny('organization_mismatch', `resource "${question.resource.type}" belongs to organization ${resourceOrganizations.map((org) => `"${org}"`).join(', ')}, and ${subject.type} "${facts.id}" to "${facts.organization}"`);
  }
  if (!scopeAllowed(scope, [...facts.patterns, ...facts.rolePatterns])) {
    return deny('scope_not_allowed', `${subject.type} "${facts.id}" is not allowed "${scope}" by its scopes or roles`);
  }

  if (token) {
    if (!token.active) return deny('token_inactive', `the access token in context is not active: ${token.reason}`);
    // The token must be the subject's: its principal or the party acting now (the outermost actor).
    const parties = [token.subject, ...(token.act ? [token.act.sub] : [])];
    if (!parties.includes(facts.id)) return deny('token_subject_mismatch', `the access token in context is not ${subject.type} "${facts.id}"'s`);
    if (!token.scopes.includes(scope)) return deny('token_scope', `the access token in context does not carry "${scope}"`);
    const refusal = checkChainDepth(token.act, token.policy.maxDepth)
      ?? actorsOf(token.act).map((actor) => checkAllowedActor(actor.sub, token.policy.allowedActors)).find(Boolean)
      ?? checkHumanRoot(token.policy.humanRootRequired && chainDepth(token.act) > 0, token.rootIsPerson);
    if (refusal) return deny(refusal.rule as DenyRule, refusal.description);
  }
  return { decision: true };
}
