// Operator-registered clients (RFC 7591 with the initial access token, or the admin API) get the lifecycle
// agents have: a status, the kill-switch cut-off, and the secrets still inside a rotation's grace period.
// Numbered 0014: 0011 stays unused (taken by another change of the same release).
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('clients')
    .addColumn('status', 'text', (col) => col.notNull().defaultTo('active').check(sql`status in ('active', 'suspended', 'revoked')`))
    .addColumn('tokens_invalid_before', 'timestamptz')
    // [{ "hash": "sha256$…", "expires_at": "<ISO instant>" }]: secrets replaced by a rotation, until their grace ends.
    .addColumn('previous_secret_hashes', 'jsonb', (col) => col.notNull().defaultTo(sql`'[]'::jsonb`))
    .execute();
}
