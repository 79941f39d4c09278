// RFC 7591 §3 and RFC 7592 §2: the registration endpoint is protected by the initial access token and each
// client's configuration endpoint by its registration access token, both Bearer tokens, so a 401 there carries
// the challenge RFC 6750 §3.1 prescribes. A registration that only the initial access token allows, sent without
// one, is refused by the provider's registration policy with 401; oidc-provider's challenge then repeats the
// body's error, while RFC 6750 §3.1 says a request that sent no credentials gets none in the challenge. A token
// that was sent and refused already gets `error="invalid_token"` (registration-access.ts for the initial access
// token, oidc-provider for a registration access token). Anonymous registrations the policy refuses for their
// metadata stay 400.
import type { Context, Next } from 'koa';

export function registrationAnswers(issuer: string) {
  const challenge = `Bearer realm="${issuer.replace(/[\\"]/g, '\\$&')}"`;
  return async function challengeBearer(ctx: Context, next: Next): Promise<void> {
    await next();
    if (ctx.status === 401 && !ctx.get('authorization')) ctx.set('WWW-Authenticate', challenge);
  };
}
