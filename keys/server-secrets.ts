// Secrets every instance must share but no operator should have to manage: the keys that sign our cookies
// (a session started on one instance continues on another), the DPoP nonce secret (RFC 9449 §8: a nonce
// issued by one instance must validate at every other) and the key that names JWT access token records (see
// server/jwt-access-token-records.ts). Created once, stored in PostgreSQL.
import { randomBytes } from 'node:crypto';
import type { Database } from '../adapters/database.ts';

export interface ServerSecrets {
  cookieKeys: string[];
  dpopNonceSecret: Buffer;
  jwtRecordKey: Buffer;
}

const COOKIE_KEY = 'cookie_key';
const DPOP_NONCE_SECRET = 'dpop_nonce_secret';
const JWT_RECORD_KEY = 'jwt_record_key';

export async function ensureServerSecrets(db: Database): Promise<ServerSecrets> {
  // Concurrent first starts race harmlessly: ON CONFLICT keeps whichever value was written first.
  await db
    .insertInto('server_secrets')
    .values([
      { name: COOKIE_KEY, value: randomBytes(32).toString('base64url') },
      { name: DPOP_NONCE_SECRET, value: randomBytes(32).toString('base64url') },
      { name: JWT_RECORD_KEY, value: randomBytes(32).toString('base64url') },
    ])
    .onConflict((oc) => oc.column('name').doNothing())
    .execute();
  const rows = await db.selectFrom('server_secrets').select(['name', 'value']).execute();
  const byName = new Map(rows.map((row) => [row.name, row.value]));
  return {
    cookieKeys: [byName.get(COOKIE_KEY)!],
    dpopNonceSecret: Buffer.from(byName.get(DPOP_NONCE_SECRET)!, 'base64url'),
    jwtRecordKey: Buffer.from(byName.get(JWT_RECORD_KEY)!, 'base64url'),
  };
}
