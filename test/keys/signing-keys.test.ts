// Signing keys in PostgreSQL: created once for every instance, rotated in three published steps.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureServerSecrets } from '../../keys/server-secrets.ts';
import {
  ensureSigningKeys, listSigningKeys, loadSigningKeys, promoteSigningKeys, pruneSigningKeys, rotateSigningKeys,
} from '../../keys/signing-keys.ts';
import { BACKENDS, openTestDatabase, type TestDatabase } from '../support/databases.ts';

describe.each(BACKENDS)('signing keys on %s', (backend) => {
  let database: TestDatabase;
  beforeAll(async () => { database = await openTestDatabase(backend, 'signing-keys'); });
  afterAll(() => database?.dispose());

  it('creates one active RS256, ES256 and Ed25519 key, even when instances start at the same moment', async () => {
    await Promise.all([ensureSigningKeys(database.db), ensureSigningKeys(database.db), ensureSigningKeys(database.db)]);
    const keys = await listSigningKeys(database.db);
    expect(keys.map((k) => `${k.alg}:${k.status}`).sort()).toEqual(['ES256:active', 'EdDSA:active', 'RS256:active']);
    const jwks = await loadSigningKeys(database.db);
    const okp = jwks.find((k) => k.kty === 'OKP')!;
    expect(okp.crv).toBe('Ed25519');
    expect(okp.alg).toBeUndefined(); // usable as EdDSA and as Ed25519 (RFC 9864)
    expect(jwks.every((k) => typeof k.d === 'string' && k.use === 'sig' && k.kid)).toBe(true);
  });

  it('rotates: next is published after the active key, promotion retires the old key, prune forgets it', async () => {
    const before = await loadSigningKeys(database.db);
    const [nextRsa] = await rotateSigningKeys(database.db, ['RS256']);
    await expect(rotateSigningKeys(database.db, ['RS256'])).rejects.toThrow(/promote it first/);

    const published = await loadSigningKeys(database.db);
    const rsa = published.filter((k) => k.kty === 'RSA').map((k) => k.kid);
    expect(rsa).toEqual([before.find((k) => k.kty === 'RSA')!.kid, nextRsa]); // active first: it keeps signing

    expect(await promoteSigningKeys(database.db)).toEqual([nextRsa]);
    const statuses = Object.fromEntries((await listSigningKeys(database.db)).filter((k) => k.alg === 'RS256').map((k) => [k.kid, k.status]));
    expect(statuses[nextRsa]).toBe('active');
    expect(Object.values(statuses).sort()).toEqual(['active', 'retired']);
    expect((await loadSigningKeys(database.db)).filter((k) => k.kty === 'RSA')[0].kid).toBe(nextRsa);

    expect(await pruneSigningKeys(database.db, 3600)).toEqual([]); // retired just now: still verifying tokens
    const pruned = await pruneSigningKeys(database.db, 0);
    expect(pruned).toHaveLength(1);
    expect((await listSigningKeys(database.db)).filter((k) => k.alg === 'RS256').map((k) => k.status)).toEqual(['active']);
  });

  it('creates the shared cookie and DPoP nonce secrets once', async () => {
    const [first, second] = await Promise.all([ensureServerSecrets(database.db), ensureServerSecrets(database.db)]);
    expect(second).toEqual(first);
    expect(first.dpopNonceSecret).toHaveLength(32);
  });
});
