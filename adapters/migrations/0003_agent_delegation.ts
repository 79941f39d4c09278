// Delegation settings on agents (RFC 8693): the operator's per-agent policy overrides and the `may_act` statement
// put into the agent's tokens.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('agents')
    .addColumn('delegation_policy', 'jsonb')
    .addColumn('may_act', 'jsonb')
    .execute();
  await db.schema
    .alterTable('agents')
    .addCheckConstraint('agents_delegation_objects', sql`(delegation_policy is null or jsonb_typeof(delegation_policy) = 'object')
      and (may_act is null or jsonb_typeof(may_act) = 'object')`)
    .execute();
}
