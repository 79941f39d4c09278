// Approvals per organization (issue 18): an organization's operator lists and decides the backchannel requests of
// its own clients only, and their audit events carry its org_id. Each approval keeps the organization its client
// was in when it asked, as a token keeps the org_id it was issued with. Existing approvals take their client's
// organization now, `default` for a client that is gone or was never registered (a client metadata document).
import { sql, type Kysely } from 'kysely';

// Frozen history, like every migration: no imports of today's types.
export async function up(db: Kysely<any>): Promise<void> {
  // No foreign key: the history outlives the organizations it names (as the audit trail's org_id, migration 0015).
  await db.schema.alterTable('approvals').addColumn('org_id', 'text', (col) => col.notNull().defaultTo('default')).execute();
  await sql`UPDATE approvals SET org_id = agents.org_id FROM agents WHERE agents.id = approvals.client_id`.execute(db);
  await sql`UPDATE approvals SET org_id = clients.org_id FROM clients WHERE clients.client_id = approvals.client_id`.execute(db);
  await db.schema.createIndex('approvals_org_id_created_at').on('approvals').columns(['org_id', 'created_at']).execute();
}
