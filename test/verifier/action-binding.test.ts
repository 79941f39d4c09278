// verifyAction (packages/verifier/src/action-binding.ts, verifier.ts): an action-bound token authorizes exactly
// the approved request and is spent by its first use, in memory and across instances through Redis; the pure
// matching and RFC 8785 canonicalization apart from HTTP. Tokens are signed here against a loopback JWKS.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKeyPair as generateDpopKeyPair, generateProof, type KeyPair } from 'dpop';
import { SignJWT, calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  InsufficientScope, InvalidRequest, InvalidToken, MemoryReplayStore, RedisReplayStore, actionBodyDigest, canonicalJson, createVerifier, mcpToolCall,
  type ReplayStore,
} from '../../packages/verifier/src/index.ts';
import { boundActions, checkActionRequest, type AgentActionDetail } from '../../packages/verifier/src/action-binding.ts';
import { connectTestRedis, dropRedisPrefix, uniqueRedisPrefix } from '../support/services.ts';

const ISSUER = 'https://as.example.test';
const RESOURCE = 'https://mcp.example.test/mcp';
const ARGS = { invoice: '4711', amount: '1200.00', creditor: 'ACME' };
const detail = (args: Record<string, unknown> = ARGS): AgentActionDetail => ({
  type: 'agent_action', action: 'pay_invoice', parameters: args,
  request: { method: 'POST', url: RESOURCE, body_digest: actionBodyDigest(mcpToolCall('pay_invoice', args).body) },
});

describe('canonicalJson (RFC 8785)', () => {
  it('sorts members by UTF-16 code units at every level and serializes like ECMAScript', () => {
    expect(canonicalJson({ b: [1e21, 0.1, -0], a: { 'é': 1, z: true, A: null } })).toBe('{"a":{"A":null,"z":true,"é":1},"b":[1e+21,0.1,0]}');
    expect(canonicalJson({ x: 1, y: 2 })).toBe(canonicalJson({ y: 2, x: 1 }));
  });
  it('refuses what JSON cannot carry', () => {
    expect(() => canonicalJson({ n: Number.NaN })).toThrow(TypeError);
    let deep: unknown = 1;
    for (let i = 0; i < 100; i += 1) deep = [deep];
    expect(() => canonicalJson(deep)).toThrow(TypeError);
  });
});

describe('checkActionRequest', () => {
  const request = { method: 'POST', url: RESOURCE };
  it('matches the approved call whatever the argument order', () => {
    expect(checkActionRequest([detail()], request, mcpToolCall('pay_invoice', { creditor: 'ACME', amount: '1200.00', invoice: '4711' }))).toEqual(detail());
  });
  it.each([
    ['a changed argument', request, mcpToolCall('pay_invoice', { ...ARGS, amount: '1200.01' })],
    ['an added argument', request, mcpToolCall('pay_invoice', { ...ARGS, memo: 'x' })],
    ['another tool', request, mcpToolCall('write_note', ARGS)],
    ['another method', { method: 'PUT', url: RESOURCE }, mcpToolCall('pay_invoice', ARGS)],
    ['another URL', { method: 'POST', url: 'https://mcp.example.test/other' }, mcpToolCall('pay_invoice', ARGS)],
  ])('refuses %s as insufficient (403), not as a bad token', (_name, req, action) => {
    expect(() => checkActionRequest([detail()], req, action)).toThrow(InsufficientScope);
  });
  it('refuses arguments that cannot be canonicalized as the client\'s invalid_request (400)', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 100; i += 1) deep = { a: deep };
    expect(() => mcpToolCall('pay_invoice', deep as Record<string, unknown>)).toThrow(InvalidRequest);
  });
  it('finds only agent_action entries that name a request', () => {
    expect(boundActions({ authorization_details: [{ type: 'agent_action', action: 'x' }, detail()] } as never)).toEqual([detail()]);
    expect(() => boundActions({ authorization_details: 'x' } as never)).toThrow(InvalidToken);
  });
});

