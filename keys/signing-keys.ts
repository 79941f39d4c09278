// Signing keys shared by every instance: created on first start, stored in PostgreSQL, published in the JWKS.
// Rotation is three explicit steps so no verifier ever sees a token signed by a key it cannot fetch:
//   rotate  — a `next` key per algorithm is created and published (not yet used to sign);
//   promote — after every instance has restarted and caches have refreshed, `next` becomes `active` and the
//             old `active` becomes `retired` (still published: tokens it signed remain verifiable);
//   prune   — retired keys older than the longest token lifetime are deleted and vanish from the JWKS.
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import { sql } from 'kysely';
import type { Database } from '../adapters/database.ts';

/** RS256 because OpenID Connect requires it; ES256 and EdDSA for compact, fast signatures. */
export const SIGNING_ALGS = ['RS256', 'ES256', 'EdDSA'] as const;
export type SigningAlg = (typeof SIGNING_ALGS)[number];
export type KeyStatus = 'next' | 'active' | 'retired';

export interface SigningKeySummary {
  kid: string;
  alg: string;
  status: KeyStatus;
  createdAt: Date;
  promotedAt: Date | null;
  retiredAt: Date | null;
}

// Any constant works: it only serializes key creation between instances starting at the same moment.
const KEY_CREATION_LOCK = 7_420_001;

export function isSigningAlg(value: string): value is SigningAlg {
  return (SIGNING_ALGS as readonly string[]).includes(value);
}

/** Whether `jwk` signs under `alg`. Ed25519 keys carry no `alg` (see generateSigningKey), so they match on their curve. */
export function keyFitsAlg(jwk: JWK, alg: SigningAlg): boolean {
  if (alg === 'EdDSA') return jwk.kty === 'OKP' && jwk.crv === 'Ed25519';
  return jwk.alg === alg;
}

/** The algorithms of SIGNING_ALGS that one of these private keys (loadSigningKeys) can sign with, in that order. */
export function heldSigningAlgs(privateJwks: readonly JWK[]): SigningAlg[] {
  return SIGNING_ALGS.filter((alg) => privateJwks.some((jwk) => jwk.d !== undefined && keyFitsAlg(jwk, alg)));
}

export async function generateSigningKey(alg: SigningAlg): Promise<{ kid: string; privateJwk: JWK }> {
  const { privateKey } = await generateKeyPair(alg === 'EdDSA' ? 'Ed25519' : alg, { extractable: true, modulusLength: 2048 });
  const jwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint(jwk);
  // An OKP key carries no `alg` so it signs and verifies under both names, EdDSA and Ed25519 (RFC 9864).
  const privateJwk: JWK = { ...jwk, kid, use: 'sig', ...(alg === 'EdDSA' ? {} : { alg }) };
  return { kid, privateJwk };
}

/**
 * Creates an active key for every algorithm that has none, and answers which it created (a first start says so).
 * Safe to run from several instances at once.
 */
export async function ensureSigningKeys(db: Database): Promise<string[]> {
  const created: string[] = [];
  await db.transaction().execute(async (trx) => {
    await sql`SELECT pg_advisory_xact_lock(${KEY_CREATION_LOCK})`.execute(trx);
    const active = await trx.selectFrom('signing_keys').select('alg').where('status', '=', 'active').execute();
    const have = new Set(active.map((row) => row.alg));
    for (const alg of SIGNING_ALGS) {
      if (have.has(alg)) continue;
      const { kid, privateJwk } = await generateSigningKey(alg);
      await trx
        .insertInto('signing_keys')
        .values({ kid, alg, private_jwk: JSON.stringify(privateJwk), status: 'active', promoted_at: new Date() })
        .execute();
      created.push(alg);
    }
  });
  return created;
}

/**
 * The private JWKs handed to oidc-provider, active keys first: when several keys fit an algorithm the provider
 * signs with the first one, so `next` and `retired` keys are published but never used to sign.
 */
export async function loadSigningKeys(db: Database): Promise<JWK[]> {
  const rows = await db.selectFrom('signing_keys').select(['private_jwk', 'status', 'created_at']).execute();
  const rank: Record<string, number> = { active: 0, next: 1, retired: 2 };
  return rows
    .sort((a, b) => rank[a.status] - rank[b.status] || new Date(b.created_at).getTime() - new Date(a.created_at).getTime())
    .map((row) => parseJwk(row.private_jwk));
}

export async function listSigningKeys(db: Database): Promise<SigningKeySummary[]> {
  const rows = await db
    .selectFrom('signing_keys')
    .select(['kid', 'alg', 'status', 'created_at', 'promoted_at', 'retired_at'])
    .orderBy('created_at')
    .execute();
  return rows.map((row) => ({
    kid: row.kid,
    alg: row.alg,
    status: row.status as KeyStatus,
    createdAt: new Date(row.created_at),
    promotedAt: row.promoted_at ? new Date(row.promoted_at) : null,
    retiredAt: row.retired_at ? new Date(row.retired_at) : null,
  }));
}

/** Step 1: publish a `next` key for each algorithm. Refuses if one is already waiting to be promoted. */
export async function rotateSigningKeys(db: Database, algs: readonly SigningAlg[] = SIGNING_ALGS): Promise<string[]> {
  return db.transaction().execute(async (trx) => {
    await sql`SELECT pg_advisory_xact_lock(${KEY_CREATION_LOCK})`.execute(trx);
    const waiting = await trx.selectFrom('signing_keys').select('alg').where('status', '=', 'next').where('alg', 'in', [...algs]).execute();
    if (waiting.length) {
      throw new Error(`a next key already exists for ${waiting.map((r) => r.alg).join(', ')}; promote it first`);
    }
    const kids: string[] = [];
    for (const alg of algs) {
      const { kid, privateJwk } = await generateSigningKey(alg);
      await trx.insertInto('signing_keys').values({ kid, alg, private_jwk: JSON.stringify(privateJwk), status: 'next' }).execute();
      kids.push(kid);
    }
    return kids;
  });
}

/** Step 2: `next` → `active`, previous `active` → `retired`, per algorithm. Returns the promoted kids. */
export async function promoteSigningKeys(db: Database): Promise<string[]> {
  return db.transaction().execute(async (trx) => {
    await sql`SELECT pg_advisory_xact_lock(${KEY_CREATION_LOCK})`.execute(trx);
    const next = await trx.selectFrom('signing_keys').select(['kid', 'alg']).where('status', '=', 'next').execute();
    for (const { kid, alg } of next) {
      await trx.updateTable('signing_keys').set({ status: 'retired', retired_at: new Date() }).where('alg', '=', alg).where('status', '=', 'active').execute();
      await trx.updateTable('signing_keys').set({ status: 'active', promoted_at: new Date() }).where('kid', '=', kid).execute();
    }
    return next.map((row) => row.kid);
  });
}

/** Step 3: forget retired keys that retired more than `olderThanSeconds` ago. Returns the deleted kids. */
export async function pruneSigningKeys(db: Database, olderThanSeconds: number): Promise<string[]> {
  const cutoff = new Date(Date.now() - olderThanSeconds * 1000);
  const deleted = await db
    .deleteFrom('signing_keys')
    .where('status', '=', 'retired')
    .where('retired_at', '<', cutoff)
    .returning('kid')
    .execute();
  return deleted.map((row) => row.kid);
}

function parseJwk(value: unknown): JWK {
  return (typeof value === 'string' ? JSON.parse(value) : value) as JWK;
}
