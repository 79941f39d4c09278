import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseTrustedIssuers, type TrustedIssuerConfig } from '../../config/trusted-issuers.ts';
import { peekIssuer, TrustedIssuers } from '../../tokens/trusted-issuers.ts';
import { PresentedTokenError, type PresentedTokenErrorCode } from '../../tokens/presented-token-error.ts';

const ISSUER = 'https://idp.example';
const STRICT_ISSUER = 'https://strict.example';
const AUDIENCE = 'https://auth.local';

type KeyPair = { privateKey: CryptoKey; publicKey: CryptoKey };

let rsa: KeyPair;
let ed: KeyPair;
let rsaJwk: JWK;
let edJwk: JWK;
let server: Server;
let baseUrl: string;
let closedPortUrl: string;
/** What /jwks serves; tests that rotate it put it back. */
let published: { keys: JWK[] };
const requests = new Map<string, number>();
const fetches = (path: string) => requests.get(path) ?? 0;

async function publicJwk(keys: KeyPair, kid: string, alg?: string): Promise<JWK> {
  return { ...(await exportJWK(keys.publicKey)), kid, use: 'sig', ...(alg ? { alg } : {}) };
}

function configs(): TrustedIssuerConfig[] {
  return parseTrustedIssuers(JSON.stringify([
    { issuer: ISSUER, jwks_uri: `${baseUrl}/jwks`, audiences: ['https://other.local', AUDIENCE], subject_prefix: 'idp:' },
    { issuer: STRICT_ISSUER, jwks_uri: `${baseUrl}/jwks`, audiences: [AUDIENCE], algorithms: ['RS256'], max_token_age_seconds: 60, subject_claim: 'oid', scope_claim: 'permissions', subject_prefix: '' },
    { issuer: 'https://down.example', jwks_uri: `${closedPortUrl}/jwks`, audiences: [AUDIENCE], subject_prefix: 'down:' },
    { issuer: 'https://failing.example', jwks_uri: `${baseUrl}/failing`, audiences: [AUDIENCE], subject_prefix: 'failing:' },
    { issuer: 'https://garbage.example', jwks_uri: `${baseUrl}/garbage`, audiences: [AUDIENCE], subject_prefix: 'garbage:' },
    { issuer: 'https://two-keys.example', jwks_uri: `${baseUrl}/two-keys`, audiences: [AUDIENCE], subject_prefix: 'two-keys:' },
  ]));
}

interface TokenOptions {
  key?: CryptoKey | Uint8Array;
  alg?: string;
  /** null: no kid in the header. */
  kid?: string | null;
  /** null: no exp claim. */
  exp?: number | string | null;
  iat?: number;
}

function sign(claims: JWTPayload, { key = rsa.privateKey, alg = 'RS256', kid = 'rsa-1', exp = '1h', iat }: TokenOptions = {}): Promise<string> {
  const jwt = new SignJWT({ iss: ISSUER, sub: 'alice', aud: AUDIENCE, ...claims })
    .setProtectedHeader(kid === null ? { alg } : { alg, kid })
    .setIssuedAt(iat);
  if (exp !== null) jwt.setExpirationTime(exp);
  return jwt.sign(key);
}

const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);

async function refusal(issuers: TrustedIssuers, jwt: string): Promise<PresentedTokenError> {
  const error = await issuers.verify(jwt).then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(PresentedTokenError);
  // The grant shows the message to the client. (Junk as short as `abc` could be a word of the message.)
  if (jwt.length > 16) expect((error as Error).message).not.toContain(jwt);
  return error as PresentedTokenError;
}

async function expectRefused(jwt: string, code: PresentedTokenErrorCode, message?: string | RegExp, issuers = new TrustedIssuers(configs())) {
  const error = await refusal(issuers, jwt);
  expect(error.code).toBe(code);
  if (typeof message === 'string') expect(error.message).toBe(message);
  else if (message) expect(error.message).toMatch(message);
  return error;
}