let jwks: Server;
let sign: (claims: Record<string, unknown>) => Promise<string>;
let dpopKey: KeyPair;
let jkt: string;
let redis: Redis;
const prefix = uniqueRedisPrefix('verifier-action-jti');

beforeAll(async () => {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' };
  jwks = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })));
  await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
  sign = (claims) => new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'k1' })
    .setIssuer(ISSUER).setAudience(RESOURCE).setIssuedAt().setExpirationTime('5m').setJti(crypto.randomUUID()).sign(privateKey);
  dpopKey = await generateDpopKeyPair('ES256');
  jkt = await calculateJwkThumbprint(await exportJWK(dpopKey.publicKey));
  redis = connectTestRedis();
});
afterAll(async () => {
  jwks.close();
  await dropRedisPrefix(redis, prefix);
  await redis.quit();
});

const stores: [string, () => ReplayStore][] = [
  ['in memory', () => new MemoryReplayStore()],
  ['in Redis', () => new RedisReplayStore(redis, { prefix })],
];

describe.each(stores)('verifyAction, used tokens remembered %s', (_name, makeStore) => {
  const verifierWith = (store: ReplayStore) => createVerifier({
    issuer: ISSUER, resource: RESOURCE, resourceMetadataUrl: `${RESOURCE}/metadata`,
    jwksUri: `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/`, singleUse: { replayStore: store },
  });
  const token = (extra: Record<string, unknown> = {}) => sign({ sub: 'user-1', client_id: 'agent-1', cnf: { jkt }, authorization_details: [detail()], ...extra });
  const request = async (accessToken: string, key = dpopKey) => ({
    method: 'POST', url: RESOURCE,
    headers: { authorization: `DPoP ${accessToken}`, dpop: await generateProof(key, RESOURCE, 'POST', undefined, accessToken) },
  });

  it('accepts the approved call once; a changed argument does not spend it', async () => {
    const verifier = verifierWith(makeStore());
    const accessToken = await token();
    await expect(verifier.verifyAction(await request(accessToken), mcpToolCall('pay_invoice', { ...ARGS, amount: '1.00' }))).rejects.toBeInstanceOf(InsufficientScope);
    const access = await verifier.verifyAction(await request(accessToken), mcpToolCall('pay_invoice', ARGS));
    expect(access).toMatchObject({ scheme: 'DPoP', dpopJkt: jkt, approvedAction: detail() });
    const replay = await verifier.verifyAction(await request(accessToken), mcpToolCall('pay_invoice', ARGS)).catch((error: unknown) => error);
    expect(replay).toBeInstanceOf(InvalidToken);
    expect(verifier.challenge(replay as InvalidToken)).toMatchObject({
      status: 401,
      headers: { 'WWW-Authenticate': expect.stringContaining('DPoP error="invalid_token", error_description="this action-bound access token has already been used"') },
    });
  });

  it('a second instance sharing the store refuses the spent token', async () => {
    const store = makeStore();
    const accessToken = await token();
    await verifierWith(store).verifyAction(await request(accessToken), mcpToolCall('pay_invoice', ARGS));
    const other = _name === 'in Redis' ? verifierWith(new RedisReplayStore(redis, { prefix })) : verifierWith(store);
    await expect(other.verifyAction(await request(accessToken), mcpToolCall('pay_invoice', ARGS))).rejects.toThrow('already been used');
  });

  it('refuses a token that is not DPoP-bound and one proven by another key', async () => {
    const verifier = verifierWith(makeStore());
    const bearer = await sign({ sub: 'user-1', client_id: 'agent-1', authorization_details: [detail()] });
    await expect(verifier.verifyAction({ method: 'POST', url: RESOURCE, headers: { authorization: `Bearer ${bearer}` } }, mcpToolCall('pay_invoice', ARGS)))
      .rejects.toThrow('must be DPoP-bound');
    const other = await generateDpopKeyPair('ES256');
    await expect(verifier.verifyAction(await request(await token(), other), mcpToolCall('pay_invoice', ARGS))).rejects.toThrow('DPoP key binding does not match');
  });
});
