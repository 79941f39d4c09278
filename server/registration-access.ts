// Dynamic client registration (RFC 7591 §3): the operator's ADMIN_TOKEN is the initial access token. Without
// one, registration is anonymous and the provider narrows it to public clients (see client-policy.ts). A
// request that presents a token which is not the initial access token is refused outright (RFC 6750 §3.1).
import type { Context, Next } from 'koa';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { bearerToken, secretsEqual } from './bearer-token.ts';
import { HttpError } from './http-error.ts';

const ADMIN_REGISTRATION = 'agentauth.adminRegistration';

export function registrationAccess(options: { adminToken: string; registrationPath: string }) {
  return function checkRegistrationAccess(ctx: Context, next: Next): Promise<void> {
    if (ctx.method === 'POST' && ctx.path === options.registrationPath && ctx.get('authorization')) {
      const token = bearerToken(ctx.get('authorization'));
      if (!token || !secretsEqual(token, options.adminToken)) {
        throw new HttpError(401, 'invalid_token', 'the initial access token is invalid', {
          headers: { 'WWW-Authenticate': 'Bearer error="invalid_token", error_description="the initial access token is invalid"' },
        });
      }
      ctx.state[ADMIN_REGISTRATION] = true;
    }
    return next();
  };
}

export function isAdminRegistration(ctx: KoaContextWithOIDC): boolean {
  return ctx.state?.[ADMIN_REGISTRATION] === true;
}

/**
 * RFC 7592 read and update responses would echo the stored client secret, which is only its hash (see
 * adapters/client-store.ts); a client that saved that as its secret would lock itself out. The secret is shown
 * once, at registration, and never again.
 */
export function hideStoredClientSecrets(registrationPath: string) {
  return function hideClientSecret(ctx: Context, next: Next): Promise<void> {
    if (!ctx.path.startsWith(`${registrationPath}/`)) return next();
    return next().then(() => {
      const route = (ctx as unknown as KoaContextWithOIDC).oidc?.route;
      if ((route === 'client' || route === 'client_update') && ctx.body && typeof ctx.body === 'object' && 'client_secret' in ctx.body) {
        const { client_secret: _hidden, client_secret_expires_at: _expiry, ...rest } = ctx.body as Record<string, unknown>;
        ctx.body = rest;
      }
    });
  };
}
