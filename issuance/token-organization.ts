// The organization an access token is issued under, and the isolation rules (policy/organizations.ts) applied to
// it. It runs from oidc-provider's extraTokenClaims, which every access token of every grant passes (ours and the
// built-in authorization code and refresh token grants) before it is stored or signed: one place, so no grant can
// issue around it, and a refusal leaves nothing issued. The backchannel endpoint (grants/ciba.ts) asks the same
// question earlier, so nobody is asked to approve what could never be issued.
import { errors } from 'oidc-provider';
import type { AgentStore } from '../adapters/agent-store.ts';
import type { StoredClient } from '../adapters/client-store.ts';
import { DEFAULT_ORG, type OrganizationStore } from '../adapters/organization-store.ts';
import type { ResourceStore } from '../adapters/resource-store.ts';
import { isStorableText } from '../adapters/storage-rules.ts';
import type { UserStore } from '../adapters/user-store.ts';
import { organizationRefusal, type OrganizationFacts, type OrganizationRefusal } from '../policy/organizations.ts';
import { EXCHANGED_TOKEN_GTY } from '../tokens/token-liveness.ts';

export interface OrganizationLookups {
  agents: Pick<AgentStore, 'get'>;
  users: Pick<UserStore, 'findById'>;
  resources: Pick<ResourceStore, 'get'>;
  organizations: Pick<OrganizationStore, 'allowsActor'>;
  registeredClients?: { record(clientId: string): Promise<StoredClient | undefined> };
  /** Trusted issuers' subjects, told apart by their prefix, that belong to an organization (TRUSTED_ISSUERS org_id). */
  externalSubjects?: readonly { prefix: string; orgId: string }[];
}

/** What of an access token about to be issued decides its organization. */
export interface TokenParties {
  clientId?: string;
  /** The subject when it is not the client itself (a user, or the holder of an exchanged token). */
  accountId?: string;
  /** The resource identifier it is for. */
  aud?: unknown;
  gty?: string;
  /** The actor of an exchanged token, when an actor_token named a principal of ours other than the client (`act.sub`). */
  actor?: string;
}

/**
 * The token's `org_id`: its subject's organization. Throws the OAuth error of the isolation rule the token would
 * break. Always a value, `default` included, so a resource server can rely on the claim being there.
 */
export async function tokenOrganization(token: TokenParties, lookups: OrganizationLookups): Promise<string> {
  const facts = await organizationFacts(token, lookups);
  refuseIf(organizationRefusal(facts));
  return facts.subjectOrg;
}

/** What policy/organizations.ts decides from, read from the stores. */
export async function organizationFacts(token: TokenParties, lookups: OrganizationLookups): Promise<OrganizationFacts> {
  const clientOrg = token.clientId ? await clientOrganization(token.clientId, lookups) : DEFAULT_ORG;
  const subjectOrg = token.accountId && token.accountId !== token.clientId
    ? (await principalOrganization(token.accountId, lookups)) ?? clientOrg
    : clientOrg;
  const resource = typeof token.aud === 'string' ? await lookups.resources.get(token.aud) : undefined;
  const actorOrg = token.actor && token.actor !== token.clientId ? await principalOrganization(token.actor, lookups) : undefined;
  return {
    ...(token.actor && actorOrg !== undefined ? {
      actor: { id: token.actor, org: actorOrg, allowed: actorOrg === subjectOrg || (await lookups.organizations.allowsActor(subjectOrg, actorOrg)) },
    } : {}),
    clientOrg,
    subjectOrg,
    resource: resource && { identifier: resource.identifier, orgId: resource.orgId },
    crossOrgActorAllowed: clientOrg === subjectOrg || (await lookups.organizations.allowsActor(subjectOrg, clientOrg)),
    exchange: token.gty === EXCHANGED_TOKEN_GTY,
  };
}

/** A refusal as the OAuth error it names. */
export function refuseIf(refusal: OrganizationRefusal | undefined): void {
  if (refusal?.error === 'invalid_target') throw new errors.InvalidTarget(refusal.description);
  if (refusal?.error === 'invalid_request') throw new errors.InvalidRequest(refusal.description);
  if (refusal) throw new errors.UnauthorizedClient(refusal.description);
}

/**
 * Where the client is found decides, never its id's spelling. A client known from a metadata document (CIMD) or
 * the static configuration belongs to no organization of its own: the default one.
 */
async function clientOrganization(clientId: string, lookups: OrganizationLookups): Promise<string> {
  const agent = await lookups.agents.get(clientId);
  if (agent) return agent.orgId;
  return (await lookups.registeredClients?.record(clientId))?.orgId ?? DEFAULT_ORG;
}

/**
 * A subject of ours: a user, or an agent or registered client whose own token was exchanged; or a trusted issuer's
 * subject whose issuer the operator put in an organization. Any other subject (a trusted issuer's without one) is
 * undefined: the token is then issued under the client's organization.
 */
async function principalOrganization(id: string, lookups: OrganizationLookups): Promise<string | undefined> {
  // A trusted issuer's `sub` may hold what PostgreSQL text cannot; no principal of ours has such an id.
  if (!isStorableText(id)) return undefined;
  const user = await lookups.users.findById(id);
  if (user) return user.orgId;
  const agent = await lookups.agents.get(id);
  if (agent) return agent.orgId;
  const client = await lookups.registeredClients?.record(id);
  if (client) return client.orgId;
  return externalOrganization(id, lookups.externalSubjects ?? []);
}

/** A trusted issuer's subject's organization, by the longest prefix that names it (config/trusted-issuers.ts). */
export function externalOrganization(id: string, subjects: readonly { prefix: string; orgId: string }[]): string | undefined {
  let best: { prefix: string; orgId: string } | undefined;
  for (const subject of subjects) {
    if (subject.prefix && id.startsWith(subject.prefix) && subject.prefix.length > (best?.prefix.length ?? 0)) best = subject;
  }
  return best?.orgId;
}
