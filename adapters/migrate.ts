// Schema migrations, applied at every start before anything reads the database. Several instances starting at
// once are safe: kysely's Migrator takes a PostgreSQL advisory lock, so exactly one applies each migration.
import { sql } from 'kysely';
import { Migrator, type Migration, type MigrationProvider } from 'kysely/migration';
import type { Database } from './database.ts';
import { StorageUnavailable } from './dependency-faults.ts';
import * as initial from './migrations/0001_initial.ts';
import * as agents from './migrations/0002_agents.ts';
import * as agentDelegation from './migrations/0003_agent_delegation.ts';
import * as resourceMetadata from './migrations/0004_resource_metadata.ts';
import * as auditEventIds from './migrations/0005_audit_event_ids.ts';
import * as idJagAudiences from './migrations/0007_id_jag_audiences.ts';
import * as resourceSigningAlg from './migrations/0009_resource_signing_alg.ts';
import * as roles from './migrations/0010_roles.ts';
import * as userEmailLookup from './migrations/0012_user_email_lookup.ts';
import * as approvalTiers from './migrations/0013_approval_tiers.ts';
import * as clientLifecycle from './migrations/0014_client_lifecycle.ts';
import * as organizations from './migrations/0015_organizations.ts';
import * as secondApproval from './migrations/0016_second_approval.ts';
import * as organizationRoles from './migrations/0017_organization_roles.ts';
import * as userTokenCutOff from './migrations/0018_user_token_cut_off.ts';
import * as approvalOrganizations from './migrations/0019_approval_organizations.ts';

// Listed here rather than read from the directory so migrations resolve the same from any working directory
// and in any packaging. Names sort in the order they must run; never rename or edit a released migration.
const migrations: MigrationProvider = {
  async getMigrations(): Promise<Record<string, Migration>> {
    return { '0001_initial': initial, '0002_agents': agents, '0003_agent_delegation': agentDelegation,
      '0004_resource_metadata': resourceMetadata,
      '0005_audit_event_ids': auditEventIds,
      '0007_id_jag_audiences': idJagAudiences,
      '0009_resource_signing_alg': resourceSigningAlg,
      '0010_roles': roles,
      '0012_user_email_lookup': userEmailLookup,
      '0013_approval_tiers': approvalTiers,
      '0014_client_lifecycle': clientLifecycle,
      '0015_organizations': organizations,
      '0016_second_approval': secondApproval,
      '0017_organization_roles': organizationRoles,
      '0018_user_token_cut_off': userTokenCutOff,
      '0019_approval_organizations': approvalOrganizations,
    };
  },
};

export async function migrateToLatest(db: Database): Promise<void> {
  const migrator = new Migrator({
    db,
    provider: migrations,
    // kysely looks for its bookkeeping tables in every schema unless told which one; with another schema in the
    // same database already migrated it would wrongly conclude ours is too.
    migrationTableSchema: await currentSchema(db),
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error !== undefined) {
    const failed = results?.find((result) => result.status === 'Error')?.migrationName;
    const reason = failureReason(error);
    throw new Error(failed ? `database migration ${failed} failed: ${reason}` : `database migrations could not run: ${reason}`, {
      cause: error,
    });
  }
}

async function currentSchema(db: Database): Promise<string> {
  const query = sql<{ schema: string | null }>`select current_schema() as schema`;
  const result = await query.execute(db).catch((error: Error) => {
    throw new Error(`database migrations could not run: ${failureReason(error)}`, { cause: error });
  });
  const schema = result.rows[0]?.schema;
  if (!schema) throw new Error('database migrations could not run: no schema on the search_path exists');
  return schema;
}

function failureReason(error: unknown): string {
  // StorageUnavailable's message is its OAuth error code; what actually failed is its cause.
  if (error instanceof StorageUnavailable && error.cause instanceof Error) return error.cause.message;
  return error instanceof Error ? error.message : String(error);
}
