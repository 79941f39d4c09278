// createVerifier against a real agentauth server: real JWT and opaque tokens, DPoP-bound tokens, delegated
// tokens with act chains, and for every refusal the status and the exact WWW-Authenticate header.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import * as oidc from 'openid-client';
import { SignJWT, calculateJwkThumbprint, exportJWK } from 'jose';
import { generateKeyPair, generateProof, type KeyPair } from 'dpop';
import { Redis } from 'ioredis';
import {
  InsufficientScope, InvalidDpopProof, InvalidRequest, InvalidToken, MissingToken, RedisReplayStore, VerifierError,
  createVerifier, type Needs, type Verifier, type VerifierOptions, type VerifierRequest,
} from '../../packages/verifier/src/index.ts';
import { connectTestRedis, dropRedisPrefix, uniqueRedisPrefix } from '../support/services.ts';
import { dpopKeyPair, startAuthorizationServer, type Agent, type AuthorizationServer } from './authorization-server.ts';

const FILES = 'https://files.example.test/';
const DOCS = 'https://docs.example.test/';
const OTHER = 'https://other.example.test/';
const SHORT = 'https://short.example.test/';
const METADATA = 'https://files.example.test/.well-known/oauth-protected-resource';
const URL_ = 'https://files.example.test/reports?page=2';
const HTU = 'https://files.example.test/reports';
const ALGS = 'algs="ES256 EdDSA Ed25519 PS256 RS256"';

