// Every grant this server adds to or puts in place of oidc-provider's, in one list: each file exports the same
// shape (grants/grant.ts), and registerGrants is the only place they reach the provider.
import type Provider from 'oidc-provider';
import { grant as ciba } from './ciba.ts';
import { grant as clientCredentials } from './client-credentials.ts';
import type { Grant, GrantDependencies } from './grant.ts';
import { grant as jwtBearer } from './jwt-bearer.ts';
import { grant as tokenExchange } from './token-exchange.ts';

export type { Grant, GrantDependencies } from './grant.ts';

export const grants: readonly Grant[] = [clientCredentials, tokenExchange, ciba, jwtBearer];

/** Registers every grant the deployment offers; returns their grant_type values. */
export function registerGrants(provider: Provider, deps: GrantDependencies): string[] {
  const offered = grants.filter((grant) => grant.offered?.(deps) ?? true);
  for (const grant of offered) {
    provider.registerGrantType(grant.grantType, grant.handler(deps, provider) as never, [...grant.parameters], [...grant.allowedDuplicateParameters]);
  }
  return offered.map((grant) => grant.grantType);
}
