// Audit events relayed from the Redis stream carry the id they were given when recorded: a relay that dies
// between its INSERT and its acknowledgement, or two relays claiming the same entry, write the event once.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('audit_events').addColumn('event_id', 'text').execute();
  // NULLs are distinct: events written locally (embedded mode) need no id.
  await db.schema.createIndex('audit_events_event_id').on('audit_events').column('event_id').unique().execute();
}
