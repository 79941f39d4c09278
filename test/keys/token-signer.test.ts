// Signing our own non-oidc-provider JWTs (transaction tokens) with the active key of an algorithm.
import { describe, expect, it } from 'vitest';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JWK } from 'jose';
import { generateSigningKey } from '../../keys/signing-keys.ts';
import { NoSigningKeyError, TokenSigner } from '../../keys/token-signer.ts';

const publicOf = ({ d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...jwk }: JWK): JWK => jwk;

describe('TokenSigner', () => {
  it('signs with the first (active) key of the algorithm, naming its kid and the requested typ', async () => {
    const active = await generateSigningKey('ES256');
    const next = await generateSigningKey('ES256');
    const rsa = await generateSigningKey('RS256');
    const signer = new TokenSigner([rsa.privateJwk, active.privateJwk, next.privateJwk]);
    const token = await signer.sign({ sub: 'alice' }, { alg: 'ES256', typ: 'txntoken+jwt' });
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'ES256', typ: 'txntoken+jwt', kid: active.kid });
    const keys = createLocalJWKSet({ keys: [rsa, active, next].map(({ privateJwk }) => publicOf(privateJwk)) });
    expect((await jwtVerify(token, keys, { typ: 'txntoken+jwt' })).payload).toEqual({ sub: 'alice' });
  });

  it('finds Ed25519 keys, which carry no alg, by their curve', async () => {
    const okp = await generateSigningKey('EdDSA');
    const token = await new TokenSigner([okp.privateJwk]).sign({ sub: 'x' }, { alg: 'EdDSA', typ: 'txntoken+jwt' });
    expect(decodeProtectedHeader(token).kid).toBe(okp.kid);
  });

  it('refuses to sign without a private key of the algorithm', async () => {
    const rsa = await generateSigningKey('RS256');
    const es = await generateSigningKey('ES256');
    const signer = new TokenSigner([rsa.privateJwk, publicOf(es.privateJwk)]);
    await expect(signer.sign({}, { alg: 'ES256', typ: 'txntoken+jwt' })).rejects.toBeInstanceOf(NoSigningKeyError);
  });
});
