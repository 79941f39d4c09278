// The JWS algorithm a resource's JWT access tokens are signed with, for resource servers that cannot verify our
// default (RFC 9068 §4 obliges them to support RS256 only). NULL: the server's default (config/defaults.ts).
// The check holds the column to the algorithms keys/signing-keys.ts creates keys for; a new one needs a migration.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('resources')
    .addColumn('signing_alg', 'text', (col) => col.check(sql`signing_alg IN ('RS256', 'ES256', 'EdDSA')`))
    .execute();
  // Resources registered before the default became ES256 were verified by their servers as RS256: they keep it
  // until the operator clears it, so an upgrade changes no token a deployed resource server already accepts.
  await db.updateTable('resources').set({ signing_alg: 'RS256' }).execute();
}
