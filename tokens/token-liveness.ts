// Whether a token that has not expired and was not revoked is still alive under our own rules. oidc-provider
// knows expiry and revocation; it does not know that
// - an agent was suspended (the kill switch), which ends every token the agent holds at once, JWT records
//   included, and keeps them dead if the agent is reactivated;
// - a token was exchanged from another (RFC 8693), which dies with every token it descends from;
// - a token an agent got for itself carries a scope its patterns and roles no longer allow (a role revoked, a
//   permission taken from a role or the agent): it dies at once, as the kill switch ends tokens;
// - the registered client holding it was deleted (RFC 7592 §2.3: its tokens SHOULD be invalidated immediately).
//   The client store's cache is announced on every instance, so a deletion ends the tokens everywhere at once;
// - the registered client holding it was suspended or revoked (the same kill switch agents have);
// - the user it was issued for moved to another organization: it carries the organization the user left.
// Which rules apply is decided by where the holder is found (the agent registry or the client store), never by
// the spelling of its id.
import type { AgentStore } from '../adapters/agent-store.ts';
import type { RoleStore } from '../adapters/role-store.ts';
import type { TokenLineage, TokenRef } from '../adapters/token-lineage.ts';
import { scopesNotAllowed } from '../policy/scope-patterns.ts';

/** The parts of a stored token (any oidc-provider token model) these rules read. */
export interface TokenFacts {
  jti?: string;
  clientId?: string;
  /** The user (or other subject) it was issued for, when not the client itself. */
  accountId?: string;
  /** Seconds since the epoch. */
  iat?: number;
  /** Grant type that issued it; exchanged tokens are `token_exchange` (grants/token-exchange.ts). */
  gty?: string;
  /** oidc-provider's model name: `ClientCredentials` for a token a client got for itself. */
  kind?: string;
  scope?: string;
}

export const EXCHANGED_TOKEN_GTY = 'token_exchange';

export class TokenLiveness {
  readonly #agents: AgentStore;
  readonly #lineage: TokenLineage;
  readonly #findToken: (ref: TokenRef) => Promise<TokenFacts | undefined>;
  readonly #roles: Pick<RoleStore, 'grantsOf'> | undefined;
  readonly #registeredClient: ((clientId: string) => Promise<RegisteredClientFacts | undefined>) | undefined;
  readonly #userCutOff: ((userId: string) => Promise<Date | undefined>) | undefined;

  /**
   * `findToken` loads a stored token of ours (undefined once it expired or was revoked); `roles` widen what an
   * agent may hold; `registeredClient` reads a registered (RFC 7591 or admin) client's lifecycle, undefined
   * when it is not stored; `userCutOff` reads before when a user's tokens are inactive (it moved organization).
   */
  constructor(
    agents: AgentStore,
    lineage: TokenLineage,
    findToken: (ref: TokenRef) => Promise<TokenFacts | undefined>,
    rules: {
      roles?: Pick<RoleStore, 'grantsOf'>;
      registeredClient?: (clientId: string) => Promise<RegisteredClientFacts | undefined>;
      userCutOff?: (userId: string) => Promise<Date | undefined>;
    } = {},
  ) {
    this.#agents = agents;
    this.#lineage = lineage;
    this.#findToken = findToken;
    this.#roles = rules.roles;
    this.#registeredClient = rules.registeredClient;
    this.#userCutOff = rules.userCutOff;
  }

  /** Why the token is dead, or undefined when it is alive. */
  async inactiveReason(token: TokenFacts): Promise<string | undefined> {
    const killed = (await this.#killedWithAgent(token)) ?? (await this.#endedWithUser(token));
    if (killed || token.gty !== EXCHANGED_TOKEN_GTY || !token.jti) return killed;
    const lineage = await this.#lineage.find(token.jti);
    if (!lineage) return 'the record of the tokens it was exchanged from is gone';
    const ancestors = await Promise.all(lineage.ancestors.map((ref) => this.#findToken(ref)));
    for (const ancestor of ancestors) {
      if (!ancestor) return 'a token it was exchanged from has been revoked or has expired';
      const reason = (await this.#killedWithAgent(ancestor)) ?? (await this.#endedWithUser(ancestor));
      if (reason) return `a token it was exchanged from is inactive: ${reason}`;
    }
    return undefined;
  }

  async #killedWithAgent(token: TokenFacts): Promise<string | undefined> {
    const holder = token.clientId;
    if (!holder) return undefined;
    const agent = await this.#agents.get(holder);
    if (!agent) return this.#withoutRegisteredClient(holder, token);
    if (agent.status !== 'active') return `agent ${holder} is ${agent.status}`;
    const cutOff = agent.tokensInvalidBefore?.getTime();
    if (cutOff !== undefined && (token.iat ?? 0) * 1000 < cutOff) return `agent ${holder} was suspended or moved to another organization after this token was issued`;
    if (this.#roles && token.kind === 'ClientCredentials' && token.scope) {
      const { patterns } = await this.#roles.grantsOf({ type: 'client', id: holder });
      const [lost] = scopesNotAllowed(token.scope.split(' '), [...agent.scopes, ...patterns]);
      if (lost !== undefined) return `agent ${holder} may no longer be granted scope "${lost}"`;
    }
    return undefined;
  }

  async #endedWithUser(token: TokenFacts): Promise<string | undefined> {
    if (!this.#userCutOff || !token.accountId || token.accountId === token.clientId) return undefined;
    const cutOff = (await this.#userCutOff(token.accountId))?.getTime();
    if (cutOff !== undefined && (token.iat ?? 0) * 1000 < cutOff) return `user ${token.accountId} moved to another organization after this token was issued`;
    return undefined;
  }

  async #withoutRegisteredClient(holder: string, token: TokenFacts): Promise<string | undefined> {
    // A Client ID Metadata Document client (its id is an https URL) is never stored, so its absence says nothing.
    if (!this.#registeredClient || /^https?:\/\//.test(holder)) return undefined;
    const client = await this.#registeredClient(holder);
    // Neither an agent nor a stored client: deleted (an agent's deletion ends its tokens the same way).
    if (!client) return `client ${holder} no longer exists`;
    if (client.status !== 'active') return `client ${holder} is ${client.status}`;
    const cutOff = client.tokensInvalidBefore?.getTime();
    if (cutOff !== undefined && (token.iat ?? 0) * 1000 < cutOff) return `client ${holder} was suspended after this token was issued`;
    return undefined;
  }
}

/** The parts of a registered client's lifecycle these rules read. */
export interface RegisteredClientFacts {
  status: string;
  tokensInvalidBefore: Date | null;
}
