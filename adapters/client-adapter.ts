// oidc-provider's `Client` model: registered clients (adapters/client-store.ts) and agents
// (adapters/agent-store.ts) behind one adapter, so every OAuth endpoint works for an agent unchanged.
import type { Adapter, AdapterPayload } from 'oidc-provider';
import { validCredentials, type Agent, type AgentStore } from './agent-store.ts';
import type { PostgresClientAdapter } from './client-store.ts';

/** Grants an agent may use: its own tokens, RFC 8693 token exchange to act for others, and CIBA to ask a person. */
export const AGENT_GRANT_TYPES = ['client_credentials', 'urn:ietf:params:oauth:grant-type:token-exchange', 'urn:openid:params:grant-type:ciba'];

export class ClientAdapter implements Adapter {
  readonly #clients: PostgresClientAdapter;
  readonly #agents: AgentStore;

  constructor(clients: PostgresClientAdapter, agents: AgentStore) {
    this.#clients = clients;
    this.#agents = agents;
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    // Where the id is found decides what it is, never its spelling; both stores are cached on every instance.
    const agent = await this.#agents.get(id);
    if (agent) return agentClientMetadata(agent, AGENT_GRANT_TYPES);
    return this.#clients.find(id);
  }

  // Agents are written through the admin API only; oidc-provider writes (RFC 7591/7592) reach registered clients.
  upsert(id: string, payload: AdapterPayload): Promise<void> {
    return this.#clients.upsert(id, payload);
  }

  destroy(id: string): Promise<void> {
    return this.#clients.destroy(id);
  }

  findByUid(): Promise<never> {
    return this.#clients.findByUid();
  }

  findByUserCode(): Promise<never> {
    return this.#clients.findByUserCode();
  }

  consume(): Promise<never> {
    return this.#clients.consume();
  }

  revokeByGrantId(): Promise<never> {
    return this.#clients.revokeByGrantId();
  }
}

/**
 * The agent as oidc-provider client metadata, or undefined when it may not authenticate: a suspended or revoked
 * agent is an unknown client (`invalid_client` everywhere), and so is one whose every credential has expired.
 * Keys that expired after a rotation drop out here, at lookup time, so no cache keeps them usable.
 */
export function agentClientMetadata(agent: Agent, grantTypes: string[], now = Date.now()): AdapterPayload | undefined {
  if (agent.status !== 'active') return undefined;
  const credentials = validCredentials(agent, now);
  const base = {
    client_id: agent.id,
    client_name: agent.name,
    grant_types: grantTypes,
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: agent.tokenEndpointAuthMethod,
    // CIBA: an agent polls (it has no notification endpoint registered).
    ...(grantTypes.includes('urn:openid:params:grant-type:ciba') ? { backchannel_token_delivery_mode: 'poll' as const } : {}),
    // oidc-provider builds its Client from copies of its own, never from the cached agent every reader shares.
    ...agentRecordMetadata(agent),
  };
  if (agent.tokenEndpointAuthMethod === 'private_key_jwt') {
    const keys = credentials.flatMap((credential) => (credential.publicJwk ? [structuredClone(credential.publicJwk)] : []));
    return keys.length ? { ...base, jwks: { keys } } : undefined;
  }
  // Older secrets still inside their grace period are checked by compareClientSecret (server/provider.ts).
  const newest = credentials.findLast((credential) => credential.secretHash);
  return newest ? { ...base, client_secret: newest.secretHash! } : undefined;
}

/** The agent's rules as client metadata: the client record (policy/client-record.ts) every grant reads them from. */
export function agentRecordMetadata(agent: Pick<Agent, 'ownerId' | 'orgId' | 'scopes' | 'defaultScopes' | 'resources' | 'accessTokenTtl' | 'delegationPolicy' | 'mayAct'>) {
  return {
    client_kind: 'agent' as const,
    owner: agent.ownerId,
    ...(agent.orgId ? { org_id: agent.orgId } : {}),
    // Copies: the cached agent is shared and frozen (adapters/deep-frozen.ts), and oidc-provider alters metadata.
    scope_patterns: [...agent.scopes],
    ...(agent.defaultScopes ? { default_scopes: [...agent.defaultScopes] } : {}),
    ...(agent.resources ? { allowed_resources: [...agent.resources] } : {}),
    ...(agent.accessTokenTtl ? { access_token_ttl: agent.accessTokenTtl } : {}),
    ...(agent.delegationPolicy ? { delegation_policy: structuredClone(agent.delegationPolicy) } : {}),
    ...(agent.mayAct ? { may_act: structuredClone(agent.mayAct) } : {}),
  };
}

/** Hashes of every secret the agent may authenticate with right now. */
export function agentSecretHashes(agent: Agent, now = Date.now()): string[] {
  if (agent.status !== 'active') return [];
  return validCredentials(agent, now).flatMap((credential) => (credential.secretHash ? [credential.secretHash] : []));
}
