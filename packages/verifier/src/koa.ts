// Koa middleware: verifies the request's access token and puts the result on `ctx.state.auth`; refusals are
// answered here with the exact challenge, other errors are thrown to the app's error handling.
import type { IncomingMessage } from 'node:http';
import { VerifierError } from './errors.ts';
import { defaultRequestUrl, nodeVerifierRequest, type MiddlewareOptions } from './node-request.ts';
import type { Verifier } from './verifier.ts';

/** The parts of a Koa context used, typed structurally so this module needs neither koa nor its types. */
export interface KoaContextLike {
  method: string;
  originalUrl: string;
  req: IncomingMessage;
  request: { body?: unknown; rawBody?: unknown };
  state: Record<string, unknown>;
  status: number;
  body: unknown;
  set(field: string, value: string): void;
}

/**
 * `router.post('/mcp', koaAuth(verifier, { scopes: ['mcp'] }), handler)`.
 *
 * The body is read only for a DPoP proof with `content_digest`, from `ctx.request.rawBody` when a body parser
 * mounted earlier kept it (koa-bodyparser and @koa/bodyparser do), else from the stream, leaving the bytes on
 * `ctx.request.rawBody` for what follows.
 */
export function koaAuth(verifier: Verifier, options: MiddlewareOptions = {}) {
  const needs = { scopes: options.scopes };
  return async (ctx: KoaContextLike, next: () => Promise<unknown>): Promise<void> => {
    const url = options.url?.(ctx.req) ?? defaultRequestUrl(ctx.originalUrl, verifier.resource);
    const request = nodeVerifierRequest(ctx.req, url, {
      captured: () => ctx.request.rawBody,
      parsed: () => ctx.request.body,
      keep: (bytes) => { ctx.request.rawBody = bytes; },
    }, options.maxBodyBytes);
    try {
      ctx.state.auth = await verifier.verify(request, needs);
    } catch (error) {
      if (!(error instanceof VerifierError)) throw error;
      const challenge = verifier.challenge(error, needs);
      ctx.status = challenge.status;
      for (const [name, value] of Object.entries(challenge.headers)) ctx.set(name, value);
      ctx.body = challenge.body;
      return;
    }
    await next();
  };
}
