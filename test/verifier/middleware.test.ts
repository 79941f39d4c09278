// The Koa, Express and node:http middlewares in front of real servers on loopback, with real tokens: the exact
// challenge for a request without a token, a DPoP-bound request whose proof carries content_digest (the body
// read only then, and still available to the handler), and a body that does not match its digest.
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import Koa from 'koa';
import express from 'express';
import { generateProof, type KeyPair } from 'dpop';
import { createVerifier, expressAuth, koaAuth, withAuth, type VerifiedAccess, type Verifier } from '../../packages/verifier/src/index.ts';
import { dpopKeyPair, startAuthorizationServer, type AuthorizationServer } from './authorization-server.ts';

const RESOURCE = 'https://mcp.example.test/mcp';
const METADATA = 'https://mcp.example.test/.well-known/oauth-protected-resource/mcp';
const ALGS = 'algs="ES256 EdDSA Ed25519 PS256 RS256"';
const BODY = '{"jsonrpc":"2.0","id":1,"method":"tools/list"}';

/** What every test handler answers: who was let in, and the body as the handler can still see it. */
function echo(auth: VerifiedAccess, body: unknown) {
  return JSON.stringify({ sub: auth.extra.sub, dpopJkt: auth.dpopJkt ?? null, body: Buffer.isBuffer(body) ? body.toString() : body ?? null });
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('middleware', () => {
  let as: AuthorizationServer;
  let verifier: Verifier;
  let key: KeyPair;
  let token: string;
  let sub: string;
  const servers: Server[] = [];
  const bases: Record<string, string> = {};

  beforeAll(async () => {
    as = await startAuthorizationServer('verifier-middleware', [{ identifier: RESOURCE, scopes: ['files:read'], token_format: 'jwt' }]);
    verifier = createVerifier({ issuer: as.issuer, resource: RESOURCE, resourceMetadataUrl: METADATA });
    const agent = await as.agent('caller');
    sub = agent.id;
    key = await dpopKeyPair();
    token = await as.token(agent, { scope: 'files:read', resource: RESOURCE }, key);

    const koa = new Koa();
    koa.use(koaAuth(verifier, { scopes: ['files:read'] }));
    koa.use((ctx) => { ctx.body = echo(ctx.state.auth as VerifiedAccess, (ctx.request as { rawBody?: unknown }).rawBody); });

    const app = express();
    // Raw bytes captured by the JSON parser's verify hook: the handler keeps its parsed body.
    const captureRawBody = express.json({ verify: (req, _res, buf) => { (req as IncomingMessage & { rawBody?: Buffer }).rawBody = buf; } });
    app.post('/mcp', captureRawBody, expressAuth(verifier, { scopes: ['files:read'] }), (req, res) => {
      res.type('json').send(echo(req.auth as VerifiedAccess, req.body));
    });
    // No parser at all: the middleware reads the stream and leaves the bytes on req.rawBody.
    app.post('/unparsed', expressAuth(verifier, { scopes: ['files:read'] }), (req, res) => {
      res.type('json').send(echo(req.auth as VerifiedAccess, (req as { rawBody?: Buffer }).rawBody));
    });
    // A parser that keeps only its parse: the digest cannot be checked, and the request must not get through.
    app.post('/parsed', express.json(), expressAuth(verifier), (_req, res) => { res.send('should not get here'); });
    app.use((error: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => { res.status(500).send(error.name); });

    const node = withAuth(verifier, (req, res) => { res.end(echo(req.auth, req.rawBody)); }, { scopes: ['files:read'] });

    for (const [name, server] of [['koa', createServer(koa.callback())], ['express', createServer(app)], ['node:http', createServer(node)]] as const) {
      servers.push(server);
      bases[name] = await listen(server);
    }
  });
  afterAll(async () => {
    for (const server of servers) server.close();
    await as?.stop();
  });

  const digest = (body: string) => `sha-256=:${createHash('sha256').update(body).digest('base64')}:`;

  /** A POST of `body` to `path`, with a DPoP proof over `proofBody` when given. */
  async function post(base: string, path: string, body: string, proofBody?: string): Promise<Response> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (proofBody !== undefined) {
      headers.authorization = `DPoP ${token}`;
      headers.dpop = await generateProof(key, `https://mcp.example.test${path}`, 'POST', undefined, token, { content_digest: digest(proofBody) });
    }
    return fetch(`${base}${path}`, { method: 'POST', headers, body });
  }

  describe.each(['koa', 'express', 'node:http'])('%s', (name) => {
    it('answers a request without a token with 401 and the exact challenge', async () => {
      const response = await post(bases[name], '/mcp', BODY);
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toBe(
        `Bearer scope="files:read", resource_metadata="${METADATA}", DPoP scope="files:read", resource_metadata="${METADATA}", ${ALGS}`,
      );
      expect(await response.text()).toBe('');
    });

    it('lets a DPoP-bound request with a matching content_digest through, body intact', async () => {
      const response = await post(bases[name], '/mcp', BODY, BODY);
      expect(response.status, await response.clone().text()).toBe(200);
      const seen = await response.json() as { sub: string; dpopJkt: string; body: unknown };
      expect(seen).toMatchObject({ sub, dpopJkt: expect.any(String) });
      expect(seen.body).toEqual(name === 'express' ? JSON.parse(BODY) : BODY);
    });

    it('refuses a body that does not match the proof\'s content_digest', async () => {
      const response = await post(bases[name], '/mcp', '{"jsonrpc":"2.0","id":1,"method":"tools/call"}', BODY);
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toBe(
        `Bearer scope="files:read", resource_metadata="${METADATA}", DPoP error="invalid_dpop_proof", error_description="DPoP proof content_digest does not match the request body", `
        + `scope="files:read", resource_metadata="${METADATA}", ${ALGS}`,
      );
      expect(await response.json()).toEqual({ error: 'invalid_dpop_proof', error_description: 'DPoP proof content_digest does not match the request body' });
    });
  });

  describe('express body handling', () => {
    it('reads the stream itself when nothing parsed it, leaving the bytes on req.rawBody', async () => {
      const response = await post(bases.express, '/unparsed', BODY, BODY);
      expect(response.status).toBe(200);
      expect(((await response.json()) as { body: string }).body).toBe(BODY);
    });

    it('fails closed (500, not 200) when a parser consumed the bytes the digest covers', async () => {
      const response = await post(bases.express, '/parsed', BODY, BODY);
      expect(response.status).toBe(500);
      expect(await response.text()).toBe('RequestBodyUnavailable');
    });
  });

  it('node:http answers 503 when the authorization server cannot be reached, and reports the error', async () => {
    const onError = vi.fn();
    // Nothing listens on port 1 of loopback: discovery fails.
    const unreachable = createVerifier({ issuer: 'http://127.0.0.1:1', resource: RESOURCE, resourceMetadataUrl: METADATA, timeoutMs: 2_000 });
    const server = createServer(withAuth(unreachable, (_req, res) => { res.end('should not get here'); }, { onError }));
    const base = await listen(server);
    try {
      const response = await fetch(`${base}/mcp`, { headers: { authorization: `Bearer ${await as.token(await as.agent('x'), { scope: 'files:read', resource: RESOURCE })}` } });
      expect(response.status).toBe(503);
      expect(onError).toHaveBeenCalledOnce();
      expect(onError.mock.calls[0][0]).toMatchObject({ name: 'AuthorizationServerUnavailable' });
    } finally {
      server.close();
    }
  });
});
