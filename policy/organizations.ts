// Organization isolation (issue 18 part 2), as one pure function over what is known about a token about to be
// issued: whose organization it is for, the organization of the client asking for it (and of the actor an
// actor_token names), and that of the resource it is for. Two rules, checked in this order, each refusal naming
// its rule:
//   organization_actor    a client, and the principal an actor_token names, act only for principals of their own
//                         organization, or of one whose operator lists theirs as an allowed actor
//                         (cross-organization delegation);
//   organization_resource a token is issued only for a resource of its subject's organization.
// The first is the presented subject token being unacceptable in token exchange (RFC 8693 §2.2.2: invalid_request)
// and the client not being authorized for this user in the other grants (RFC 6749 §5.2: unauthorized_client); the
// second is the target the server will not issue for (RFC 8707 §2, RFC 8693 §2.2.2: invalid_target).

export interface OrganizationFacts {
  /** The organization of the client asking (the actor, when the subject is someone else). */
  clientOrg: string;
  /** The organization of the token's subject: its user, or the client itself for a token it gets for itself. */
  subjectOrg: string;
  /** The resource the token is for and its organization; absent for a token for no registered resource. */
  resource?: { identifier: string; orgId: string };
  /** Whether the operator lets principals of `clientOrg` act for those of `subjectOrg` (always, when they are one). */
  crossOrgActorAllowed: boolean;
  /** The token comes from RFC 8693 token exchange, where the subject was presented as a subject_token. */
  exchange: boolean;
  /**
   * In token exchange with an actor_token, the principal of ours it names (the token's `act.sub`): its organization
   * and whether the operator lets that organization act for the subject's. Absent when the client acts itself.
   */
  actor?: { id: string; org: string; allowed: boolean };
}

export interface OrganizationRefusal {
  rule: 'organization_actor' | 'organization_resource';
  error: 'invalid_request' | 'unauthorized_client' | 'invalid_target';
  description: string;
}

export function organizationRefusal(facts: OrganizationFacts): OrganizationRefusal | undefined {
  const { clientOrg, subjectOrg, resource } = facts;
  if (clientOrg !== subjectOrg && !facts.crossOrgActorAllowed) {
    const whose = `organization "${clientOrg}" may not act for principals of organization "${subjectOrg}" (the operator has not allowed it)`;
    return facts.exchange
      ? { rule: 'organization_actor', error: 'invalid_request', description: `subject_token belongs to another organization: ${whose}` }
      : { rule: 'organization_actor', error: 'unauthorized_client', description: `this client belongs to another organization than the user: ${whose}` };
  }
  const { actor } = facts;
  if (actor && actor.org !== subjectOrg && !actor.allowed) {
    return {
      rule: 'organization_actor',
      error: 'invalid_request',
      description: `actor_token belongs to another organization: "${actor.id}" is of organization "${actor.org}", which may not act for principals of organization "${subjectOrg}" (the operator has not allowed it)`,
    };
  }
  if (resource && resource.orgId !== subjectOrg) {
    return {
      rule: 'organization_resource',
      error: 'invalid_target',
      description: `resource "${resource.identifier}" belongs to organization "${resource.orgId}", and the token would be for organization "${subjectOrg}"`,
    };
  }
  return undefined;
}
