// Types for the one oidc-provider module we import that DefinitelyTyped does not describe (see
// issuance/oidc-grant-helpers.ts, whose contract test fails if it moves).
declare module 'oidc-provider/lib/actions/grants/ciba.js' {
  import type Provider from 'oidc-provider';
  import type { KoaContextWithOIDC } from 'oidc-provider';

  export const grantType: string;
  export const parameters: Set<string>;
  export function handler(provider: Provider, helpers: Record<string, unknown>, ctx: KoaContextWithOIDC): Promise<void>;
}
