// JWT access tokens (RFC 9068) are self-contained, so oidc-provider never stores them and its introspection
// and revocation endpoints refuse them (`unsupported_token_type`). We keep a server-side record of each one in
// the same model storage as opaque tokens, which gives JWTs everything opaque tokens have: introspection
// (RFC 7662), revocation (RFC 7009), and removal with their grant.
//
// A record is stored under a keyed hash of the JWT's `jti`, never the `jti` itself: an opaque token is looked up
// by its value, so a record under the bare `jti` would make that identifier (which resource servers log freely)
// work as a bearer token. Only a verified JWT leads to its record.
import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import type { JWTPayload } from 'jose';
import type { Context, Next } from 'koa';
import { looksLikeCompactJws, type OwnTokenVerifier } from '../keys/own-token-verifier.ts';
import { peekArrivedBody, readRawBody, refuseDeclaredOversize, replaceRequestBody } from './read-body.ts';

interface StorableToken {
  jti: string;
  extra?: unknown;
  adapter: { upsert(id: string, payload: Record<string, unknown>, expiresIn: number): Promise<void> };
  constructor: { IN_PAYLOAD: string[] };
  [key: string]: unknown;
}

/** Where the record of a JWT access token lives: HMAC-SHA-256 of its `jti` under a key every instance shares. */
export class JwtRecordIds {
  // A KeyObject, not the Buffer: createHmac with a Buffer key costs ~9 µs per call to ~1 µs with a KeyObject.
  readonly #key: KeyObject;

  constructor(key: Buffer) {
    this.#key = createSecretKey(key);
  }

  of(jti: string): string {
    return `jwt.${createHmac('sha256', this.#key).update(jti).digest('base64url')}`;
  }

  /**
   * Called from oidc-provider's JWT format customizer, before the token is signed and handed out, so the record
   * exists before anyone can present the token. The record is what an opaque token of the same model would
   * store (its id being the record's own), so the provider's find/introspect/revoke logic applies unchanged.
   */
  async record(token: StorableToken, payload: JWTPayload): Promise<void> {
    const record: Record<string, unknown> = {};
    for (const key of token.constructor.IN_PAYLOAD) {
      if (token[key] !== undefined) record[key] = token[key];
    }
    const id = this.of(token.jti);
    Object.assign(record, { jti: id, iat: payload.iat, exp: payload.exp, extra: token.extra });
    const expiresIn = Math.max(1, (payload.exp ?? 0) - Math.floor(Date.now() / 1000));
    await token.adapter.upsert(id, record, expiresIn);
  }
}

// Presented in place of a JWT that is not ours (bad signature, expired, foreign issuer): it matches no record,
// so introspection answers `{"active": false}` and revocation answers 200, as RFC 7662 §2.2 and RFC 7009 §2.2
// require for invalid tokens.
const NO_SUCH_TOKEN = 'unrecognised-jwt';

const DOT = 0x2e;
const PERCENT = 0x25;

/**
 * Koa middleware in front of the introspection and revocation endpoints: when the presented token is a JWT,
 * verify it against our own keys and present its record's id to oidc-provider instead, which then finds it.
 */
export function jwtAccessTokenLookup(options: { verifier: OwnTokenVerifier; records: JwtRecordIds; paths: string[] }) {
  const paths = new Set(options.paths);

  return function lookUpJwtAccessTokens(ctx: Context, next: Next): Promise<void> {
    if (ctx.method !== 'POST' || !paths.has(ctx.path) || !ctx.is('application/x-www-form-urlencoded')) {
      return next();
    }
    return lookUp(ctx, next);
  };

  async function lookUp(ctx: Context, next: Next): Promise<void> {
    // This runs while Node is still parsing the request; a small form body has arrived once it yields.
    await Promise.resolve();
    // The same 413 whether or not the whole oversized body happens to have arrived by now.
    refuseDeclaredOversize(ctx);
    // A compact JWS always has two dots, written as '.' or percent-encoded; a form without either (an opaque
    // token, client_secret_basic) goes on untouched. Copying the stream into a new one costs more than the
    // introspection itself.
    const arrived = peekArrivedBody(ctx.req);
    if (arrived && !arrived.includes(DOT) && !arrived.includes(PERCENT)) return next();
    const body = await readRawBody(ctx);
    const params = new URLSearchParams(body.toString('utf8'));
    const tokens = params.getAll('token');
    if (tokens.length === 1 && looksLikeCompactJws(tokens[0])) {
      params.set('token', await recordIdOf(tokens[0]));
      replaceRequestBody(ctx, Buffer.from(params.toString()));
    } else {
      replaceRequestBody(ctx, body);
    }
    return next();
  }

  async function recordIdOf(jwt: string): Promise<string> {
    try {
      const payload = await options.verifier.verify(jwt, { typ: 'at+jwt' });
      return typeof payload.jti === 'string' && payload.jti ? options.records.of(payload.jti) : NO_SUCH_TOKEN;
    } catch {
      return NO_SUCH_TOKEN;
    }
  }
}
