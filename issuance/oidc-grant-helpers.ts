// The one module that imports oidc-provider's helpers for custom grants. They are outside its semantic
// versioning promise (their own typings say so, and the API changed within 9.12.x), which is why the
// dependency is pinned exactly and why test/issuance/oidc-grant-helpers.test.ts fails loudly if an upgrade
// moves anything our grants rely on.
export {
  buildTokenResponse,
  checkDpopReplay,
  checkDpopRequired,
  findAccount,
  resolveRequestedResources,
  validateClientScope,
  validateDpop,
} from 'oidc-provider/lib/helpers/grants.js';
