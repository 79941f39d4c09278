// Agents: clients with an accountable owner, a lifecycle and scope patterns, and their credentials (public keys
// or secret hashes), several at once while a rotation's grace period runs.
import { sql, type Kysely } from 'kysely';

// Frozen history, like every migration: no imports of today's types.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('agents')
    .addColumn('id', 'text', (col) => col.primaryKey())
    .addColumn('name', 'text', (col) => col.notNull())
    .addColumn('description', 'text')
    // An agent must always have an accountable human: a user who owns agents cannot be deleted.
    .addColumn('owner_id', 'text', (col) => col.notNull().references('users.id').onDelete('restrict'))
    .addColumn('status', 'text', (col) => col.notNull())
    .addColumn('scopes', 'jsonb', (col) => col.notNull())
    .addColumn('default_scopes', 'jsonb', (col) => col.notNull())
    .addColumn('resources', 'jsonb')
    .addColumn('access_token_ttl', 'integer')
    .addColumn('token_endpoint_auth_method', 'text', (col) => col.notNull())
    // Tokens issued before this instant are dead (the kill switch); set when the agent is suspended or revoked.
    .addColumn('tokens_invalid_before', 'timestamptz(3)')
    .addColumn('created_at', 'timestamptz(3)', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz(3)', (col) => col.notNull().defaultTo(sql`now()`))
    .addCheckConstraint('agents_status', sql`status in ('active', 'suspended', 'revoked')`)
    .addCheckConstraint('agents_scopes_is_array', sql`jsonb_typeof(scopes) = 'array' and jsonb_typeof(default_scopes) = 'array'`)
    .addCheckConstraint('agents_resources_is_array', sql`resources is null or jsonb_typeof(resources) = 'array'`)
    .addCheckConstraint('agents_access_token_ttl_positive', sql`access_token_ttl is null or access_token_ttl > 0`)
    .addCheckConstraint('agents_auth_method', sql`token_endpoint_auth_method in ('private_key_jwt', 'client_secret_basic', 'client_secret_post')`)
    .execute();
  await db.schema.createIndex('agents_owner_id').on('agents').columns(['owner_id', 'id']).execute();
  await db.schema.createIndex('agents_status').on('agents').columns(['status', 'id']).execute();

  await db.schema
    .createTable('agent_credentials')
    .addColumn('id', 'text', (col) => col.primaryKey())
    .addColumn('agent_id', 'text', (col) => col.notNull().references('agents.id').onDelete('cascade'))
    .addColumn('type', 'text', (col) => col.notNull())
    .addColumn('public_jwk', 'jsonb')
    .addColumn('secret_hash', 'text')
    .addColumn('created_at', 'timestamptz(3)', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('expires_at', 'timestamptz(3)')
    .addCheckConstraint('agent_credentials_shape', sql`(type = 'jwk' and public_jwk is not null and secret_hash is null)
      or (type = 'secret' and secret_hash is not null and public_jwk is null)`)
    // A private key must never be stored, even by mistake.
    .addCheckConstraint('agent_credentials_public_only', sql`public_jwk is null or not (public_jwk ?| array['d','p','q','dp','dq','qi','k'])`)
    .execute();
  await db.schema.createIndex('agent_credentials_agent_id').on('agent_credentials').column('agent_id').execute();
}
