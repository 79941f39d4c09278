// A user moved to another organization (PATCH /admin/users/:id) has every token issued to it so far end: they
// carry the organization it left. The cut-off is the kill switch's (agents and clients have had one since 0002
// and 0014), kept per user and read at introspection (tokens/token-liveness.ts).
import type { Kysely } from 'kysely';

// Frozen history, like every migration: no imports of today's types.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('users').addColumn('tokens_invalid_before', 'timestamptz').execute();
}
