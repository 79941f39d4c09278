// What RFC 9728 protected-resource metadata needs about a registered resource: a stable id for its metadata URL,
// whether it accepts only DPoP-bound tokens, and where its documentation is.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('resources')
    .addColumn('id', 'text', (col) => col.notNull().defaultTo(sql`'res_' || replace(gen_random_uuid()::text, '-', '')`))
    .addColumn('dpop_required', 'boolean', (col) => col.notNull().defaultTo(false))
    .addColumn('documentation_url', 'text')
    .execute();
  await db.schema.createIndex('resources_id').on('resources').column('id').unique().execute();
}
