// A `strong` approval tier may need a second approver (policy/approval-tiers.ts `second_approvers`): the request
// remembers whom it may come from, and the first approval until the second completes it. Numbered 0016: 0015 is
// taken by another change of the same release.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('approvals')
    // User ids of whom one must approve after the named user; null when one approval is enough.
    .addColumn('second_approvers', 'jsonb')
    .addColumn('first_approved_by', 'jsonb')
    .addColumn('first_approved_at', 'timestamptz')
    .execute();
}
