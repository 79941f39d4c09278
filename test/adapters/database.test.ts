import { rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../adapters/database.ts';
import { migrateToLatest } from '../../adapters/migrate.ts';
import { BACKENDS, openTestDatabase, temporaryDirectory, type Backend, type TestDatabase } from '../support/databases.ts';
import { createTestSchema } from '../support/services.ts';

const TABLES = ['agent_credentials', 'agents', 'audit_events', 'clients', 'organization_actor_orgs', 'organization_admin_credentials', 'organizations', 'resources', 'server_secrets', 'signing_keys', 'users'];
const MIGRATIONS = ['0001_initial', '0002_agents', '0003_agent_delegation', '0004_resource_metadata', '0005_audit_event_ids', '0007_id_jag_audiences', '0009_resource_signing_alg', '0010_roles', '0012_user_email_lookup', '0013_approval_tiers', '0014_client_lifecycle', '0015_organizations', '0016_second_approval', '0017_organization_roles', '0018_user_token_cut_off', '0019_approval_organizations'];

const databases = {} as Record<Backend, TestDatabase>;
beforeAll(async () => {
  for (const backend of BACKENDS) databases[backend] = await openTestDatabase(backend, 'database');
});
afterAll(async () => {
  for (const backend of BACKENDS) await databases[backend]?.dispose();
});

describe.each(BACKENDS)('on %s', (backend) => {
  it('creates every table and records the migration', async () => {
    const { db } = databases[backend];
    const tables = (await db.introspection.getTables()).map((table) => table.name);
    expect(tables).toEqual(expect.arrayContaining(TABLES));
    const applied = await sql<{ name: string }>`select name from kysely_migration`.execute(db);
    expect(applied.rows.map((row) => row.name)).toEqual(MIGRATIONS);
  });

  it('treats running the migrations again as a no-op', async () => {
    const { db } = databases[backend];
    await db.insertInto('server_secrets').values({ name: `kept-${backend}`, value: 'v' }).execute();
    await migrateToLatest(db);
    await migrateToLatest(db);
    const applied = await sql<{ name: string }>`select name from kysely_migration`.execute(db);
    expect(applied.rows).toHaveLength(MIGRATIONS.length);
    expect(await db.selectFrom('server_secrets').select('value').where('name', '=', `kept-${backend}`).executeTakeFirst()).toEqual({ value: 'v' });
  });

  it('answers ping', async () => {
    await expect(databases[backend].ping()).resolves.toBeUndefined();
  });

  it('enforces the check constraints', async () => {
    const { db } = databases[backend];
    await expect(
      db.insertInto('signing_keys').values({ kid: `k-${backend}`, alg: 'ES256', private_jwk: '{}', status: 'bogus' as 'next' }).execute(),
    ).rejects.toMatchObject({ code: '23514' });
    await expect(
      db.insertInto('audit_events').values({ event: 'e', outcome: 'maybe' as 'success' }).execute(),
    ).rejects.toMatchObject({ code: '23514' });
  });

  it('runs transactions one at a time and rolls a failed one back', async () => {
    const { db } = databases[backend];
    await sql`create table tx_probe (seen integer not null, label text not null)`.execute(db);
    // Each transaction reads how many rows exist, yields, then writes that count. Interleaved transactions on a
    // shared session would read the same count; serialized ones each see a different one.
    const runs = Array.from({ length: 20 }, (_, i) =>
      db.transaction().execute(async (trx) => {
        const { rows } = await sql<{ n: string }>`select count(*) as n from tx_probe`.execute(trx);
        await sleep(1);
        await sql`insert into tx_probe (seen, label) values (${Number(rows[0].n)}, ${`t${i}`})`.execute(trx);
        if (i === 7) throw new Error('roll me back');
      }),
    );
    const outcomes = await Promise.allSettled(runs);
    expect(outcomes.filter((outcome) => outcome.status === 'rejected')).toHaveLength(1);
    const { rows } = await sql<{ seen: number; label: string }>`select seen, label from tx_probe order by seen`.execute(db);
    expect(rows.map((row) => row.label)).not.toContain('t7');
    expect(rows).toHaveLength(19);
    if (backend === 'embedded') {
      // One connection: strictly one after another, so every transaction saw all earlier commits.
      expect(rows.map((row) => row.seen)).toEqual(Array.from({ length: 19 }, (_, i) => i));
    }
    await sql`drop table tx_probe`.execute(db);
  });
});

describe('values read back', () => {
  async function sample(backend: Backend) {
    const { db } = databases[backend];
    const at = new Date('2024-05-06T07:08:09.123Z');
    await db
      .insertInto('audit_events')
      .values({ at, event: 'sample', outcome: 'success', actor: JSON.stringify({ sub: 'a' }), details: JSON.stringify({ list: [1, 'two', null], nested: { ok: true } }) })
      .execute();
    const audit = await db.selectFrom('audit_events').selectAll().where('event', '=', 'sample').executeTakeFirstOrThrow();
    await db.insertInto('resources').values({ identifier: 'https://api.example/', scopes: JSON.stringify(['read']), token_format: 'jwt', access_token_ttl: 300 }).execute();
    const resource = await db.selectFrom('resources').selectAll().executeTakeFirstOrThrow();
    const count = await db.selectFrom('resources').select(db.fn.countAll().as('n')).executeTakeFirstOrThrow();
    const scalars = await sql<Record<string, unknown>>`
      select 9007199254740993::int8 as big, 5::int4 as int, 1.50::numeric as num, 2.5::float8 as float, true as bool,
             '2024-05-06 07:08:09.123456+02'::timestamptz as tstz, '{"a":[1,2]}'::jsonb as jsonb, null::text as nothing`.execute(db);
    return { audit, resource, count, scalars: scalars.rows[0], at };
  }

  it('are the same JavaScript values on both backends', async () => {
    const postgres = await sample('postgres');
    const embedded = await sample('embedded');

    for (const { audit, resource, count, scalars, at } of [postgres, embedded]) {
      expect(typeof audit.id).toBe('string');
      expect(audit.at).toBeInstanceOf(Date);
      expect(audit.at.toISOString()).toBe(at.toISOString());
      expect(audit.actor).toEqual({ sub: 'a' });
      expect(audit.details).toEqual({ list: [1, 'two', null], nested: { ok: true } });
      expect(resource.scopes).toEqual(['read']);
      expect(resource.access_token_ttl).toBe(300);
      expect(resource.created_at).toBeInstanceOf(Date);
      expect(resource.name).toBeNull();
      expect(count.n).toBe('1');
      expect(scalars).toEqual({
        big: '9007199254740993', int: 5, num: '1.50', float: 2.5, bool: true,
        tstz: new Date('2024-05-06T05:08:09.123Z'), jsonb: { a: [1, 2] }, nothing: null,
      });
    }
    const { created_at: _pc, updated_at: _pu, id: _pid, ...postgresResource } = postgres.resource;
    const { created_at: _ec, updated_at: _eu, id: _eid, ...embeddedResource } = embedded.resource;
    expect(embeddedResource).toEqual(postgresResource);
    const { id: _pi, ...postgresAudit } = postgres.audit;
    const { id: _ei, ...embeddedAudit } = embedded.audit;
    expect(embeddedAudit).toEqual(postgresAudit);
  });
});

describe('embedded database', () => {
  it('keeps its data across close and reopen', async () => {
    const dataDir = await temporaryDirectory('reopen');
    try {
      const first = await openDatabase({ dataDir });
      expect(first.mode).toBe('embedded');
      await first.db.insertInto('server_secrets').values({ name: 'survivor', value: 'still here' }).execute();
      await first.close();

      const second = await openDatabase({ dataDir });
      try {
        const row = await second.db.selectFrom('server_secrets').select('value').where('name', '=', 'survivor').executeTakeFirst();
        expect(row).toEqual({ value: 'still here' });
        const applied = await sql<{ name: string }>`select name from kysely_migration`.execute(second.db);
        expect(applied.rows).toHaveLength(MIGRATIONS.length);
      } finally {
        await second.close();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('refuses queries after close', async () => {
    const dataDir = await temporaryDirectory('closed');
    try {
      const database = await openDatabase({ dataDir });
      await database.close();
      await database.close();
      await expect(database.db.selectFrom('users').selectAll().execute()).rejects.toThrow();
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('postgres database', () => {
  it('migrates a second schema in the same database independently', async () => {
    const other = await createTestSchema('database_second');
    try {
      const database = await openDatabase({ url: other.url, dataDir: '/nonexistent' });
      expect(database.mode).toBe('postgres');
      const tables = await sql<{ table_name: string }>`
        select table_name from information_schema.tables where table_schema = ${other.schema} order by table_name`.execute(database.db);
      expect(tables.rows.map((row) => row.table_name)).toEqual(expect.arrayContaining([...TABLES, 'kysely_migration']));
      await database.close();
    } finally {
      await other.drop();
    }
  });

  it('fails with a clear message when the server cannot be reached', async () => {
    await expect(openDatabase({ url: 'postgres://postgres@127.0.0.1:1/test', dataDir: '/nonexistent' })).rejects.toThrow(
      /database migrations could not run: .*ECONNREFUSED/,
    );
  });
});
