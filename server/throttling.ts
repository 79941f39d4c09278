// The abuse limits at the HTTP edge: client authentication and requests at the token, introspection and
// revocation endpoints, and anonymous registration (the sign-in form applies its own in routes/interactions.ts).
// Over a limit the answer is 429 with Retry-After (RFC 6585 §4) and an OAuth error body.
import type { Context, Next } from 'koa';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { claimedClientId, needsBody } from './claimed-client.ts';
import { HttpError } from './http-error.ts';
import { peekArrivedBody, readRawBody, replaceRequestBody } from './read-body.ts';
import { isAdminRegistration } from './registration-access.ts';
import { retryAfterSeconds, type Throttles } from './throttles.ts';

/** 429 for `refusedMs` more milliseconds. */
export function tooManyRequests(refusedMs: number, description: string): HttpError {
  const seconds = retryAfterSeconds(refusedMs);
  return new HttpError(429, 'temporarily_unavailable', `${description}; retry after ${seconds} s`, {
    headers: { 'Retry-After': String(seconds), 'Cache-Control': 'no-store' },
  });
}

/**
 * In front of the endpoints where clients authenticate: a client_id (from anywhere, or from this address)
 * that failed authentication too often is refused before its credentials are checked again; failures are
 * counted after the provider answered `invalid_client`. An authenticated client over its request limit is
 * refused too. The failure count is taken after the fact, so a burst of concurrent wrong credentials can pass
 * the limit by the number in flight; client secrets and keys are not guessable the way passwords are, and
 * counting before every request would cost the hot path two more round trips.
 */
export function clientThrottling(throttles: Throttles) {
  return async function throttleClients(ctx: Context, next: Next): Promise<void> {
    if (ctx.method !== 'POST') return next();
    const authorization = ctx.get('authorization') || undefined;
    const claimed = claimedClientId(authorization, needsBody(authorization) ? await formOf(ctx) : undefined);
    if (claimed === undefined) return next();
    const guesser = { name: claimed, address: ctx.ip };
    const [authRefused, requestsRefused] = await Promise.all([
      throttles.clientAuth.refusedFor(guesser),
      throttles.clientRequests.refusedFor(claimed),
    ]);
    if (authRefused) throw tooManyRequests(authRefused, 'too many failed client authentications for this client');
    if (requestsRefused) throw tooManyRequests(requestsRefused, 'this client is over its request limit');
    // The provider loads the client before it checks the credentials, so a client is known here once it exists
    // and may authenticate; only an answer other than invalid_client means the credentials were good. A failure
    // counts only for such a client: an unknown client_id (or a suspended agent, which is one) has no secret to
    // guess, and counting it would hold an agent's retries while suspended against it once reactivated.
    const known = () => (ctx as unknown as KoaContextWithOIDC).oidc?.client?.clientId;
    try {
      await next();
    } catch (error) {
      // oidc-provider's errors reach its own renderer, outside ours, as exceptions.
      if ((error as { error?: unknown }).error === 'invalid_client' && known()) await throttles.clientAuth.attempt(guesser);
      throw error;
    }
    if ((ctx.body as { error?: unknown } | undefined)?.error === 'invalid_client') {
      if (known()) await throttles.clientAuth.attempt(guesser);
      return;
    }
    const authenticated = known();
    // Counted before the answer leaves, so the client's next request, at any instance, sees it.
    if (authenticated) await throttles.clientRequests.count(authenticated);
  };
}

/** RFC 7591 registration without the initial access token, per source address. */
export function registrationThrottling(throttles: Throttles, registrationPath: string) {
  return async function throttleRegistration(ctx: Context, next: Next): Promise<void> {
    if (ctx.method === 'POST' && ctx.path === registrationPath && !isAdminRegistration(ctx as unknown as KoaContextWithOIDC)) {
      const refused = await throttles.registration.count(ctx.ip);
      if (refused) throw tooManyRequests(refused, 'too many client registrations from this address');
    }
    return next();
  };
}

/** The form body, when it may name the client; the stream is left for the provider either way. */
async function formOf(ctx: Context): Promise<URLSearchParams | undefined> {
  if (!ctx.is('application/x-www-form-urlencoded')) return undefined;
  // A small body has arrived once the request's head was parsed and this middleware yields once.
  await Promise.resolve();
  const arrived = peekArrivedBody(ctx.req);
  if (arrived) return new URLSearchParams(arrived.toString('utf8'));
  // Oversized: 413 here, as the provider would answer.
  const body = await readRawBody(ctx);
  replaceRequestBody(ctx, body);
  return new URLSearchParams(body.toString('utf8'));
}
