// RFC 9449 §5: a token requested with a DPoP proof is bound to the proof's key (`cnf.jkt`, token_type DPoP).
// oidc-provider's own grants do this internally; a grant of ours that skipped it would silently hand out a
// Bearer token for a DPoP request, so every grant of ours binds through here.
import type { AccessToken, ClientCredentials, TokenEndpointGrantContext } from 'oidc-provider';
import { checkDpopReplay, type validateDpop } from './oidc-grant-helpers.ts';

type DpopProof = Awaited<ReturnType<typeof validateDpop>>;

export async function bindDpopProof(ctx: TokenEndpointGrantContext, dPoP: DpopProof, token: AccessToken | ClientCredentials): Promise<void> {
  if (!dPoP) return;
  // RFC 9449 §11.1: a proof is accepted once; the adapter's atomic claim (SET NX) makes this hold across instances.
  await checkDpopReplay(ctx.oidc.provider, ctx, dPoP, ctx.oidc.client.clientId);
  token.setThumbprint('jkt', dPoP.thumbprint);
}
