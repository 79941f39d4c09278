// Roles (policy/roles.ts): named bundles of scope patterns that may inherit other roles, and which users and
// clients hold them. Numbered after 0008/0009, which other changes of the same release take.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('roles')
    .addColumn('name', 'text', (col) => col.primaryKey())
    .addColumn('description', 'text')
    .addColumn('scopes', 'jsonb', (col) => col.notNull())
    .addColumn('inherits', 'jsonb', (col) => col.notNull())
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createTable('role_assignments')
    // A role held by anyone is deleted with its assignments (the admin API cuts their tokens off first).
    .addColumn('role_name', 'text', (col) => col.notNull().references('roles.name').onDelete('cascade'))
    .addColumn('principal_type', 'text', (col) => col.notNull().check(sql`principal_type in ('user', 'client')`))
    .addColumn('principal_id', 'text', (col) => col.notNull())
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('role_assignments_pkey', ['principal_type', 'principal_id', 'role_name'])
    .execute();
  await db.schema.createIndex('role_assignments_by_role').on('role_assignments').columns(['role_name', 'principal_type', 'principal_id']).execute();
}
