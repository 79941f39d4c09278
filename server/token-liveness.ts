// Whether a token that has not expired and was not revoked is still alive under our own rules. oidc-provider
// knows expiry and revocation; it does not know that an agent was suspended (the kill switch), which must end
// every token the agent holds at once, JWT records included, and keep them dead if the agent is reactivated.
import { isAgentId, type AgentStore } from '../adapters/agent-store.ts';

/** The parts of a stored token (any oidc-provider token model) these rules read. */
export interface TokenFacts {
  clientId?: string;
  /** Seconds since the epoch. */
  iat?: number;
}

export class TokenLiveness {
  readonly #agents: AgentStore;

  constructor(agents: AgentStore) {
    this.#agents = agents;
  }

  /** Why the token is dead, or undefined when it is alive. */
  async inactiveReason(token: TokenFacts): Promise<string | undefined> {
    const holder = token.clientId;
    if (!holder || !isAgentId(holder)) return undefined;
    const agent = await this.#agents.get(holder);
    if (!agent) return `agent ${holder} no longer exists`;
    if (agent.status !== 'active') return `agent ${holder} is ${agent.status}`;
    const cutOff = agent.tokensInvalidBefore?.getTime();
    if (cutOff !== undefined && (token.iat ?? 0) * 1000 < cutOff) return `agent ${holder} was suspended after this token was issued`;
    return undefined;
  }
}
