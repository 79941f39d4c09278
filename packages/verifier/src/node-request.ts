// What the Koa, Express and node:http middlewares share: turning a Node request into a `VerifierRequest`, and
// reading its body only when a DPoP proof's `content_digest` needs it.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Challenge } from './challenge.ts';
import { InvalidRequest, RequestBodyUnavailable } from './errors.ts';
import type { VerifierRequest } from './verifier.ts';

export interface MiddlewareOptions {
  /** Scopes every request through this middleware needs. */
  scopes?: readonly string[];
  /**
   * The absolute URL the client addressed (compared with the DPoP `htu`). Default: the request path on the origin
   * of the verifier's `resource`, which is right behind a proxy too, as long as the path is not rewritten.
   */
  url?: (req: IncomingMessage) => string;
  /** Largest body read for a `content_digest` check (default 4 MiB); larger ones are refused. */
  maxBodyBytes?: number;
}

/** Where a body may already be, or be left, by whatever parsed the request before or after us. */
export interface BodyPlaces {
  /** Raw bytes captured earlier, e.g. by `express.json({ verify })` or koa-bodyparser's `rawBody`. */
  captured(): unknown;
  /** A body a parser has already produced (raw bytes or text are usable; a parsed object is not). */
  parsed(): unknown;
  /** Keeps the bytes we read, since the stream cannot be read twice. */
  keep(bytes: Buffer): void;
}

export function nodeVerifierRequest(req: IncomingMessage, url: string, places: BodyPlaces, maxBodyBytes = 4 * 1024 * 1024): VerifierRequest {
  return {
    method: req.method ?? 'GET',
    url,
    // headersDistinct keeps repeated Authorization / DPoP fields, which RFC 6750 and RFC 9449 refuse.
    headers: req.headersDistinct,
    body: async () => {
      const captured = places.captured();
      if (captured instanceof Uint8Array || typeof captured === 'string') return captured;
      const parsed = places.parsed();
      if (parsed instanceof Uint8Array || typeof parsed === 'string') return parsed;
      if (req.readableEnded || parsed !== undefined) {
        throw new RequestBodyUnavailable('the request body was consumed before its content_digest could be checked: capture the raw bytes (see the verifier README section)');
      }
      const bytes = await readBody(req, maxBodyBytes);
      places.keep(bytes);
      return bytes;
    },
  };
}

/** The default `url`: the path the client asked for, on the resource's origin. */
export function defaultRequestUrl(path: string, resource: string): string {
  return new URL(path, new URL(resource).origin).href;
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    const onData = (chunk: Buffer) => {
      length += chunk.length;
      chunks.push(chunk);
      if (length <= limit) return;
      // Stop keeping what follows but let it drain (not destroy the socket), so the refusal can still be sent.
      req.off('data', onData).off('end', onEnd).off('error', reject).resume();
      reject(new InvalidRequest(`request body is larger than ${limit} bytes; its content_digest is not checked`));
    };
    const onEnd = () => resolve(Buffer.concat(chunks));
    req.on('data', onData).once('end', onEnd).once('error', reject);
  });
}

export function sendChallenge(res: ServerResponse, challenge: Challenge): void {
  res.writeHead(challenge.status, challenge.headers).end(challenge.body);
}
