// The admin API is for operators holding ADMIN_TOKEN. Compared in constant time so response timing reveals
// nothing about the token.
import type { Context, Next } from 'koa';
import { bearerToken, secretsEqual } from './bearer-token.ts';
import { HttpError } from './http-error.ts';

export function requireAdminToken(adminToken: string) {
  return async function checkAdminToken(ctx: Context, next: Next): Promise<void> {
    const token = bearerToken(ctx.get('authorization'));
    if (!token) {
      throw new HttpError(401, 'invalid_request', 'the admin API requires Authorization: Bearer <ADMIN_TOKEN>', {
        headers: { 'WWW-Authenticate': 'Bearer realm="admin"' },
      });
    }
    if (!secretsEqual(token, adminToken)) {
      throw new HttpError(401, 'invalid_token', 'the admin token is invalid', {
        headers: { 'WWW-Authenticate': 'Bearer realm="admin", error="invalid_token"' },
      });
    }
    return next();
  };
}
