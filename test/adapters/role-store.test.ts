import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OrganizationStore, UnknownOrganizationError } from '../../adapters/organization-store.ts';
import {
  DuplicateRoleError, InheritedRoleOfAnotherOrganizationError, RoleCycleError, RoleInheritedError, RoleStore, UnknownInheritedRoleError,
} from '../../adapters/role-store.ts';
import { patternsOfRoles } from '../../policy/roles.ts';
import { BACKENDS, openTestDatabase, type TestDatabase } from '../support/databases.ts';

describe.each(BACKENDS)('RoleStore on %s', (backend) => {
  let database: TestDatabase;
  let roles: RoleStore;
  beforeAll(async () => {
    database = await openTestDatabase(backend, 'role_store');
    roles = new RoleStore(database.db);
  });
  afterAll(async () => {
    await database?.dispose();
  });

  it('stores three levels of inheritance and expands them', async () => {
    await roles.create({ name: 'viewer', description: null, scopes: ['reports:read'], inherits: [] });
    await roles.create({ name: 'editor', description: 'writes reports', scopes: ['reports:write'], inherits: ['viewer'] });
    const admin = await roles.create({ name: 'admin', description: null, scopes: ['users:*'], inherits: ['editor'] });
    expect(admin).toEqual({ name: 'admin', description: null, scopes: ['users:*'], inherits: ['editor'], orgId: 'default', createdAt: expect.any(Date), updatedAt: expect.any(Date) });
    const { graph } = await roles.graph();
    expect(patternsOfRoles(graph, ['admin'])).toEqual(['users:*', 'reports:write', 'reports:read']);
    expect(await roles.get('editor')).toMatchObject({ description: 'writes reports', inherits: ['viewer'] });
  });

  it('refuses a duplicate, an unknown inherited role, and a cycle with its path', async () => {
    await expect(roles.create({ name: 'viewer', description: null, scopes: [], inherits: [] })).rejects.toThrow(DuplicateRoleError);
    await expect(roles.create({ name: 'x', description: null, scopes: [], inherits: ['nobody'] })).rejects.toThrow(UnknownInheritedRoleError);
    const cycle = roles.replace({ name: 'viewer', description: null, scopes: ['reports:read'], inherits: ['admin'] });
    await expect(cycle).rejects.toThrow(RoleCycleError);
    await expect(cycle).rejects.toMatchObject({ path: ['viewer', 'admin', 'editor', 'viewer'] });
    expect((await roles.get('viewer'))?.inherits).toEqual([]);
  });

  it("keeps an organization's roles to themselves: inherits only its own, lists by organization", async () => {
    await new OrganizationStore(database.db).create({ id: 'acme', name: 'Acme' });
    const own = await roles.create({ name: 'acme-viewer', description: null, scopes: ['acme:read'], inherits: [], orgId: 'acme' });
    expect(own.orgId).toBe('acme');
    await expect(roles.create({ name: 'acme-x', description: null, scopes: [], inherits: ['acme-viewer', 'viewer'], orgId: 'acme' }))
      .rejects.toThrow(new InheritedRoleOfAnotherOrganizationError(['viewer'], 'acme'));
    await expect(roles.replace({ name: 'viewer', description: null, scopes: [], inherits: ['acme-viewer'] })).rejects.toThrow(InheritedRoleOfAnotherOrganizationError);
    expect((await roles.get('viewer'))?.inherits).toEqual([]);
    await expect(roles.create({ name: 'ghostly', description: null, scopes: [], inherits: [], orgId: 'ghost' })).rejects.toThrow(UnknownOrganizationError);
    expect((await roles.list({ limit: 10, orgId: 'acme' })).items.map((role) => role.name)).toEqual(['acme-viewer']);
    expect(await roles.delete('acme-viewer')).toEqual([]);
  });

  it('never lets concurrent edits close a cycle together', async () => {
    await roles.create({ name: 'p', description: null, scopes: [], inherits: [] });
    await roles.create({ name: 'q', description: null, scopes: [], inherits: [] });
    // Each edit alone is fine; both together would be p → q → p.
    const results = await Promise.allSettled([
      roles.replace({ name: 'p', description: null, scopes: [], inherits: ['q'] }),
      roles.replace({ name: 'q', description: null, scopes: [], inherits: ['p'] }),
    ]);
    expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(1);
    expect((results.find((result) => result.status === 'rejected') as PromiseRejectedResult).reason).toBeInstanceOf(RoleCycleError);
  });

  it('assigns, lists holders, unassigns, and refuses to delete an inherited role', async () => {
    const alice = { type: 'user' as const, id: 'user-alice' };
    const bot = { type: 'client' as const, id: 'agent_bot' };
    expect(await roles.assign('editor', alice)).toBe(true);
    expect(await roles.assign('editor', alice)).toBe(false);
    expect(await roles.assign('admin', bot)).toBe(true);
    expect(await roles.assign('nobody', bot)).toBeUndefined();
    expect(await roles.heldBy(alice)).toEqual(['editor']);
    expect((await roles.holders('editor', { limit: 10 })).items).toEqual([{ ...alice, since: expect.any(Date) }]);
    await expect(roles.delete('editor')).rejects.toThrow(RoleInheritedError);
    expect(await roles.unassign('editor', alice)).toBe(true);
    expect(await roles.unassign('editor', alice)).toBe(false);
    expect(await roles.heldBy(alice)).toEqual([]);
    expect(await roles.delete('admin')).toEqual([bot]);
    expect(await roles.heldBy(bot)).toEqual([]);
    expect(await roles.delete('admin')).toBeUndefined();
  });

  it('pages holders with a cursor', async () => {
    for (const id of ['u1', 'u2', 'u3']) await roles.assign('viewer', { type: 'user', id });
    await roles.assign('viewer', { type: 'client', id: 'c1' });
    const first = await roles.holders('viewer', { limit: 2 });
    expect(first.items.map((holder) => `${holder.type}:${holder.id}`)).toEqual(['client:c1', 'user:u1']);
    const second = await roles.holders('viewer', { limit: 2, cursor: first.nextCursor ?? undefined });
    expect(second.items.map((holder) => `${holder.type}:${holder.id}`)).toEqual(['user:u2', 'user:u3']);
    expect(await roles.forget({ type: 'user', id: 'u2' })).toEqual(['viewer']);
  });
});
