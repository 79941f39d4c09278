// The first schema: clients, users, resources, signing keys, server secrets and the audit trail.
import { sql, type Kysely } from 'kysely';

// Migrations are frozen history: they describe the schema as it was, so they must not depend on today's types.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('clients')
    .addColumn('client_id', 'text', (col) => col.primaryKey())
    .addColumn('metadata', 'jsonb', (col) => col.notNull())
    .addColumn('client_secret_hash', 'text')
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addCheckConstraint('clients_metadata_is_object', sql`jsonb_typeof(metadata) = 'object'`)
    // The plaintext secret must never reach disk (see adapters/client-store.ts).
    .addCheckConstraint('clients_metadata_has_no_secret', sql`not metadata ? 'client_secret'`)
    .execute();

  await db.schema
    .createTable('users')
    .addColumn('id', 'text', (col) => col.primaryKey())
    .addColumn('username', 'text', (col) => col.notNull().unique())
    .addColumn('password_hash', 'text', (col) => col.notNull())
    .addColumn('email', 'text')
    .addColumn('name', 'text')
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createTable('resources')
    .addColumn('identifier', 'text', (col) => col.primaryKey())
    .addColumn('name', 'text')
    .addColumn('scopes', 'jsonb', (col) => col.notNull())
    .addColumn('token_format', 'text', (col) => col.notNull())
    .addColumn('access_token_ttl', 'integer', (col) => col.notNull())
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addCheckConstraint('resources_scopes_is_array', sql`jsonb_typeof(scopes) = 'array'`)
    .addCheckConstraint('resources_token_format', sql`token_format in ('jwt', 'opaque')`)
    .addCheckConstraint('resources_access_token_ttl_positive', sql`access_token_ttl > 0`)
    .execute();

  await db.schema
    .createTable('signing_keys')
    .addColumn('kid', 'text', (col) => col.primaryKey())
    .addColumn('alg', 'text', (col) => col.notNull())
    .addColumn('private_jwk', 'jsonb', (col) => col.notNull())
    .addColumn('status', 'text', (col) => col.notNull())
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('promoted_at', 'timestamptz')
    .addColumn('retired_at', 'timestamptz')
    .addCheckConstraint('signing_keys_status', sql`status in ('next', 'active', 'retired')`)
    .execute();

  await db.schema
    .createTable('server_secrets')
    .addColumn('name', 'text', (col) => col.primaryKey())
    .addColumn('value', 'text', (col) => col.notNull())
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createTable('audit_events')
    .addColumn('id', 'bigint', (col) => col.generatedAlwaysAsIdentity().primaryKey())
    // Millisecond precision, like a JavaScript Date, so a page cursor built from a row's `at` matches it exactly.
    .addColumn('at', 'timestamptz(3)', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('event', 'text', (col) => col.notNull())
    .addColumn('client_id', 'text')
    .addColumn('subject', 'text')
    .addColumn('actor', 'jsonb')
    .addColumn('outcome', 'text', (col) => col.notNull())
    .addColumn('reason', 'text')
    .addColumn('request_id', 'text')
    .addColumn('source_ip', 'text')
    .addColumn('details', 'jsonb')
    .addCheckConstraint('audit_events_outcome', sql`outcome in ('success', 'failure')`)
    .execute();
  await db.schema.createIndex('audit_events_client_id_at').on('audit_events').columns(['client_id', 'at']).execute();
  await db.schema.createIndex('audit_events_event_at').on('audit_events').columns(['event', 'at']).execute();
  await db.schema.createIndex('audit_events_at').on('audit_events').column('at').execute();
}