describe('createVerifier against a real authorization server', () => {
  let as: AuthorizationServer;
  let verifier: Verifier;
  let agent: Agent;
  let bearer: string;
  let key: KeyPair;
  let bound: string;

  beforeAll(async () => {
    as = await startAuthorizationServer('verifier', [
      { identifier: FILES, scopes: ['files:read', 'files:write'], token_format: 'jwt' },
      { identifier: DOCS, scopes: ['files:read'], token_format: 'opaque' },
      { identifier: OTHER, scopes: ['files:read'], token_format: 'jwt' },
      { identifier: SHORT, scopes: ['files:read'], token_format: 'jwt', access_token_ttl: 1 },
    ]);
    verifier = make();
    agent = await as.agent('reader');
    bearer = await as.token(agent, { scope: 'files:read', resource: FILES });
    key = await dpopKeyPair();
    bound = await as.token(agent, { scope: 'files:read', resource: FILES }, key);
  });
  afterAll(() => as?.stop());

  /** A verifier for FILES that knows only the issuer: keys and introspection endpoint come from discovery. */
  function make(options: Partial<VerifierOptions> = {}): Verifier {
    return createVerifier({
      issuer: as.issuer, resource: FILES, resourceMetadataUrl: METADATA, introspection: as.resourceServerClient, ...options,
    });
  }

  function request(authorization: string | undefined, extra: Partial<VerifierRequest> & { dpop?: string } = {}): VerifierRequest {
    const { dpop, ...rest } = extra;
    return {
      method: 'GET', url: URL_,
      headers: { ...(authorization ? { authorization } : {}), ...(dpop ? { dpop } : {}) },
      ...rest,
    };
  }

  /** The refusal of `promise`, as the HTTP answer the verifier would give. */
  async function refusal(promise: Promise<unknown>, needs?: Needs, using = verifier) {
    const error = await promise.then(() => undefined, (caught: unknown) => caught);
    expect(error, 'the request should have been refused').toBeInstanceOf(VerifierError);
    const challenge = using.challenge(error as VerifierError, needs);
    return { error, status: challenge.status, header: challenge.headers['WWW-Authenticate'], body: challenge.body };
  }

  const digest = (body: string) => `sha-256=:${createHash('sha256').update(body).digest('base64')}:`;

  describe('accepts', () => {
    it('a JWT access token for this resource, keys found through RFC 8414 discovery', async () => {
      const access = await verifier.verify(request(`Bearer ${bearer}`), { scopes: ['files:read'] });
      expect(access).toMatchObject({
        token: bearer, scheme: 'Bearer', clientId: agent.id, scopes: ['files:read'], resource: new URL(FILES),
        claims: { sub: agent.id, client_id: agent.id, aud: [FILES], scope: ['files:read'], iss: as.issuer },
        extra: { sub: agent.id },
      });
      expect(access.dpopJkt).toBeUndefined();
      expect(access.expiresAt).toBeGreaterThan(Date.now() / 1000);
    });

    it('an opaque token through introspection, and caches the answer', async () => {
      const opaque = await as.token(agent, { scope: 'files:read', resource: DOCS });
      expect(opaque.split('.')).toHaveLength(1);
      const docs = make({ resource: DOCS });
      expect(await docs.verify(request(`Bearer ${opaque}`))).toMatchObject({ clientId: agent.id, claims: { aud: [DOCS], sub: agent.id } });
      // Revoked at the authorization server: still accepted from the cache (up to cacheSeconds)...
      await oidc.tokenRevocation(agent.config, opaque);
      await docs.verify(request(`Bearer ${opaque}`));
      // ...while a verifier without a cache sees the revocation at once.
      const uncached = make({ resource: DOCS, introspection: { ...as.resourceServerClient, cacheSeconds: 0 } });
      expect((await refusal(uncached.verify(request(`Bearer ${opaque}`)), undefined, uncached)).header).toBe(
        `Bearer error="invalid_token", error_description="access token is not active", resource_metadata="${METADATA}", DPoP resource_metadata="${METADATA}", ${ALGS}`,
      );
    });

    it('caches an inactive answer briefly too', async () => {
      const calls = vi.spyOn(globalThis, 'fetch');
      try {
        const docs = make({ resource: DOCS });
        for (let i = 0; i < 3; i += 1) await refusal(docs.verify(request('Bearer not-a-real-token')), undefined, docs);
        const introspections = calls.mock.calls.filter(([url]) => String(url).endsWith('/token/introspection'));
        expect(introspections).toHaveLength(1);
      } finally {
        calls.mockRestore();
      }
    });

    it('a DPoP-bound token with a proof for this request', async () => {
      const proof = await generateProof(key, HTU, 'GET', undefined, bound);
      const access = await verifier.verify(request(`DPoP ${bound}`, { dpop: proof }), { scopes: ['files:read'] });
      expect(access.scheme).toBe('DPoP');
      expect(access.dpopJkt).toBe(await calculateJwkThumbprint(await exportJWK(key.publicKey)));
      expect(access.claims.cnf).toEqual({ jkt: access.dpopJkt });
    });

    it('a proof whose content_digest matches the body, given as a function read only then', async () => {
      const body = '{"jsonrpc":"2.0","id":1,"method":"tools/list"}';
      const proof = await generateProof(key, HTU, 'POST', undefined, bound, { content_digest: digest(body) });
      let reads = 0;
      await verifier.verify(request(`DPoP ${bound}`, { method: 'POST', dpop: proof, body: async () => { reads += 1; return body; } }));
      expect(reads).toBe(1);
      // Without content_digest the body is never read.
      const plain = await generateProof(key, HTU, 'POST', undefined, bound);
      await verifier.verify(request(`DPoP ${bound}`, { method: 'POST', dpop: plain, body: async () => { reads += 1; return body; } }));
      expect(reads).toBe(1);
    });
  });

  describe('refuses', () => {
    it('a request without a token: 401, challenges without error information (RFC 6750 §3.1)', async () => {
      const { status, header, body } = await refusal(verifier.verify(request(undefined)), { scopes: ['files:read'] });
      expect(status).toBe(401);
      expect(header).toBe(`Bearer scope="files:read", resource_metadata="${METADATA}", DPoP scope="files:read", resource_metadata="${METADATA}", ${ALGS}`);
      expect(body).toBe('');
      // An unsupported scheme counts as no credentials.
      expect((await refusal(verifier.verify(request('Basic dXNlcjpwYXNz')))).error).toBeInstanceOf(MissingToken);
    });

    it('a token for another resource: 401 invalid_token', async () => {
      const other = await as.token(agent, { scope: 'files:read', resource: OTHER });
      const { error, status, header, body } = await refusal(verifier.verify(request(`Bearer ${other}`)), { scopes: ['files:read'] });
      expect(error).toBeInstanceOf(InvalidToken);
      expect(status).toBe(401);
      expect(header).toBe(
        `Bearer error="invalid_token", error_description="access token is not for this resource", scope="files:read", resource_metadata="${METADATA}", `
        + `DPoP scope="files:read", resource_metadata="${METADATA}", ${ALGS}`,
      );
      expect(JSON.parse(body)).toEqual({ error: 'invalid_token', error_description: 'access token is not for this resource' });
      // An opaque token without an audience is not for this resource either: the authorization server tells a
      // resource server nothing about a token not meant for it (RFC 7662 §4), so it is simply not active here.
      // (A request naming a scope gets the resource that scope refers to; one naming none gets no audience.)
      const unaudienced = await as.token(agent, {});
      expect((await refusal(make({ resource: DOCS }).verify(request(`Bearer ${unaudienced}`)))).header).toContain('error_description="access token is not active"');
    });

    it('an expired token: 401 invalid_token', async () => {
      const short = await as.token(agent, { scope: 'files:read', resource: SHORT });
      const strict = make({ resource: SHORT, clockTolerance: 0 });
      await strict.verify(request(`Bearer ${short}`));
      const { exp } = JSON.parse(Buffer.from(short.split('.')[1], 'base64url').toString()) as { exp: number };
      await new Promise((resolve) => setTimeout(resolve, exp * 1000 - Date.now() + 50));
      const { status, header } = await refusal(strict.verify(request(`Bearer ${short}`)), undefined, strict);
      expect(status).toBe(401);
      expect(header).toBe(`Bearer error="invalid_token", error_description="access token expired", resource_metadata="${METADATA}", DPoP resource_metadata="${METADATA}", ${ALGS}`);
    });

    it('a DPoP-bound token sent as Bearer (RFC 9449 §7.2): 401 invalid_token on the Bearer challenge', async () => {
      const { status, header } = await refusal(verifier.verify(request(`Bearer ${bound}`, { dpop: await generateProof(key, HTU, 'GET', undefined, bound) })));
      expect(status).toBe(401);
      expect(header).toBe(
        `Bearer error="invalid_token", error_description="DPoP-bound access token presented with the Bearer scheme", resource_metadata="${METADATA}", `
        + `DPoP resource_metadata="${METADATA}", ${ALGS}`,
      );
    });

    it('an unbound token sent with the DPoP scheme', async () => {
      const { header } = await refusal(verifier.verify(request(`DPoP ${bearer}`, { dpop: await generateProof(key, HTU, 'GET', undefined, bearer) })));
      expect(header).toBe(
        `Bearer resource_metadata="${METADATA}", DPoP error="invalid_token", error_description="access token is not DPoP-bound; present it with the Bearer scheme", `
        + `resource_metadata="${METADATA}", ${ALGS}`,
      );
    });

    /** The DPoP challenge a proof problem produces. */
    const proofRefused = (description: string) =>
      `Bearer resource_metadata="${METADATA}", DPoP error="invalid_dpop_proof", error_description="${description}", resource_metadata="${METADATA}", ${ALGS}`;

    it('a proof for another URL or another method: 401 invalid_dpop_proof', async () => {
      const otherUrl = await refusal(verifier.verify(request(`DPoP ${bound}`, { dpop: await generateProof(key, 'https://files.example.test/other', 'GET', undefined, bound) })));
      expect(otherUrl.error).toBeInstanceOf(InvalidDpopProof);
      expect(otherUrl.status).toBe(401);
      expect(otherUrl.header).toBe(proofRefused('DPoP proof htu does not match the request URL'));
      const otherMethod = await refusal(verifier.verify(request(`DPoP ${bound}`, { dpop: await generateProof(key, HTU, 'POST', undefined, bound) })));
      expect(otherMethod.status).toBe(401);
      expect(otherMethod.header).toBe(proofRefused('DPoP proof htm does not match the request method'));
    });

    it('compares htu after RFC 3986 normalization, ignoring query and fragment', async () => {
      const proof = await generateProof(key, 'HTTPS://Files.Example.Test:443/%72eports', 'GET', undefined, bound);
      await verifier.verify(request(`DPoP ${bound}`, { dpop: proof, url: 'https://files.example.test/reports?x=1#y' }));
    });

    it('a replayed proof: 401 invalid_dpop_proof (in-memory store)', async () => {
      const proof = await generateProof(key, HTU, 'GET', undefined, bound);
      await verifier.verify(request(`DPoP ${bound}`, { dpop: proof }));
      const { status, header } = await refusal(verifier.verify(request(`DPoP ${bound}`, { dpop: proof })));
      expect(status).toBe(401);
      expect(header).toBe(proofRefused('DPoP proof has already been used'));
    });

    it('a proof replayed at another instance sharing the Redis store', async () => {
      const redis = connectTestRedis();
      const prefix = uniqueRedisPrefix('verifier-replay');
      try {
        const [one, two] = [0, 1].map(() => make({ dpop: { replayStore: new RedisReplayStore(redis, { prefix }) } }));
        const proof = await generateProof(key, HTU, 'GET', undefined, bound);
        await one.verify(request(`DPoP ${bound}`, { dpop: proof }));
        const { status, header } = await refusal(two.verify(request(`DPoP ${bound}`, { dpop: proof })), undefined, two);
        expect(status).toBe(401);
        expect(header).toBe(proofRefused('DPoP proof has already been used'));
        // Remembered only while the proof's iat is inside the window (300 s either way).
        const [stored] = await redis.keys(`${prefix}*`);
        expect(await redis.ttl(stored)).toBeGreaterThan(290);
        expect(await redis.ttl(stored)).toBeLessThanOrEqual(301);
      } finally {
        await dropRedisPrefix(redis, prefix);
        await redis.quit();
      }
    });

    it('a proof with a wrong ath: 401 invalid_dpop_proof', async () => {
      const { status, header } = await refusal(verifier.verify(request(`DPoP ${bound}`, { dpop: await generateProof(key, HTU, 'GET', undefined, bearer) })));
      expect(status).toBe(401);
      expect(header).toBe(proofRefused('DPoP proof ath does not match the access token'));
    });

    it('a proof by another key: 401 invalid_token (RFC 9449 §7.1\'s own example)', async () => {
      const { header } = await refusal(verifier.verify(request(`DPoP ${bound}`, { dpop: await generateProof(await dpopKeyPair(), HTU, 'GET', undefined, bound) })));
      expect(header).toBe(
        `Bearer resource_metadata="${METADATA}", DPoP error="invalid_token", error_description="DPoP key binding does not match the access token", resource_metadata="${METADATA}", ${ALGS}`,
      );
    });

    it('a content_digest that does not match the body: 401 invalid_dpop_proof', async () => {
      const proof = await generateProof(key, HTU, 'POST', undefined, bound, { content_digest: digest('{"method":"tools/list"}') });
      const { status, header } = await refusal(verifier.verify(request(`DPoP ${bound}`, { method: 'POST', dpop: proof, body: '{"method":"tools/call"}' })));
      expect(status).toBe(401);
      expect(header).toBe(proofRefused('DPoP proof content_digest does not match the request body'));
    });

    it('a proof without content_digest where the resource requires it', async () => {
      const strict = make({ dpop: { requireContentDigest: true } });
      const proof = await generateProof(key, HTU, 'POST', undefined, bound);
      expect((await refusal(strict.verify(request(`DPoP ${bound}`, { method: 'POST', dpop: proof, body: '{}' })), undefined, strict)).header)
        .toBe(proofRefused('DPoP proof has no content_digest (required by this resource)'));
    });

    describe('proofs the dpop package would not make', () => {
      /** A proof signed by `key` with exactly these claims and header members. */
      async function craft(claims: Record<string, unknown>, header: Record<string, unknown> = {}, signingKey = key): Promise<string> {
        const jwk = await exportJWK(signingKey.publicKey);
        return new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk, ...header }).sign(signingKey.privateKey);
      }
      const ath = (token: string) => createHash('sha256').update(token).digest('base64url');
      const now = () => Math.floor(Date.now() / 1000);
      const base = () => ({ jti: crypto.randomUUID(), htm: 'GET', htu: HTU, iat: now(), ath: ath(bound) });

      it('a stale iat', async () => {
        const { header } = await refusal(verifier.verify(request(`DPoP ${bound}`, { dpop: await craft({ ...base(), iat: now() - 301 }) })));
        expect(header).toBe(proofRefused('DPoP proof iat is outside the accepted window'));
      });

      it('a typ other than dpop+jwt, a private key in jwk, two DPoP headers, no proof', async () => {
        expect((await refusal(verifier.verify(request(`DPoP ${bound}`, { dpop: await craft(base(), { typ: 'JWT' }) })))).header)
          .toBe(proofRefused('DPoP proof typ must be dpop+jwt'));
        const exportable = await generateKeyPair('ES256', { extractable: true });
        const privateJwk = await exportJWK(exportable.privateKey);
        const withPrivateJwk = await craft(base(), { jwk: privateJwk }, exportable);
        expect((await refusal(verifier.verify(request(`DPoP ${bound}`, { dpop: withPrivateJwk })))).header)
          .toBe(proofRefused('malformed DPoP proof'));
        const proof = await craft(base());
        const twice = await refusal(verifier.verify({ method: 'GET', url: URL_, headers: { authorization: [`DPoP ${bound}`], dpop: [proof, proof] } }));
        expect(twice.header).toBe(proofRefused('more than one DPoP header'));
        expect((await refusal(verifier.verify(request(`DPoP ${bound}`)))).header)
          .toBe(proofRefused('DPoP proof missing: the DPoP scheme needs a DPoP header'));
      });
    });

    it('two Authorization headers: 400 invalid_request on both challenges', async () => {
      const { error, status, header } = await refusal(verifier.verify({ method: 'GET', url: URL_, headers: { authorization: [`Bearer ${bearer}`, `DPoP ${bearer}`] } }));
      expect(error).toBeInstanceOf(InvalidRequest);
      expect(status).toBe(400);
      expect(header).toBe(
        `Bearer error="invalid_request", error_description="more than one Authorization header", resource_metadata="${METADATA}", `
        + `DPoP error="invalid_request", error_description="more than one Authorization header", resource_metadata="${METADATA}", ${ALGS}`,
      );
    });

    it('insufficient scope: 403 insufficient_scope naming every scope the request needs', async () => {
      const needs = { scopes: ['files:read', 'files:write'] };
      const { error, status, header } = await refusal(verifier.verify(request(`Bearer ${bearer}`), needs), needs);
      expect(error).toBeInstanceOf(InsufficientScope);
      expect(status).toBe(403);
      expect(header).toBe(
        `Bearer error="insufficient_scope", error_description="access token lacks a scope this request needs", scope="files:read files:write", resource_metadata="${METADATA}", `
        + `DPoP scope="files:read files:write", resource_metadata="${METADATA}", ${ALGS}`,
      );
      // The error carries the scopes, so a challenge built without `needs` says the same.
      expect(verifier.challenge(error as InsufficientScope).headers['WWW-Authenticate']).toBe(header);
    });

    it('a Bearer token where the resource requires DPoP: only the DPoP challenge, carrying the error', async () => {
      const dpopOnly = make({ dpop: { required: true } });
      const { status, header } = await refusal(dpopOnly.verify(request(`Bearer ${bearer}`)), undefined, dpopOnly);
      expect(status).toBe(401);
      expect(header).toBe(`DPoP error="invalid_token", error_description="this resource accepts only DPoP-bound access tokens", resource_metadata="${METADATA}", ${ALGS}`);
      await dpopOnly.verify(request(`DPoP ${bound}`, { dpop: await generateProof(key, HTU, 'GET', undefined, bound) }));
    });
  });

  describe('delegation policy on act chains', () => {
    let chain: { one: string; two: string; three: string; agents: Agent[]; root: Agent };

    beforeAll(async () => {
      const root = await as.agent('root');
      const agents = await Promise.all(['A', 'B', 'C'].map((name) => as.agent(name)));
      const own = await as.token(root, { scope: 'files:read', resource: FILES });
      const one = await as.exchange(agents[0], own, FILES);
      const two = await as.exchange(agents[1], one, FILES);
      const three = await as.exchange(agents[2], two, FILES);
      chain = { one, two, three, agents, root };
    });

    it('gives handlers the whole chain, current actor outermost', async () => {
      const access = await verifier.verify(request(`Bearer ${chain.three}`));
      const [a, b, c] = chain.agents.map((each) => each.id);
      expect(access.claims.act).toEqual({ sub: c, act: { sub: b, act: { sub: a } } });
      expect(access.extra).toMatchObject({ sub: chain.root.id, act: access.claims.act });
    });

    it('a chain deeper than allowed: 401 invalid_token', async () => {
      const shallow = make({ delegation: { maxDepth: 2 } });
      await shallow.verify(request(`Bearer ${chain.two}`));
      const { error, status, header } = await refusal(shallow.verify(request(`Bearer ${chain.three}`)), undefined, shallow);
      expect(error).toBeInstanceOf(InvalidToken);
      expect(status).toBe(401);
      expect(header).toBe(
        `Bearer error="invalid_token", error_description="delegation chain has 3 actors; this resource accepts at most 2", resource_metadata="${METADATA}", `
        + `DPoP resource_metadata="${METADATA}", ${ALGS}`,
      );
    });

    it('allowed actors: only the current actor counts, prior actors are informational (RFC 8693 §4.1)', async () => {
      const [a, b] = chain.agents.map((each) => each.id);
      const onlyB = make({ delegation: { allowedActors: [b] } });
      await onlyB.verify(request(`Bearer ${chain.two}`));
      // B is in the three-hop chain too, but C is acting.
      expect((await refusal(onlyB.verify(request(`Bearer ${chain.three}`)), undefined, onlyB)).header)
        .toContain('error_description="the acting party of this delegated token is not allowed at this resource"');
      expect((await refusal(make({ delegation: { allowedActors: [a] } }).verify(request(`Bearer ${chain.two}`)))).status).toBe(401);
    });

    it('human root: the predicate on sub refuses a chain rooted in an agent', async () => {
      const people = make({ delegation: { humanRoot: (sub) => sub !== chain.root.id } });
      const { status, header } = await refusal(people.verify(request(`Bearer ${chain.one}`)), undefined, people);
      expect(status).toBe(401);
      expect(header).toContain('error_description="this resource accepts only tokens on behalf of a person"');
    });
  });
});
