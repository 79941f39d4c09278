// Human approval of agent actions (CIBA with RFC 9396 details): each client's approval tiers
// (policy/approval-tiers.ts), and every approval request with its decision, kept as history after the
// backchannel request itself (short-lived, in Redis or memory) is gone. Numbered 0013: 0011 and 0012 are
// taken by other changes of the same release.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('approval_policies')
    // Any client id: an agent's or an operator-registered client's (both are OAuth clients).
    .addColumn('client_id', 'text', (col) => col.primaryKey())
    .addColumn('policy', 'jsonb', (col) => col.notNull())
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createTable('approvals')
    .addColumn('id', 'text', (col) => col.primaryKey())
    .addColumn('auth_req_id', 'text', (col) => col.notNull().unique())
    .addColumn('client_id', 'text', (col) => col.notNull())
    .addColumn('user_id', 'text', (col) => col.notNull())
    .addColumn('scope', 'text', (col) => col.notNull())
    .addColumn('authorization_details', 'jsonb')
    .addColumn('binding_message', 'text')
    .addColumn('tier', 'text', (col) => col.notNull().check(sql`tier in ('soft', 'strong')`))
    .addColumn('reasons', 'jsonb', (col) => col.notNull())
    .addColumn('status', 'text', (col) => col.notNull().check(sql`status in ('pending', 'approved', 'denied', 'expired')`))
    .addColumn('expires_at', 'timestamptz', (col) => col.notNull())
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('decided_at', 'timestamptz')
    .addColumn('decided_by', 'jsonb')
    .execute();
  await db.schema.createIndex('approvals_by_status').on('approvals').columns(['status', 'created_at', 'id']).execute();
  await db.schema.createIndex('approvals_by_user').on('approvals').columns(['user_id', 'created_at', 'id']).execute();
}
