// Request bodies for our own routes, read with a hard size cap so an oversized body is a clear 413 and never
// a memory problem. oidc-provider reads its own endpoints' bodies itself.
import type { Context } from 'koa';
import { maxBodyBytes } from '../config/defaults.ts';
import { HttpError, InvalidField } from './http-error.ts';

export async function readRawBody(ctx: Context, limit = maxBodyBytes): Promise<Buffer> {
  const declared = ctx.request.length;
  if (declared !== undefined && declared > limit) throw tooLarge(limit);
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

function tooLarge(limit: number): HttpError {
  return new HttpError(413, 'invalid_request', `the body is larger than ${limit} bytes`);
}
