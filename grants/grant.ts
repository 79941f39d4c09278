// The one shape every grant of ours has, so adding a grant is a file and a line in grants/index.ts: its
// grant_type, the parameters oidc-provider should accept for it, and a handler factory that draws what it needs
// from one dependencies type.
import type Provider from 'oidc-provider';
import type { TokenEndpointGrantContext } from 'oidc-provider';
import type { AgentStore } from '../adapters/agent-store.ts';
import type { IdJagAudienceStore } from '../adapters/id-jag-audience-store.ts';
import type { OrganizationLookups } from '../issuance/token-organization.ts';
import type { RoleStore } from '../adapters/role-store.ts';
import type { TokenLineage } from '../adapters/token-lineage.ts';
import type { UserStore } from '../adapters/user-store.ts';
import type { PolicyDefaults } from '../policy/delegation-policy.ts';
import type { IdJagVerifier } from '../tokens/id-jag-verifier.ts';
import type { PresentedTokens } from '../tokens/presented-tokens.ts';
import type { CibaDependencies } from './ciba.ts';
import type { TransactionTokenService } from './transaction-token.ts';

/** Everything any grant may need; each handler factory takes what it uses. */
export interface GrantDependencies {
  issuer: string;
  users: UserStore;
  agents: AgentStore;
  roles: RoleStore;
  presented: PresentedTokens;
  lineage: TokenLineage;
  /** Where a JWT access token's record is stored (server/jwt-access-token-records.ts). */
  jwtRecords: { of(jti: string): string };
  delegationDefaults: PolicyDefaults;
  transactionTokens: TransactionTokenService;
  /** The authorization servers we issue ID-JAGs for, as an enterprise IdP. */
  idJagAudiences: IdJagAudienceStore;
  /** Enterprise IdPs whose ID-JAGs we accept; absent or disabled, the jwt-bearer grant is not offered. */
  idJag?: IdJagVerifier;
  ciba: CibaDependencies;
  /**
   * Organizations and who may act across them: every access token carries its `org_id` and obeys their isolation,
   * and so do the Txn-Tokens and ID-JAGs we sign.
   */
  organizations: OrganizationLookups;
}

export type GrantHandler = (ctx: TokenEndpointGrantContext) => Promise<void>;

export interface Grant {
  grantType: string;
  /** Request parameters oidc-provider passes through to the handler (it drops the rest). */
  parameters: readonly string[];
  /** Of those, the ones that may be sent more than once (RFC 8707 `resource`, RFC 8693 `audience`). */
  allowedDuplicateParameters: readonly string[];
  /** Whether this deployment offers the grant; offered when absent. */
  offered?(deps: GrantDependencies): boolean;
  handler(deps: GrantDependencies, provider: Provider): GrantHandler;
}
