// The verification function workloads run on the `Txn-Token` header: signature via the service's JWKS, typ,
// aud (the trust domain), expiry, and typed errors for each refusal.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWTPayload } from 'jose';
import {
  TransactionTokenError, verifyTransactionToken, type TransactionTokenErrorCode, type VerifyTransactionTokenOptions,
} from '../../packages/verifier/src/transaction-token.ts';

const TRUST_DOMAIN = 'trust-domain.example';
const ISSUER = 'https://as.example';

describe('verifyTransactionToken', () => {
  let server: Server;
  let jwksUri: string;
  let key: CryptoKey;
  let foreignKey: CryptoKey;

  beforeAll(async () => {
    const pair = await generateKeyPair('ES256');
    key = pair.privateKey;
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'tts-1', alg: 'ES256', use: 'sig' };
    ({ privateKey: foreignKey } = await generateKeyPair('ES256'));
    server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    jwksUri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
  });
  afterAll(() => new Promise<void>((resolve) => server?.close(() => resolve())));

  const now = () => Math.floor(Date.now() / 1000);
  const goodClaims = (): JWTPayload => ({
    iss: ISSUER, iat: now(), exp: now() + 300, aud: TRUST_DOMAIN, txn: 'd3b3c8a0-0000-4000-8000-000000000001', sub: 'alice',
    scope: 'trade.stocks', req_wl: 'api-gateway', rctx: { req_ip: '69.151.72.123' }, tctx: { action: 'BUY' }, act: { sub: 'agent-a' },
  });
  const sign = (claims: JWTPayload, header: { typ?: string; kid?: string; alg?: string } = {}, signingKey: CryptoKey = key) =>
    new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'txntoken+jwt', kid: 'tts-1', ...header }).sign(signingKey);
  const options = (): VerifyTransactionTokenOptions => ({ jwksUri, trustDomain: TRUST_DOMAIN });

  async function refusedWith(header: Parameters<typeof verifyTransactionToken>[0], code: TransactionTokenErrorCode, opts = options()) {
    const error = await verifyTransactionToken(header, opts).then(() => undefined, (caught: unknown) => caught);
    expect(error).toBeInstanceOf(TransactionTokenError);
    expect((error as TransactionTokenError).code).toBe(code);
  }

  it('accepts a good Txn-Token and returns its claims', async () => {
    const claims = goodClaims();
    const verified = await verifyTransactionToken(await sign(claims), { ...options(), issuer: ISSUER });
    expect(verified).toEqual(claims);
    // As node:http hands it over (a string), or from headersDistinct (an array of one).
    expect((await verifyTransactionToken([await sign(claims)], options())).txn).toBe(claims.txn);
  });

  it('rejects a wrong typ (an access token, for instance)', async () => {
    await refusedWith(await sign(goodClaims(), { typ: 'at+jwt' }), 'ERR_TXN_TOKEN_TYPE');
    await refusedWith(await sign(goodClaims(), { typ: 'txn_token' }), 'ERR_TXN_TOKEN_TYPE');
  });

  it('rejects another trust domain', async () => {
    await refusedWith(await sign({ ...goodClaims(), aud: 'elsewhere.example' }), 'ERR_TXN_TOKEN_AUDIENCE');
    const { aud: _aud, ...withoutAudience } = goodClaims();
    await refusedWith(await sign(withoutAudience), 'ERR_TXN_TOKEN_AUDIENCE');
  });

  it('rejects an expired token', async () => {
    await refusedWith(await sign({ ...goodClaims(), iat: now() - 600, exp: now() - 60 }), 'ERR_TXN_TOKEN_EXPIRED');
  });

  it('rejects a token signed by anyone else, and unsigned or HMAC tokens', async () => {
    await refusedWith(await sign(goodClaims(), {}, foreignKey), 'ERR_TXN_TOKEN_SIGNATURE');
    await refusedWith(await sign(goodClaims(), { kid: 'unknown' }, foreignKey), 'ERR_TXN_TOKEN_SIGNATURE');
    const hs = await new SignJWT(goodClaims()).setProtectedHeader({ alg: 'HS256', typ: 'txntoken+jwt', kid: 'tts-1' }).sign(new Uint8Array(32));
    await refusedWith(hs, 'ERR_TXN_TOKEN_ALGORITHM');
    const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
    await refusedWith(`${b64({ alg: 'none', typ: 'txntoken+jwt' })}.${b64(goodClaims())}.`, 'ERR_TXN_TOKEN_MALFORMED');
  });

  it('rejects a missing, repeated or malformed header', async () => {
    const token = await sign(goodClaims());
    await refusedWith(undefined, 'ERR_TXN_TOKEN_MISSING');
    await refusedWith(null, 'ERR_TXN_TOKEN_MISSING');
    await refusedWith('  ', 'ERR_TXN_TOKEN_MISSING');
    await refusedWith([token, token], 'ERR_TXN_TOKEN_MULTIPLE');
    await refusedWith(`${token}, ${token}`, 'ERR_TXN_TOKEN_MULTIPLE');
    await refusedWith(`Bearer ${token}`, 'ERR_TXN_TOKEN_MALFORMED');
    await refusedWith('a.b.c', 'ERR_TXN_TOKEN_MALFORMED');
  });

  it('rejects missing required claims and a wrong issuer', async () => {
    const { txn: _txn, ...withoutTxn } = goodClaims();
    await refusedWith(await sign(withoutTxn), 'ERR_TXN_TOKEN_CLAIMS');
    const { req_wl: _reqWl, ...withoutWorkload } = goodClaims();
    await refusedWith(await sign(withoutWorkload), 'ERR_TXN_TOKEN_CLAIMS');
    await refusedWith(await sign({ ...goodClaims(), scope: ['trade.stocks'] }), 'ERR_TXN_TOKEN_CLAIMS');
    await refusedWith(await sign({ ...goodClaims(), tctx: 'BUY' }), 'ERR_TXN_TOKEN_CLAIMS');
    await refusedWith(await sign({ ...goodClaims(), nbf: now() + 600 }), 'ERR_TXN_TOKEN_CLAIMS');
    await refusedWith(await sign(goodClaims()), 'ERR_TXN_TOKEN_ISSUER', { ...options(), issuer: 'https://other-as.example' });
  });

  it('tells an unreachable JWKS apart from a bad token', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    await refusedWith(await sign(goodClaims()), 'ERR_TXN_TOKEN_KEYS_UNAVAILABLE', { jwksUri: `http://127.0.0.1:${port}/jwks`, trustDomain: TRUST_DOMAIN });
  });
});