beforeAll(async () => {
  rsa = await generateKeyPair('RS256', { extractable: true });
  ed = await generateKeyPair('Ed25519', { extractable: true });
  rsaJwk = await publicJwk(rsa, 'rsa-1', 'RS256');
  // No `alg` member, so the key serves tokens whose header says either `EdDSA` or `Ed25519`.
  edJwk = await publicJwk(ed, 'ed-1');
  published = { keys: [rsaJwk, edJwk] };
  const otherRsa = await generateKeyPair('RS256', { extractable: true });
  const twoKeys = { keys: [await publicJwk(otherRsa, 'rsa-old', 'RS256'), rsaJwk] };

  server = createServer((req, res) => {
    const path = req.url ?? '';
    requests.set(path, fetches(path) + 1);
    if (path === '/jwks') res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(published));
    else if (path === '/two-keys') res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(twoKeys));
    else if (path === '/garbage') res.writeHead(200, { 'content-type': 'application/json' }).end('{"not":"a key set"}');
    else res.writeHead(500).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  // A loopback port nobody listens on, for an issuer whose JWKS host is down.
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  closedPortUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

afterEach(() => {
  vi.useRealTimers();
});

describe('TrustedIssuers.verify accepts', () => {
  it('an RS256 token, mapping the subject with the prefix and carrying its claims through', async () => {
    const act = { sub: 'agent-7', act: { sub: 'orchestrator' } };
    const mayAct = { client_id: 'agent-7' };
    const jwt = await sign({ scope: 'files:read  mail:send files:read', act, may_act: mayAct, azp: 'agent-7', cnf: { jkt: 'thumbprint-1' } });
    const subject = await new TrustedIssuers(configs()).verify(jwt);
    expect(subject).toEqual({
      issuer: ISSUER,
      subject: 'idp:alice',
      scopes: ['files:read', 'mail:send'],
      expiresAt: expect.any(Number),
      issuedAt: expect.any(Number),
      act,
      mayAct,
      clientId: 'agent-7',
      audiences: [AUDIENCE],
      jkt: 'thumbprint-1',
      claims: expect.objectContaining({ iss: ISSUER, sub: 'alice', azp: 'agent-7' }),
    });
    expect(subject.expiresAt - now()).toBeGreaterThan(3500);
  });

  it.each(['EdDSA', 'Ed25519'])('an Ed25519 token whose header says alg %s', async (alg) => {
    const jwt = await sign({ aud: ['https://other.local', 'https://elsewhere'] }, { key: ed.privateKey, alg, kid: 'ed-1' });
    const subject = await new TrustedIssuers(configs()).verify(jwt);
    expect(subject).toMatchObject({ subject: 'idp:alice', scopes: undefined, audiences: ['https://other.local', 'https://elsewhere'] });
    expect(subject.act).toBeUndefined();
    expect(subject.clientId).toBeUndefined();
    expect(subject.jkt).toBeUndefined();
  });

  it('scopes as an array `scp` claim, and client_id in place of azp', async () => {
    const subject = await new TrustedIssuers(configs()).verify(await sign({ scp: ['files:read', 'mail:send'], client_id: 'agent-9' }));
    expect(subject).toMatchObject({ scopes: ['files:read', 'mail:send'], clientId: 'agent-9' });
  });

  it('the configured subject and scope claims, with no prefix', async () => {
    const jwt = await sign({ iss: STRICT_ISSUER, sub: 'ignored', oid: 'user-42', permissions: 'a b', scope: 'not-this' });
    expect(await new TrustedIssuers(configs()).verify(jwt)).toMatchObject({ issuer: STRICT_ISSUER, subject: 'user-42', scopes: ['a', 'b'] });
  });

  it('an empty scope claim as no scopes, which differs from no claim', async () => {
    expect((await new TrustedIssuers(configs()).verify(await sign({ scope: '' }))).scopes).toEqual([]);
  });

  it('a token without kid when the issuer publishes several keys of its type, by trying each', async () => {
    const jwt = await sign({ iss: 'https://two-keys.example' }, { kid: null });
    expect((await new TrustedIssuers(configs()).verify(jwt)).issuer).toBe('https://two-keys.example');
  });

  it('a token expired by less than the clock tolerance', async () => {
    const jwt = await sign({}, { exp: now() - 5 });
    await expect(new TrustedIssuers(configs()).verify(jwt)).resolves.toMatchObject({ subject: 'idp:alice' });
    await expectRefused(jwt, 'ERR_TOKEN_EXPIRED', 'the token has expired', new TrustedIssuers(configs(), { clockToleranceSeconds: 0 }));
  });
});

describe('TrustedIssuers JWKS cache', () => {
  it('fetches the JWKS once for several verifications', async () => {
    const issuers = new TrustedIssuers(configs());
    const before = fetches('/jwks');
    await issuers.verify(await sign({}));
    await issuers.verify(await sign({ sub: 'bob' }));
    await issuers.verify(await sign({}, { key: ed.privateKey, alg: 'EdDSA', kid: 'ed-1' }));
    await Promise.all([issuers.verify(await sign({})), issuers.verify(await sign({}))]);
    expect(fetches('/jwks') - before).toBe(1);
  });

  it('refetches when a token names a kid it has not seen, once the cooldown has passed', async () => {
    const issuers = new TrustedIssuers(configs());
    const before = fetches('/jwks');
    await issuers.verify(await sign({}));

    const rotated = await generateKeyPair('RS256', { extractable: true });
    published = { keys: [await publicJwk(rotated, 'rsa-2', 'RS256'), edJwk] };
    try {
      const jwt = await sign({}, { key: rotated.privateKey, kid: 'rsa-2' });
      // Within the cooldown an unknown kid is not worth another request: it is refused as unverifiable.
      await expectRefused(jwt, 'ERR_SIGNATURE_INVALID', undefined, issuers);
      expect(fetches('/jwks') - before).toBe(1);

      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(Date.now() + 31_000);
      expect((await issuers.verify(jwt)).subject).toBe('idp:alice');
      expect(fetches('/jwks') - before).toBe(2);
      // The old key is gone from the refreshed set.
      await expectRefused(await sign({}), 'ERR_SIGNATURE_INVALID', undefined, issuers);
    } finally {
      published = { keys: [rsaJwk, edJwk] };
    }
  });
});

describe('TrustedIssuers.verify refuses', () => {
  it('a token from an issuer not configured, without fetching anything', async () => {
    const before = fetches('/jwks');
    await expectRefused(await sign({ iss: 'https://evil.example' }), 'ERR_UNTRUSTED_ISSUER', 'the token\'s issuer "https://evil.example" is not trusted');
    expect(fetches('/jwks')).toBe(before);
  });

  it('a token without iss', async () => {
    await expectRefused(await sign({ iss: undefined }), 'ERR_UNTRUSTED_ISSUER', 'the token names no issuer (iss)');
  });

  it('an issuer quoted in the message only as printable ASCII, and briefly', async () => {
    const error = await expectRefused(await sign({ iss: `https://evil.example/"\\\n${'x'.repeat(500)}` }), 'ERR_UNTRUSTED_ISSUER');
    expect(error.message).toMatch(/^the token's issuer "https:\/\/evil\.example\/\?\?\?x+\.\.\." is not trusted$/);
    expect(error.message.length).toBeLessThan(160);
  });

  it('an expired token', async () => {
    await expectRefused(await sign({}, { exp: now() - 3600, iat: now() - 7200 }), 'ERR_TOKEN_EXPIRED', 'the token has expired');
  });

  it('a token not valid yet', async () => {
    await expectRefused(await sign({ nbf: now() + 3600 }), 'ERR_TOKEN_NOT_YET_VALID', 'the token is not valid yet (nbf)');
  });

  it('a token for another audience', async () => {
    await expectRefused(await sign({ aud: 'https://resource.example' }), 'ERR_WRONG_AUDIENCE', 'the token\'s audience is not one this server accepts');
    await expectRefused(await sign({ aud: undefined }), 'ERR_WRONG_AUDIENCE', 'the token has no audience (aud)');
  });

  it('an unsigned token (alg "none")', async () => {
    const claims = { iss: ISSUER, sub: 'alice', aud: AUDIENCE, exp: now() + 3600 };
    const jwt = `${base64url({ alg: 'none' })}.${base64url(claims)}.`;
    await expectRefused(jwt, 'ERR_ALGORITHM_NOT_ALLOWED', 'the token is unsigned (alg "none")');
  });

  it.each(['JWK JSON', 'SPKI PEM'])('an HS256 token whose HMAC secret is the issuer\'s public key (%s), without verifying it', async (form) => {
    const secret = new TextEncoder().encode(form === 'JWK JSON' ? JSON.stringify(rsaJwk) : await exportSPKI(rsa.publicKey));
    const issuers = new TrustedIssuers(configs());
    const before = fetches('/jwks');
    await expectRefused(await sign({}, { key: secret, alg: 'HS256' }), 'ERR_ALGORITHM_NOT_ALLOWED', 'the token is signed with alg "HS256", which is not allowed', issuers);
    expect(fetches('/jwks')).toBe(before);
  });

  it('an algorithm the issuer is not configured for', async () => {
    const jwt = await sign({ iss: STRICT_ISSUER, oid: 'user-42' }, { key: ed.privateKey, alg: 'EdDSA', kid: 'ed-1' });
    await expectRefused(jwt, 'ERR_ALGORITHM_NOT_ALLOWED', 'the token is signed with alg "EdDSA", which is not allowed');
  });

  it('a token signed by a key not in the issuer\'s JWKS', async () => {
    const foreign = await generateKeyPair('RS256');
    // Claiming a published kid: the signature check fails.
    await expectRefused(await sign({}, { key: foreign.privateKey, kid: 'rsa-1' }), 'ERR_SIGNATURE_INVALID', 'the token\'s signature does not verify with its issuer\'s keys');
    // Naming a kid of its own: no key matches.
    await expectRefused(await sign({}, { key: foreign.privateKey, kid: 'attacker' }), 'ERR_SIGNATURE_INVALID');
    // No kid at all.
    await expectRefused(await sign({}, { key: foreign.privateKey, kid: null }), 'ERR_SIGNATURE_INVALID');
  });

  it('a token whose signature was cut off', async () => {
    const jwt = await sign({});
    await expectRefused(`${jwt.slice(0, jwt.lastIndexOf('.'))}.`, 'ERR_SIGNATURE_INVALID');
  });

  it.each([
    ['abc', 'abc'],
    ['three junk parts', 'a.b.c'],
    ['random base64url', randomBytes(96).toString('base64url')],
    ['an empty string', ''],
    ['a JWE-shaped token', 'a.b.c.d.e'],
    ['a header that is not JSON', `${Buffer.from('nope').toString('base64url')}.${base64url({ iss: ISSUER })}.c2ln`],
    ['a payload that is not an object', `${base64url({ alg: 'RS256' })}.${base64url([1, 2])}.c2ln`],
  ])('a malformed token: %s', async (_, jwt) => {
    await expectRefused(jwt, 'ERR_TOKEN_MALFORMED', 'the token is not a well-formed JWT');
  });

  it('a header without alg', async () => {
    await expectRefused(`${base64url({ typ: 'JWT' })}.${base64url({ iss: ISSUER })}.c2ln`, 'ERR_TOKEN_MALFORMED', 'the token\'s header names no algorithm (alg)');
  });

  it('a token with an unknown critical header parameter', async () => {
    const jwt = await new SignJWT({ iss: ISSUER, sub: 'alice', aud: AUDIENCE })
      .setProtectedHeader({ alg: 'RS256', kid: 'rsa-1', crit: ['x-unknown'], 'x-unknown': true })
      .setExpirationTime('1h')
      .sign(rsa.privateKey, { crit: { 'x-unknown': true } });
    await expectRefused(jwt, 'ERR_TOKEN_MALFORMED', 'the token uses a JOSE feature this server does not support');
  });

  it('an oversized token, before decoding it', async () => {
    const jwt = await sign({ padding: 'x'.repeat(17_000) });
    const before = fetches('/jwks');
    await expectRefused(jwt, 'ERR_TOKEN_TOO_LARGE', 'the token is larger than 16384 bytes');
    await expectRefused('x'.repeat(20_000), 'ERR_TOKEN_TOO_LARGE');
    expect(fetches('/jwks')).toBe(before);
    await expectRefused(await sign({ padding: 'x'.repeat(600) }), 'ERR_TOKEN_TOO_LARGE', 'the token is larger than 512 bytes', new TrustedIssuers(configs(), { maxTokenBytes: 512 }));
  });

  it('a token without exp', async () => {
    await expectRefused(await sign({}, { exp: null }), 'ERR_CLAIM_INVALID', 'the token has no "exp" claim');
  });

  it('a token whose exp is not a number', async () => {
    await expectRefused(await sign({ exp: 'tomorrow' as unknown as number }, { exp: null }), 'ERR_CLAIM_INVALID', 'the token\'s "exp" claim is not a number');
  });

  it('a token without the subject claim', async () => {
    await expectRefused(await sign({ sub: undefined }), 'ERR_NO_SUBJECT', 'the token has no "sub" claim');
    await expectRefused(await sign({ iss: STRICT_ISSUER }), 'ERR_NO_SUBJECT', 'the token has no "oid" claim');
    await expectRefused(await sign({ sub: '' }), 'ERR_NO_SUBJECT', 'the token\'s "sub" claim is not a non-empty string');
  });

  it('a token older than the issuer\'s maximum age, though not expired', async () => {
    const jwt = await sign({ iss: STRICT_ISSUER, oid: 'user-42' }, { iat: now() - 120 });
    await expectRefused(jwt, 'ERR_TOKEN_EXPIRED', 'the token was issued more than 60 seconds ago');
  });

  it('a token without iat from an issuer with a maximum age', async () => {
    const jwt = await new SignJWT({ iss: STRICT_ISSUER, oid: 'user-42', aud: AUDIENCE })
      .setProtectedHeader({ alg: 'RS256', kid: 'rsa-1' }).setExpirationTime('1h').sign(rsa.privateKey);
    await expectRefused(jwt, 'ERR_CLAIM_INVALID', 'the token has no "iat" claim, which its issuer\'s tokens must carry');
  });

  it.each<[string, JWTPayload, string]>([
    ['a numeric scope', { scope: 42 }, 'the token\'s "scope" claim is neither a space-delimited string nor an array of scope names'],
    ['an scp member with a space', { scp: ['files:read mail:send'] }, 'the token\'s "scp" claim is neither a space-delimited string nor an array of scope names'],
    ['a scope with a control character', { scope: 'files:read\nadmin' }, 'the token\'s "scope" claim is neither a space-delimited string nor an array of scope names'],
    ['a string act', { act: 'agent-7' }, 'the token\'s "act" claim is not a JSON object'],
    ['an array may_act', { may_act: [{ sub: 'x' }] }, 'the token\'s "may_act" claim is not a JSON object'],
    ['a numeric azp', { azp: 7 }, 'the token\'s "azp" claim is not a non-empty string'],
    ['azp and client_id that disagree', { azp: 'agent-1', client_id: 'agent-2' }, 'the token\'s "azp" and "client_id" claims disagree'],
    ['a string cnf', { cnf: 'thumbprint' }, 'the token\'s "cnf" claim is not a JSON object'],
    ['a numeric cnf.jkt', { cnf: { jkt: 1 } }, 'the token\'s "cnf.jkt" claim is not a non-empty string'],
    ['a non-string aud member', { aud: [AUDIENCE, 7] as unknown as string[] }, 'the token\'s "aud" claim is neither a string nor an array of strings'],
  ])('a token with %s', async (_, claims, message) => {
    await expectRefused(await sign(claims), 'ERR_CLAIM_INVALID', message);
  });

  it.each([
    ['down', 'https://down.example', '/unused'],
    ['answering 500', 'https://failing.example', '/failing'],
    ['serving something that is not a JWKS', 'https://garbage.example', '/garbage'],
  ])('a token whose issuer\'s JWKS endpoint is %s', async (_, iss, path) => {
    const issuers = new TrustedIssuers(configs());
    const before = fetches(path);
    const error = await expectRefused(await sign({ iss }), 'ERR_JWKS_UNAVAILABLE', 'the issuer\'s keys could not be fetched', issuers);
    // The reason stays on the server, for the logs.
    expect(error.cause).toBeDefined();
    if (path !== '/unused') expect(fetches(path) - before).toBe(1);
    // A failed fetch is not cached: the next token tries again.
    await expectRefused(await sign({ iss }), 'ERR_JWKS_UNAVAILABLE', undefined, issuers);
    if (path !== '/unused') expect(fetches(path) - before).toBe(2);
  });
});

describe('TrustedIssuers.trusts', () => {
  it('says which issuers are configured, by exact match', () => {
    const issuers = new TrustedIssuers(configs());
    expect(issuers.trusts(ISSUER)).toBe(true);
    expect(issuers.trusts(`${ISSUER}/`)).toBe(false);
    expect(issuers.trusts('https://evil.example')).toBe(false);
    expect(new TrustedIssuers([]).trusts(ISSUER)).toBe(false);
  });
});

describe('peekIssuer', () => {
  it('reads iss without verifying anything', async () => {
    const foreign = await generateKeyPair('ES256');
    expect(peekIssuer(await sign({}, { key: foreign.privateKey, alg: 'ES256' }))).toBe(ISSUER);
    expect(peekIssuer(`${base64url({ alg: 'none' })}.${base64url({ iss: 'https://x.example' })}.`)).toBe('https://x.example');
  });

  it.each([
    ['not a JWT', 'abc'],
    ['junk parts', 'a.b.c'],
    ['no iss', `${base64url({ alg: 'none' })}.${base64url({ sub: 'alice' })}.`],
    ['a numeric iss', `${base64url({ alg: 'none' })}.${base64url({ iss: 42 })}.`],
  ])('is undefined for %s', (_, jwt) => {
    expect(peekIssuer(jwt)).toBeUndefined();
  });
});
