// The authorization servers this server, as an enterprise IdP, issues Identity Assertion JWT Authorization
// Grants for (grants/id-jag-issuance.ts): each by its issuer, with the resources it serves, how our clients are
// known there, and the scopes it may be granted.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('id_jag_audiences')
    .addColumn('issuer', 'text', (col) => col.primaryKey())
    .addColumn('name', 'text')
    .addColumn('resources', 'jsonb', (col) => col.notNull())
    .addColumn('clients', 'jsonb', (col) => col.notNull())
    .addColumn('scopes', 'jsonb')
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .execute();
}
