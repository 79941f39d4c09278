// Where an exchanged token came from (RFC 8693 delegation): every token it descends from, so revoking any
// ancestor kills it, across instances, without walking a tree at revocation time. Kept in the same short-lived
// storage as the tokens (Redis or memory), under the token's id, for as long as the token lives.
import type { Adapter } from 'oidc-provider';

/** A stored token of ours: its model and its id (the opaque value, or a JWT's `jti`). */
export interface TokenRef {
  kind: 'AccessToken' | 'ClientCredentials';
  id: string;
}

export interface Lineage {
  /** Every token this one descends from, oldest first. */
  ancestors: TokenRef[];
  /** Whether the principal at the root of the chain is a person (a user), not a client or agent. */
  rootIsPerson: boolean;
  /** The client the first token of the chain was issued to: its delegation policy binds every later hop. */
  rootClientId?: string;
}

export class TokenLineage {
  readonly #adapter: Adapter;

  /** `adapter` is the storage adapter for the `TokenLineage` model. */
  constructor(adapter: Adapter) {
    this.#adapter = adapter;
  }

  async record(tokenId: string, lineage: Lineage, expiresIn: number): Promise<void> {
    await this.#adapter.upsert(tokenId, { ancestors: lineage.ancestors, rootIsPerson: lineage.rootIsPerson, rootClientId: lineage.rootClientId } as never, expiresIn);
  }

  async find(tokenId: string): Promise<Lineage | undefined> {
    const stored = (await this.#adapter.find(tokenId)) as Partial<Lineage> | undefined;
    if (!stored || !Array.isArray(stored.ancestors)) return undefined;
    return {
      ancestors: stored.ancestors,
      rootIsPerson: stored.rootIsPerson === true,
      ...(typeof stored.rootClientId === 'string' ? { rootClientId: stored.rootClientId } : {}),
    };
  }
}
