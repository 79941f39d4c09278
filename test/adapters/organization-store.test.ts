import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ResourceStore } from '../../adapters/resource-store.ts';
import {
  DEFAULT_ORG, DefaultOrganizationError, DuplicateOrganizationError, OrganizationHasMembersError, OrganizationStore, UnknownOrganizationError,
} from '../../adapters/organization-store.ts';
import { UserStore } from '../../adapters/user-store.ts';
import { BACKENDS, openTestDatabase, type TestDatabase } from '../support/databases.ts';

describe.each(BACKENDS)('OrganizationStore on %s', (backend) => {
  let database: TestDatabase;
  let organizations: OrganizationStore;
  let users: UserStore;
  let resources: ResourceStore;
  beforeAll(async () => {
    database = await openTestDatabase(backend, 'organization_store');
    organizations = new OrganizationStore(database.db);
    users = new UserStore(database.db);
    resources = new ResourceStore(database.db);
  });
  afterAll(async () => {
    await database?.dispose();
  });

  it('has the default organization, and puts a member that names none in it', async () => {
    expect(await organizations.get(DEFAULT_ORG)).toEqual({ id: 'default', name: 'Default organization', allowedActorOrgs: [], createdAt: expect.any(Date) });
    expect((await users.create({ username: 'plain', password: 'long enough password' })).orgId).toBe(DEFAULT_ORG);
  });

  it('creates, lists a page at a time, renames and refuses a duplicate', async () => {
    expect(await organizations.create({ id: 'acme', name: 'Acme' })).toEqual({ id: 'acme', name: 'Acme', allowedActorOrgs: [], createdAt: expect.any(Date) });
    await organizations.create({ id: 'beta', name: 'Beta', allowedActorOrgs: ['acme', 'beta'] });
    await expect(organizations.create({ id: 'acme', name: 'Again' })).rejects.toThrow(DuplicateOrganizationError);
    const first = await organizations.list({ limit: 2 });
    expect(first.items.map((organization) => organization.id)).toEqual(['acme', 'beta']);
    // Its own organization is never stored as an allowed actor: it always is one.
    expect(first.items[1].allowedActorOrgs).toEqual(['acme']);
    const second = await organizations.list({ limit: 2, cursor: first.nextCursor! });
    expect(second).toEqual({ items: [expect.objectContaining({ id: 'default' })], nextCursor: null });
    expect(await organizations.update('acme', { name: 'Acme Inc' })).toMatchObject({ name: 'Acme Inc', allowedActorOrgs: [] });
    expect(await organizations.update('nobody', { name: 'x' })).toBeUndefined();
  });

  it('answers whether one organization may act for another: always for itself, across only for a listed pair, one way', async () => {
    expect(await organizations.allowsActor('acme', 'acme')).toBe(true);
    expect(await organizations.allowsActor('beta', 'acme')).toBe(true);
    expect(await organizations.allowsActor('acme', 'beta')).toBe(false);
    await expect(organizations.update('acme', { allowedActorOrgs: ['beta', 'ghost'] })).rejects.toMatchObject({ field: 'allowed_actor_orgs.1' });
    expect(await organizations.allowsActor('acme', 'beta')).toBe(false);
    await organizations.update('acme', { allowedActorOrgs: ['beta'] });
    expect(await organizations.allowsActor('acme', 'beta')).toBe(true);
    await organizations.update('acme', { allowedActorOrgs: [] });
    expect(await organizations.allowsActor('acme', 'beta')).toBe(false);
  });

  it('refuses a member of an organization that does not exist, naming org_id', async () => {
    await expect(users.create({ username: 'lost', password: 'long enough password', orgId: 'ghost' })).rejects.toThrow(UnknownOrganizationError);
    await expect(resources.create({ identifier: 'https://lost.test/', scopes: [], tokenFormat: 'jwt', accessTokenTtl: 60, orgId: 'ghost' }))
      .rejects.toMatchObject({ field: 'org_id', detail: '"ghost" is not an organization' });
  });

  it('deletes only an organization nothing belongs to, never the default one', async () => {
    await organizations.create({ id: 'gamma', name: 'Gamma' });
    const member = await users.create({ username: 'gus', password: 'long enough password', orgId: 'gamma' });
    await expect(organizations.delete('gamma')).rejects.toThrow(OrganizationHasMembersError);
    await expect(organizations.delete(DEFAULT_ORG)).rejects.toThrow(DefaultOrganizationError);
    await users.delete(member.id);
    expect(await organizations.delete('gamma')).toBe(true);
    expect(await organizations.delete('gamma')).toBe(false);
    expect(await organizations.get('gamma')).toBeUndefined();
  });

  it('never leaves a member in a deleted organization when a member arrives during the delete', async () => {
    await organizations.create({ id: 'race', name: 'Race' });
    const outcomes = await Promise.allSettled([
      organizations.delete('race'),
      users.create({ username: 'racer', password: 'long enough password', orgId: 'race' }),
    ]);
    const [deleted, joined] = outcomes;
    // One of them wins; whichever it is, the database holds no member of a missing organization.
    expect([deleted.status, joined.status].sort()).toEqual(['fulfilled', 'rejected']);
    const organization = await organizations.get('race');
    const racer = await users.findByUsername('racer');
    expect(racer === undefined || organization !== undefined).toBe(true);
  });

  it("keeps an organization's admin credentials as hashes: issued once, found by token, revoked, gone with the organization", async () => {
    await organizations.create({ id: 'creds', name: 'Creds' });
    const issued = (await organizations.issueCredential('creds'))!;
    expect(issued.token).toMatch(/^oat_[A-Za-z0-9_-]{43}$/);
    expect(await organizations.credentialFor(issued.token)).toEqual(issued.credential);
    expect(await organizations.credentialFor(`${issued.token}x`)).toBeUndefined();
    const stored = await database.db.selectFrom('organization_admin_credentials').selectAll().where('id', '=', issued.credential.id).executeTakeFirstOrThrow();
    expect(stored.token_hash).not.toContain(issued.token);
    expect(await organizations.issueCredential('nobody')).toBeUndefined();
    const second = (await organizations.issueCredential('creds'))!;
    expect((await organizations.credentials('creds')).map((credential) => credential.id)).toEqual([issued.credential.id, second.credential.id]);
    expect(await organizations.revokeCredential('acme', issued.credential.id)).toBe(false);
    expect(await organizations.revokeCredential('creds', issued.credential.id)).toBe(true);
    expect(await organizations.credentialFor(issued.token)).toBeUndefined();
    expect(await organizations.delete('creds')).toBe(true);
    expect(await organizations.credentialFor(second.token)).toBeUndefined();
  });

  it('knows nothing of ids PostgreSQL text cannot hold', async () => {
    expect(await organizations.get('nul\u0000')).toBeUndefined();
    expect(await organizations.delete('nul\u0000')).toBe(false);
    expect(await organizations.update('nul\u0000', { name: 'x' })).toBeUndefined();
  });
});
