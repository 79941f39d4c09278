// Dynamic client registration (RFC 7591 §3): the operator's ADMIN_TOKEN is the initial access token. Without
// one, registration is anonymous and the provider narrows it to public clients (see client-policy.ts). A
// request that presents a token which is not the initial access token is refused outright (RFC 6750 §3.1).
import type { Context, Next } from 'koa';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { bearerToken, secretsEqual } from './bearer-token.ts';
import { HttpError } from './http-error.ts';
import { readRawBody, replaceRequestBody } from './read-body.ts';
import { describeTextProblem, findUnstorableText } from './storable-text.ts';

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

/**
 * MCP clients register with `scope` listing the resource's scopes (from its RFC 9728 metadata), while
 * oidc-provider accepts only its own OpenID Connect scopes there and refuses the whole registration. A client's
 * `scope` metadata limits only those OIDC scopes (resource scopes are governed by the resource and consent), so
 * the rest are left out of what is registered, as RFC 7591 §3.2.1 lets a server do; the response shows what was.
 */
export function registrableScopes(options: { registrationPath: string; supportedScopes: readonly string[] }) {
  const supported = new Set(options.supportedScopes);
  return function keepRegistrableScopes(ctx: Context, next: Next): Promise<void> {
    const registering = (ctx.method === 'POST' && ctx.path === options.registrationPath)
      || (ctx.method === 'PUT' && ctx.path.startsWith(`${options.registrationPath}/`));
    if (!registering || !ctx.is('application/json')) return next();
    return narrow(ctx).then(next);
  };

  async function narrow(ctx: Context): Promise<void> {
    const body = await readRawBody(ctx);
    let metadata: unknown;
    try {
      metadata = JSON.parse(body.toString('utf8'));
    } catch {
      replaceRequestBody(ctx, body); // oidc-provider answers malformed JSON itself
      return;
    }
    // Refused before oidc-provider walks it: nesting no metadata has, or text PostgreSQL cannot store.
    const problem = findUnstorableText(metadata);
    if (problem) throw new HttpError(400, 'invalid_client_metadata', describeTextProblem(problem, 'metadata'));
    const scope = (metadata as { scope?: unknown } | null)?.scope;
    if (typeof scope !== 'string' || scope.split(' ').every((value) => supported.has(value))) {
      replaceRequestBody(ctx, body);
      return;
    }
    const kept = scope.split(' ').filter((value) => supported.has(value)).join(' ');
    const narrowed = { ...(metadata as Record<string, unknown>), scope: kept || undefined };
    replaceRequestBody(ctx, Buffer.from(JSON.stringify(narrowed)));
  }
}
