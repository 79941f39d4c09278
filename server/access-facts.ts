// What the permission check (policy/access-decision.ts) needs to know, read from our stores: the subject's
// status, its own scope patterns and its roles', and, for an access token the PEP passes in `context`, its chain
// and the delegation policy of the client it was issued to. Reads only; the decision itself is pure.
import type Provider from 'oidc-provider';
import type { AdapterPayload } from 'oidc-provider';
import type { AgentStore } from '../adapters/agent-store.ts';
import type { ResourceStore } from '../adapters/resource-store.ts';
import { DEFAULT_ORG } from '../adapters/organization-store.ts';
import type { RoleStore } from '../adapters/role-store.ts';
import type { UserStore } from '../adapters/user-store.ts';
import { parseClientRecord } from '../policy/client-record.ts';
import { policyFor, type DelegationPolicy, type PolicyDefaults } from '../policy/delegation-policy.ts';
import type { PresentedTokens } from '../tokens/presented-tokens.ts';
import { PresentedTokenError } from '../tokens/presented-token-error.ts';
import type { PresentedTokenFacts, SubjectFacts } from '../policy/access-decision.ts';

export interface AccessFactsDependencies {
  provider: Provider;
  agents: Pick<AgentStore, 'get'>;
  users: Pick<UserStore, 'findById' | 'findByUsername'>;
  /** A client's metadata as oidc-provider sees it (registered clients and active agents), or undefined. */
  findClient: (clientId: string) => Promise<AdapterPayload | undefined>;
  roles: Pick<RoleStore, 'grantsOf'>;
  resources: Pick<ResourceStore, 'inFamily'>;
  presented: Pick<PresentedTokens, 'ownAccessToken'>;
  delegationDefaults: PolicyDefaults;
}

export class AccessFacts {
  readonly #deps: AccessFactsDependencies;

  constructor(deps: AccessFactsDependencies) {
    this.#deps = deps;
  }

  /** The subject as our stores know it; undefined when it names nobody (or a type we do not know). */
  async subject(subject: { type: string; id: string }): Promise<SubjectFacts | undefined> {
    const { agents, users, findClient, roles } = this.#deps;
    if (subject.type === 'user') {
      const user = (await users.findById(subject.id)) ?? (await users.findByUsername(subject.id));
      if (!user) return undefined;
      const held = await roles.grantsOf({ type: 'user', id: user.id });
      return { id: user.id, status: 'active', patterns: [], rolePatterns: held.patterns, organization: user.orgId };
    }
    if (subject.type !== 'agent' && subject.type !== 'client') return undefined;
    // An agent is a client; `agent` names only agents.
    const agent = await agents.get(subject.id);
    if (agent) {
      const held = await roles.grantsOf({ type: 'client', id: agent.id });
      return { id: agent.id, status: agent.status, patterns: agent.scopes, rolePatterns: held.patterns, organization: agent.orgId };
    }
    if (subject.type === 'agent') return undefined;
    const client = await findClient(subject.id);
    if (!client) return undefined;
    const held = await roles.grantsOf({ type: 'client', id: subject.id });
    const record = parseClientRecord(client);
    // Its scope patterns, or, for a client the operator gave none, the scopes its `scope` metadata lists.
    const patterns = record.scopePatterns ?? (typeof client.scope === 'string' ? client.scope.split(' ').filter(Boolean) : []);
    return { id: subject.id, status: 'active', patterns, rolePatterns: held.patterns, organization: typeof client.org_id === 'string' ? client.org_id : DEFAULT_ORG };
  }

  /** The organizations of the registered resources whose scopes name the family of `type` (its first segment). */
  async resourceOrganizations(type: string): Promise<string[]> {
    const family = type.split('.')[0];
    return [...new Set((await this.#deps.resources.inFamily(family)).map((resource) => resource.orgId))];
  }

  /** An access token the PEP passed as `context.access_token`: whether it is one of ours and alive, and its chain. */
  async token(value: string): Promise<PresentedTokenFacts> {
    let token;
    try {
      token = await this.#deps.presented.ownAccessToken(this.#deps.provider, value);
    } catch (error) {
      if (error instanceof PresentedTokenError) return { active: false, reason: error.message.replace(/^access_token /, '') };
      throw error;
    }
    return {
      active: true,
      subject: token.subject,
      scopes: token.scopes ?? [],
      act: token.act,
      rootIsPerson: token.rootIsPerson,
      policy: await this.#policyOf(token.rootClientId ?? token.clientId),
    };
  }

  /** As token exchange applies it: the policy of the client the (first token of the) chain was issued to. */
  async #policyOf(clientId: string | undefined): Promise<DelegationPolicy> {
    const client = clientId ? await this.#deps.findClient(clientId) : undefined;
    return policyFor(this.#deps.delegationDefaults, client && parseClientRecord(client).delegationPolicy);
  }
}
