// node:http: wraps a request listener so it runs only for requests with an acceptable access token, found on
// `req.auth` (where the MCP SDK's Node transport looks for it too).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AuthorizationServerUnavailable, VerifierError } from './errors.ts';
import { defaultRequestUrl, nodeVerifierRequest, sendChallenge, type MiddlewareOptions } from './node-request.ts';
import type { VerifiedAccess, Verifier } from './verifier.ts';

export type AuthenticatedRequest = IncomingMessage & {
  auth: VerifiedAccess;
  /** The body's bytes, when a `content_digest` check had to read the stream (which cannot be read again). */
  rawBody?: Buffer;
};

export interface WithAuthOptions extends MiddlewareOptions {
  /**
   * Called with errors that are not the client's (answered 503 when the authorization server is unavailable,
   * 500 otherwise). Default: `console.error`.
   */
  onError?: (error: unknown) => void;
}

/** `createServer(withAuth(verifier, (req, res) => ..., { scopes: ['mcp'] }))`. */
export function withAuth(
  verifier: Verifier,
  handler: (req: AuthenticatedRequest, res: ServerResponse) => unknown,
  options: WithAuthOptions = {},
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const needs = { scopes: options.scopes };
  const onError = options.onError ?? ((error: unknown) => console.error(error));
  return async (req, res) => {
    const authenticated = req as AuthenticatedRequest;
    const url = options.url?.(req) ?? defaultRequestUrl(req.url ?? '/', verifier.resource);
    const request = nodeVerifierRequest(req, url, {
      captured: () => authenticated.rawBody,
      parsed: () => undefined,
      keep: (bytes) => { authenticated.rawBody = bytes; },
    }, options.maxBodyBytes);
    try {
      authenticated.auth = await verifier.verify(request, needs);
    } catch (error) {
      if (error instanceof VerifierError) return sendChallenge(res, verifier.challenge(error, needs));
      onError(error);
      res.writeHead(error instanceof AuthorizationServerUnavailable ? 503 : 500).end();
      return;
    }
    await handler(authenticated, res);
  };
}
