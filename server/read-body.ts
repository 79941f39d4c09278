// Request bodies for our own routes, read with a hard size cap so an oversized body is a clear 413 and never
// a memory problem. oidc-provider reads its own endpoints' bodies itself.
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import type { Context } from 'koa';
import { maxBodyBytes } from '../config/defaults.ts';
import { HttpError, InvalidField } from './http-error.ts';

/** 413 for a body whose declared length is over the limit, before anything reads it. */
export function refuseDeclaredOversize(ctx: Context, limit = maxBodyBytes): void {
  const declared = ctx.request.length;
  if (declared !== undefined && declared > limit) throw tooLarge(limit);
}

export async function readRawBody(ctx: Context, limit = maxBodyBytes): Promise<Buffer> {
  refuseDeclaredOversize(ctx, limit);
  const chunks: Buffer[] = [];
  let received = 0;
  for await (const chunk of ctx.req) {
    received += (chunk as Buffer).length;
    if (received > limit) throw tooLarge(limit);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, received);
}

export async function readForm(ctx: Context): Promise<URLSearchParams> {
  if (!ctx.is('application/x-www-form-urlencoded')) {
    throw new HttpError(415, 'invalid_request', 'the body must be application/x-www-form-urlencoded');
  }
  return new URLSearchParams((await readRawBody(ctx)).toString('utf8'));
}

export async function readJson(ctx: Context): Promise<unknown> {
  if (!ctx.is('application/json')) {
    throw new HttpError(415, 'invalid_request', 'the body must be application/json');
  }
  const text = (await readRawBody(ctx)).toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    throw new InvalidField('body', 'is not valid JSON');
  }
}

/**
 * The whole request body, when it has already arrived and nothing has read from the stream yet, without consuming
 * it: the bytes are handed back with `unshift` (the stream API's way to un-read), so whoever reads the request
 * next still gets all of it. Undefined when the body is still arriving or was already read; then the caller
 * reads the stream the usual way.
 */
export function peekArrivedBody(req: IncomingMessage): Buffer | undefined {
  if (req.readableFlowing !== null || req.readableDidRead || req.readableLength === 0) return undefined;
  // With a Content-Length (never together with chunked encoding), that many bytes is the whole body.
  if (req.headers['transfer-encoding'] !== undefined || req.readableLength !== Number(req.headers['content-length'])) return undefined;
  const body = req.read() as Buffer | null;
  if (body === null) return undefined;
  req.unshift(body);
  return body;
}

function tooLarge(limit: number): HttpError {
  return new HttpError(413, 'invalid_request', `the body is larger than ${limit} bytes`);
}

/**
 * After a middleware of ours consumed the request stream (to look at a token or metadata in front of oidc-provider,
 * which reads bodies from the stream itself), hands on an equivalent request carrying `body` (possibly rewritten)
 * with a matching Content-Length.
 */
export function replaceRequestBody(ctx: Context, body: Buffer): void {
  const original = ctx.req;
  const headers = { ...original.headers, 'content-length': String(body.length) };
  delete headers['transfer-encoding'];
  const stream = new Readable({ read() {} });
  stream.push(body);
  stream.push(null);
  const replacement = Object.assign(stream, {
    headers,
    rawHeaders: original.rawHeaders,
    method: original.method,
    url: original.url,
    httpVersion: original.httpVersion,
    httpVersionMajor: original.httpVersionMajor,
    httpVersionMinor: original.httpVersionMinor,
    socket: original.socket,
    complete: true,
  }) as unknown as IncomingMessage;
  ctx.req = replacement;
  ctx.request.req = replacement;
  ctx.response.req = replacement;
}
