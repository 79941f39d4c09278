// Roles per organization (issue 18 part 2): an organization's operator manages its own roles, so each role
// belongs to one organization, `default` for every existing role. A role inherits only roles of its organization
// and is held only by its organization's users and clients (server/routes/admin-roles.ts). Names stay unique
// across organizations: tokens carry role names, and role_assignments and inheritance refer to roles by name.
import type { Kysely } from 'kysely';

// Frozen history, like every migration: no imports of today's types.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('roles')
    // RESTRICT, as for the other members (migration 0015): an organization with roles is not deleted under them.
    .addColumn('org_id', 'text', (col) => col.notNull().defaultTo('default').references('organizations.id').onDelete('restrict'))
    .execute();
  await db.schema.createIndex('roles_org_id').on('roles').columns(['org_id', 'name']).execute();
}
