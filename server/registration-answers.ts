// RFC 7591 §3 and RFC 7592 §2: the registration endpoint is protected by the initial access token and each
// client's configuration endpoint by its registration access token, both Bearer tokens, so a 401 there carries
// the challenge RFC 6750 §3.1 prescribes. A registration that only the initial access token allows, sent without
// one, is refused by the provider's registration policy with 401 and gets the challenge without an error code
// (no credentials were sent); a token that was sent and refused gets `error="invalid_token"` (a wrong initial
// access token is refused so by registration-access.ts already). Anonymous registrations the policy refuses for
// their metadata stay 400.
import type { Context, Next } from 'koa';

export function registrationAnswers() {
  return async function challengeBearer(ctx: Context, next: Next): Promise<void> {
    await next();
    if (ctx.status !== 401 || ctx.response.get('WWW-Authenticate')) return;
    if (!ctx.get('authorization')) {
      ctx.set('WWW-Authenticate', 'Bearer');
      return;
    }
    const body = ctx.body as { error?: unknown; error_description?: unknown } | undefined;
    if (body?.error !== 'invalid_token') return;
    const description = typeof body.error_description === 'string' ? `, error_description="${body.error_description.replace(/[\\"]/g, '\\$&')}"` : '';
    ctx.set('WWW-Authenticate', `Bearer error="invalid_token"${description}`);
  };
}
