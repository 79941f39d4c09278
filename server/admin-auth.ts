// A bearer token the caller must hold: ADMIN_TOKEN for the admin API (server/admin-scope.ts, which also takes an
// organization's credentials), METRICS_TOKEN for /metrics when set. Compared in constant time so response timing
// reveals nothing about the token.
import type { Context, Next } from 'koa';
import { bearerToken, secretsEqual } from './bearer-token.ts';
import { HttpError } from './http-error.ts';

export interface BearerRequirement {
  token: string;
  /** RFC 6750 §3 realm of the challenge. */
  realm: string;
  /** The variable holding the token, named in the error description. */
  name: string;
  /** What the token protects, named in the error description. */
  what: string;
}

export function requireBearerToken({ token: expected, realm, name, what }: BearerRequirement) {
  return async function checkBearerToken(ctx: Context, next: Next): Promise<void> {
    const token = bearerToken(ctx.get('authorization'));
    if (!token) {
      throw new HttpError(401, 'invalid_request', `${what} requires Authorization: Bearer <${name}>`, {
        headers: { 'WWW-Authenticate': `Bearer realm="${realm}"` },
      });
    }
    if (!secretsEqual(token, expected)) {
      throw new HttpError(401, 'invalid_token', `the ${realm} token is invalid`, {
        headers: { 'WWW-Authenticate': `Bearer realm="${realm}", error="invalid_token"` },
      });
    }
    return next();
  };
}
