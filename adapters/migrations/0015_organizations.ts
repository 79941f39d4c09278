// Organizations (issue 18 part 2): users, agents, registered clients and resources each belong to one. A
// `default` organization is seeded and every existing and future row without one belongs to it, so a
// single-tenant deployment sees nothing new. Which other organizations' principals may act for an
// organization's users is a table of pairs the operator sets (cross-organization delegation as explicit policy),
// and an organization's operators hold admin credentials of their own, kept only as hashes. Audit events name the
// organization they are about, so the trail can be read one organization at a time.
import { sql, type Kysely } from 'kysely';

const MEMBER_TABLES = ['users', 'agents', 'clients', 'resources'] as const;

// Frozen history, like every migration: no imports of today's types.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('organizations')
    .addColumn('id', 'text', (col) => col.primaryKey())
    .addColumn('name', 'text', (col) => col.notNull())
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .execute();
  await db.insertInto('organizations').values({ id: 'default', name: 'Default organization' }).execute();

  for (const table of MEMBER_TABLES) {
    await db.schema
      .alterTable(table)
      // RESTRICT: an organization with members is not deleted out from under them (OrganizationStore says so first).
      .addColumn('org_id', 'text', (col) => col.notNull().defaultTo('default').references('organizations.id').onDelete('restrict'))
      .execute();
    await db.schema.createIndex(`${table}_org_id`).on(table).column('org_id').execute();
  }

  await db.schema
    .createTable('organization_actor_orgs')
    // The organization whose users are acted for, and one whose principals may act for them.
    .addColumn('org_id', 'text', (col) => col.notNull().references('organizations.id').onDelete('cascade'))
    .addColumn('actor_org_id', 'text', (col) => col.notNull().references('organizations.id').onDelete('cascade'))
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('organization_actor_orgs_pkey', ['org_id', 'actor_org_id'])
    .execute();

  await db.schema
    .createTable('organization_admin_credentials')
    .addColumn('id', 'text', (col) => col.primaryKey())
    // Its credentials end with the organization.
    .addColumn('org_id', 'text', (col) => col.notNull().references('organizations.id').onDelete('cascade'))
    // sha256 of the bearer token, never the token: a leaked table grants nothing.
    .addColumn('token_hash', 'text', (col) => col.notNull().unique())
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('organization_admin_credentials_org_id').on('organization_admin_credentials').column('org_id').execute();

  // No foreign key: the trail outlives the organizations it names. Null for events of no one organization.
  await db.schema.alterTable('audit_events').addColumn('org_id', 'text').execute();
  await db.schema.createIndex('audit_events_org_id_at').on('audit_events').columns(['org_id', 'at']).execute();
}
