import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { up } from '../../adapters/migrations/0009_resource_signing_alg.ts';
import { LocalChangeFeed } from '../../adapters/change-feed.ts';
import { InvalidCursorError } from '../../adapters/pagination.ts';
import { ReadThroughCache } from '../../adapters/read-through-cache.ts';
import { DuplicateResourceError, ResourceStore, type NewResource, type Resource } from '../../adapters/resource-store.ts';
import { BACKENDS, openTestDatabase, type TestDatabase } from '../support/databases.ts';

const calendar: NewResource = {
  identifier: 'https://calendar.example/api',
  name: 'Calendar',
  scopes: ['calendar:read', 'calendar:write'],
  tokenFormat: 'jwt',
  accessTokenTtl: 600,
};

describe.each(BACKENDS)('ResourceStore on %s', (backend) => {
  let database: TestDatabase;
  let resources: ResourceStore;
  beforeAll(async () => {
    database = await openTestDatabase(backend, 'resource_store');
    resources = new ResourceStore(database.db);
  });
  afterAll(async () => {
    await database?.dispose();
  });

  it('creates a resource and reads it back with its types intact', async () => {
    const created = await resources.create(calendar);
    expect(created).toEqual({
      ...calendar, id: expect.stringMatching(/^res_[0-9a-f]{32}$/), dpopRequired: false, documentationUrl: null, signingAlg: null, orgId: 'default', createdAt: expect.any(Date), updatedAt: expect.any(Date),
    });
    expect(await resources.findById(created.id)).toEqual(created);
    expect(await resources.get(calendar.identifier)).toEqual(created);
    expect(await resources.get('https://unknown.example/')).toBeUndefined();
  });

  it('stores a resource without a name or scopes', async () => {
    const created = await resources.create({ identifier: 'https://bare.example/', scopes: [], tokenFormat: 'opaque', accessTokenTtl: 60 });
    expect(created).toMatchObject({ name: null, scopes: [], tokenFormat: 'opaque', accessTokenTtl: 60 });
  });

  it('refuses a registered identifier with a typed error and leaves the original alone', async () => {
    await resources.create({ ...calendar, identifier: 'https://dup.example/' });
    const attempt = resources.create({ ...calendar, identifier: 'https://dup.example/', name: 'Impostor' });
    await expect(attempt).rejects.toBeInstanceOf(DuplicateResourceError);
    await expect(attempt).rejects.toMatchObject({ identifier: 'https://dup.example/' });
    expect((await resources.get('https://dup.example/'))!.name).toBe('Calendar');
  });

  it('finds the resources defining any of some scopes, by exact scope, in identifier order', async () => {
    await resources.create({ identifier: 'https://scoped-b.example/', scopes: ['scoped:read', 'shared'], tokenFormat: 'opaque', accessTokenTtl: 60 });
    await resources.create({ identifier: 'https://scoped-a.example/', scopes: ['scoped:write', 'shared'], tokenFormat: 'opaque', accessTokenTtl: 60 });
    const identifiers = async (scopes: string[]) => (await resources.definingAnyScope(scopes)).map((r) => r.identifier);
    expect(await identifiers(['scoped:read'])).toEqual(['https://scoped-b.example/']);
    expect(await identifiers(['shared'])).toEqual(['https://scoped-a.example/', 'https://scoped-b.example/']);
    expect(await identifiers(['scoped:read', 'scoped:write'])).toEqual(['https://scoped-a.example/', 'https://scoped-b.example/']);
    // No pattern matching and no partial matches; quotes and NUL are data, not syntax.
    expect(await identifiers(['scoped:*', 'scoped', 'shared"', 'x\u0000'])).toEqual([]);
    expect(await identifiers([])).toEqual([]);
  });

  it('updates only the fields given and can clear the name', async () => {
    const created = await resources.create({ ...calendar, identifier: 'https://patch.example/' });
    const scoped = await resources.update('https://patch.example/', { scopes: ['only:this'] });
    expect(scoped).toEqual({ ...created, scopes: ['only:this'], updatedAt: expect.any(Date) });
    expect(scoped!.updatedAt.getTime()).toBeGreaterThanOrEqual(created.updatedAt.getTime());

    const changed = await resources.update('https://patch.example/', { name: null, tokenFormat: 'opaque', accessTokenTtl: 30 });
    expect(changed).toMatchObject({ name: null, scopes: ['only:this'], tokenFormat: 'opaque', accessTokenTtl: 30 });
    expect(await resources.get('https://patch.example/')).toEqual(changed);

    expect(await resources.update('https://patch.example/', {})).toMatchObject({ name: null, accessTokenTtl: 30 });
    expect(await resources.update('https://missing.example/', { name: 'x' })).toBeUndefined();
  });

  it('keeps a signing algorithm of its own, and forgets it when cleared', async () => {
    const created = await resources.create({ ...calendar, identifier: 'https://legacy-rs.example/', signingAlg: 'RS256' });
    expect(created.signingAlg).toBe('RS256');
    expect((await resources.get('https://legacy-rs.example/'))!.signingAlg).toBe('RS256');
    expect(await resources.update('https://legacy-rs.example/', { scopes: [] })).toMatchObject({ signingAlg: 'RS256' });
    expect(await resources.update('https://legacy-rs.example/', { signingAlg: 'EdDSA' })).toMatchObject({ signingAlg: 'EdDSA' });
    expect(await resources.update('https://legacy-rs.example/', { signingAlg: null })).toMatchObject({ signingAlg: null });
  });

  it('deletes resources', async () => {
    await resources.create({ ...calendar, identifier: 'https://gone.example/' });
    expect(await resources.delete('https://gone.example/')).toBe(true);
    expect(await resources.get('https://gone.example/')).toBeUndefined();
    expect(await resources.delete('https://gone.example/')).toBe(false);
  });

  it('lists every resource once, in identifier order, across pages', async () => {
    for (const host of ['c', 'a', 'b']) {
      await resources.create({ ...calendar, identifier: `https://list-${host}.example/` });
    }
    const all: Resource[] = [];
    let cursor: string | undefined;
    do {
      const page = await resources.list({ limit: 2, cursor });
      expect(page.items.length).toBeLessThanOrEqual(2);
      all.push(...page.items);
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    const identifiers = all.map((resource) => resource.identifier);
    expect(identifiers).toEqual([...identifiers].sort());
    expect(new Set(identifiers).size).toBe(identifiers.length);
    expect(identifiers).toEqual(expect.arrayContaining(['https://list-a.example/', 'https://list-b.example/', 'https://list-c.example/']));
    expect((await resources.list({ limit: 500 })).items).toEqual(all);
  });

  it('hands every caller of a cached store its own copy: altering one changes no later read', async () => {
    const cached = new ResourceStore(database.db, new ReadThroughCache('resources', new LocalChangeFeed()));
    const created = await cached.create({ ...calendar, identifier: 'https://copies.example/' });
    const first = (await cached.get(created.identifier))!;
    first.scopes.push('calendar:admin');
    first.accessTokenTtl = 1;
    first.createdAt.setTime(0);
    expect(await cached.get(created.identifier)).toEqual(created);
  });

  it('keeps the catalogue for the scope rule in memory, and forgets it on every create, update and delete', async () => {
    const feed = new LocalChangeFeed();
    const cached = new ResourceStore(database.db, new ReadThroughCache('resources', feed), new ReadThroughCache('resource-catalogue', feed));
    const identifiers = async (scope: string) => (await cached.definingAnyScope([scope])).map((r) => r.identifier);
    expect(await identifiers('catalogue:read')).toEqual([]);
    await cached.create({ identifier: 'https://catalogue.example/', scopes: ['catalogue:read'], tokenFormat: 'opaque', accessTokenTtl: 60 });
    expect(await identifiers('catalogue:read')).toEqual(['https://catalogue.example/']);
    await cached.update('https://catalogue.example/', { scopes: ['catalogue:write'] });
    expect(await identifiers('catalogue:read')).toEqual([]);
    expect(await identifiers('catalogue:write')).toEqual(['https://catalogue.example/']);
    // Served from memory: a row changed behind the store's back is not seen until the store announces a change.
    await database.db.updateTable('resources').set({ scopes: JSON.stringify(['catalogue:sneaky']) }).where('identifier', '=', 'https://catalogue.example/').execute();
    expect(await identifiers('catalogue:write')).toEqual(['https://catalogue.example/']);
    await cached.delete('https://catalogue.example/');
    expect(await identifiers('catalogue:write')).toEqual([]);
    expect(await identifiers('catalogue:sneaky')).toEqual([]);
    // Each caller gets its own copy.
    await cached.create({ identifier: 'https://catalogue-copy.example/', scopes: ['copy:read'], tokenFormat: 'opaque', accessTokenTtl: 60 });
    (await cached.definingAnyScope(['copy:read']))[0].scopes.push('copy:admin');
    expect((await cached.definingAnyScope(['copy:read']))[0].scopes).toEqual(['copy:read']);
  });

  it('rejects a cursor it did not issue', async () => {
    await expect(resources.list({ limit: 1, cursor: '!!' })).rejects.toBeInstanceOf(InvalidCursorError);
  });

  it('cannot store an unknown token format or a non-positive lifetime', async () => {
    await expect(resources.create({ ...calendar, identifier: 'https://bad.example/', tokenFormat: 'paseto' as 'jwt' })).rejects.toMatchObject({ code: '23514' });
    await expect(resources.create({ ...calendar, identifier: 'https://bad.example/', accessTokenTtl: 0 })).rejects.toMatchObject({ code: '23514' });
    await expect(resources.create({ ...calendar, identifier: 'https://bad.example/', signingAlg: 'HS256' as 'RS256' })).rejects.toMatchObject({ code: '23514' });
  });
});

describe.each(BACKENDS)('migration 0009_resource_signing_alg on %s', (backend) => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await openTestDatabase(backend, 'resource_signing_alg');
  });
  afterAll(async () => {
    await database?.dispose();
  });

  it('keeps RS256 for the resources registered before it, whose servers verified RS256, and the default for new ones', async () => {
    const resources = new ResourceStore(database.db);
    // The schema as it was before the migration, holding one resource.
    await sql`ALTER TABLE resources DROP COLUMN signing_alg`.execute(database.db);
    await sql`INSERT INTO resources (identifier, scopes, token_format, access_token_ttl) VALUES ('https://deployed.example/', '[]', 'jwt', 600)`.execute(database.db);
    await up(database.db);
    expect((await resources.get('https://deployed.example/'))!.signingAlg).toBe('RS256');
    expect((await resources.create({ ...calendar, identifier: 'https://new.example/' })).signingAlg).toBeNull();
  });
});
