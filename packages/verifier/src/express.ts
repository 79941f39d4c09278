// Express middleware: verifies the request's access token and puts the result on `req.auth`, where the MCP SDK's
// Streamable HTTP transport also looks for it; refusals are answered here with the exact challenge.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { VerifierError } from './errors.ts';
import { defaultRequestUrl, nodeVerifierRequest, sendChallenge, type MiddlewareOptions } from './node-request.ts';
import type { VerifiedAccess, Verifier } from './verifier.ts';

/** The parts of an Express request used, typed structurally so this module needs neither express nor its types. */
export type ExpressRequestLike = IncomingMessage & { originalUrl?: string; body?: unknown; rawBody?: unknown; auth?: unknown };

/**
 * `app.post('/mcp', expressAuth(verifier, { scopes: ['mcp'] }), handler)`: `req.auth` is then the `VerifiedAccess`.
 * Errors that are not the client's (the authorization server unreachable) go to `next(error)`.
 *
 * The body is read only for a DPoP proof with `content_digest`. Its bytes are taken from `req.rawBody` (e.g.
 * `express.json({ verify: (req, _res, buf) => { req.rawBody = buf } })` before this middleware) or from a raw or
 * text `req.body`; failing those the stream is read and the bytes left on `req.rawBody` for what follows.
 */
export function expressAuth(verifier: Verifier, options: MiddlewareOptions = {}) {
  const needs = { scopes: options.scopes };
  return async (req: ExpressRequestLike, res: ServerResponse, next: (error?: unknown) => void): Promise<void> => {
    const url = options.url?.(req) ?? defaultRequestUrl(req.originalUrl ?? req.url ?? '/', verifier.resource);
    const request = nodeVerifierRequest(req, url, {
      captured: () => req.rawBody,
      parsed: () => req.body,
      keep: (bytes) => { req.rawBody = bytes; },
    }, options.maxBodyBytes);
    let access: VerifiedAccess;
    try {
      access = await verifier.verify(request, needs);
    } catch (error) {
      if (error instanceof VerifierError) sendChallenge(res, verifier.challenge(error, needs));
      else next(error);
      return;
    }
    req.auth = access;
    next();
  };
}
