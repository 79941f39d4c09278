// The one module that imports oidc-provider's helpers for custom grants. They are outside its semantic
// versioning promise (their own typings say so, and the API changed within 9.12.x), which is why the
// dependency is pinned exactly and why test/issuance/oidc-grant-helpers.test.ts fails loudly if an upgrade
// moves anything our grants rely on.
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { handler as cibaHandler } from 'oidc-provider/lib/actions/grants/ciba.js';
import * as grantHelpers from 'oidc-provider/lib/helpers/grants.js';

export {
  buildTokenResponse,
  checkDpopReplay,
  checkDpopRequired,
  findAccount,
  resolveRequestedResources,
  validateClientScope,
  validateDpop,
} from 'oidc-provider/lib/helpers/grants.js';

/**
 * oidc-provider's own CIBA grant (urn:openid:params:grant-type:ciba), for grants/ciba.ts to run after its own
 * checks: the provider binds its helpers to itself exactly this way when it registers its built-in grants
 * (lib/helpers/initialize_app.js).
 */
export function builtInCibaGrant(provider: Provider): (ctx: KoaContextWithOIDC) => Promise<void> {
  const bound = Object.fromEntries(Object.entries(grantHelpers).map(([name, helper]) => [name, (helper as (...args: unknown[]) => unknown).bind(undefined, provider)]));
  return (ctx) => cibaHandler(provider, bound, ctx);
}
