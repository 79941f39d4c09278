import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidCursorError } from '../../adapters/pagination.ts';
import { ApprovalStore } from '../../adapters/approval-store.ts';
import { OrganizationStore, UnknownOrganizationError } from '../../adapters/organization-store.ts';
import { DuplicateUsernameError, UserStore, type User } from '../../adapters/user-store.ts';
import { BACKENDS, openTestDatabase, type TestDatabase } from '../support/databases.ts';

const STORED_HASH = /^scrypt\$32768\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/;

describe.each(BACKENDS)('UserStore on %s', (backend) => {
  let database: TestDatabase;
  let users: UserStore;
  beforeAll(async () => {
    database = await openTestDatabase(backend, 'user_store');
    users = new UserStore(database.db);
  });
  afterAll(async () => {
    await database?.dispose();
  });

  async function storedHash(id: string): Promise<string> {
    const row = await database.db.selectFrom('users').select('password_hash').where('id', '=', id).executeTakeFirstOrThrow();
    return row.password_hash;
  }

  function expectNoHash(value: unknown, hash: string) {
    const json = JSON.stringify(value);
    expect(json).not.toContain(hash);
    expect(json).not.toMatch(/password|scrypt/i);
  }

  it('names nobody by an id PostgreSQL cannot hold (a NUL, a lone surrogate), and asks the database nothing', async () => {
    for (const id of ['a\u0000b', '\uD800']) {
      expect(await users.findById(id)).toBeUndefined();
      expect(await users.findByUsername(id)).toBeUndefined();
      expect(await users.findByEmail(id)).toEqual([]);
      expect(await users.verifyPassword(id, 'x')).toBeUndefined();
      expect(await users.delete(id)).toBe(false);
      expect(await users.resetPassword(id, 'correct horse battery staple')).toBe(false);
      const approvals = new ApprovalStore(database.db);
      expect(await approvals.get(id)).toBeUndefined();
      expect(await approvals.findByAuthReqId(id)).toBeUndefined();
      expect(await approvals.decide(id, 'approved', { via: 'admin_api' })).toBeUndefined();
      expect(await approvals.approveFirst(id, { via: 'admin_api' })).toBeUndefined();
      expect(await approvals.expire(id)).toBeUndefined();
    }
  });

  it('creates a user and finds it by id and by username', async () => {
    const created = await users.create({ username: 'ada', password: 'correct horse battery', email: 'ada@example.com', name: 'Ada' });
    expect(created).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      username: 'ada',
      email: 'ada@example.com',
      name: 'Ada',
      orgId: 'default',
      createdAt: expect.any(Date),
      updatedAt: expect.any(Date),
    });
    expect(await users.findById(created.id)).toEqual(created);
    expect(await users.findByUsername('ada')).toEqual(created);
    expect(await users.findById('00000000-0000-0000-0000-000000000000')).toBeUndefined();
    expect(await users.findByUsername('nobody')).toBeUndefined();
  });

  it('leaves email and name null when not given', async () => {
    const created = await users.create({ username: 'minimal', password: 'minimal password' });
    expect(created).toMatchObject({ email: null, name: null });
  });

  it('refuses a taken username with a typed error', async () => {
    await users.create({ username: 'grace', password: 'first password' });
    const attempt = users.create({ username: 'grace', password: 'second password' });
    await expect(attempt).rejects.toBeInstanceOf(DuplicateUsernameError);
    await expect(attempt).rejects.toMatchObject({ username: 'grace' });
  });

  it('stores only a salted scrypt hash in the documented format', async () => {
    const one = await users.create({ username: 'salt-one', password: 'same password' });
    const two = await users.create({ username: 'salt-two', password: 'same password' });
    const [hashOne, hashTwo] = [await storedHash(one.id), await storedHash(two.id)];
    expect(hashOne).toMatch(STORED_HASH);
    expect(hashTwo).toMatch(STORED_HASH);
    expect(hashOne).not.toBe(hashTwo);
    expect(hashOne).not.toContain('same password');
  });

  it('verifies the right password and refuses a wrong one or an unknown user', async () => {
    const user = await users.create({ username: 'linus', password: 'open sesame 123' });
    expect(await users.verifyPassword('linus', 'open sesame 123')).toEqual(user);
    expect(await users.verifyPassword('linus', 'open sesame 124')).toBeUndefined();
    expect(await users.verifyPassword('linus', '')).toBeUndefined();
    expect(await users.verifyPassword('nobody-here', 'open sesame 123')).toBeUndefined();
  });

  it('treats canonically equivalent passwords as the same password', async () => {
    await users.create({ username: 'unicode', password: 'caf\u00e9 au lait' });
    expect(await users.verifyPassword('unicode', 'cafe\u0301 au lait')).toBeDefined();
  });

  it('spends the same hashing work on unknown usernames as on known ones', async () => {
    await users.create({ username: 'timing', password: 'timing password' });
    const time = async (username: string) => {
      const samples: number[] = [];
      for (let i = 0; i < 3; i += 1) {
        const start = performance.now();
        await users.verifyPassword(username, 'wrong password');
        samples.push(performance.now() - start);
      }
      return samples.sort((a, b) => a - b)[1];
    };
    const known = await time('timing');
    const unknown = await time('no-such-user');
    // Without the dummy scrypt an unknown user would answer in about a database round trip, far below this.
    expect(unknown).toBeGreaterThan(known * 0.4);
  });

  it('refuses a corrupted stored hash without throwing', async () => {
    const user = await users.create({ username: 'corrupt', password: 'fine password' });
    for (const garbage of ['', 'plain', 'scrypt$1099511627776$8$1$c2FsdA$a2V5', `scrypt$32768$8$1$c2FsdA$${'A'.repeat(8)}`]) {
      await database.db.updateTable('users').set({ password_hash: garbage }).where('id', '=', user.id).execute();
      expect(await users.verifyPassword('corrupt', 'fine password')).toBeUndefined();
    }
  });

  it('resets a password: the old one stops working, the new one works', async () => {
    const user = await users.create({ username: 'reset', password: 'old password' });
    const before = await storedHash(user.id);
    expect(await users.resetPassword(user.id, 'new password')).toBe(true);
    expect(await storedHash(user.id)).toMatch(STORED_HASH);
    expect(await storedHash(user.id)).not.toBe(before);
    expect(await users.verifyPassword('reset', 'old password')).toBeUndefined();
    expect(await users.verifyPassword('reset', 'new password')).toMatchObject({ id: user.id });
    expect((await users.findById(user.id))!.updatedAt.getTime()).toBeGreaterThanOrEqual(user.updatedAt.getTime());
    expect(await users.resetPassword('00000000-0000-0000-0000-000000000000', 'whatever')).toBe(false);
  });

  it('deletes users', async () => {
    const user = await users.create({ username: 'deleted', password: 'short lived' });
    expect(await users.delete(user.id)).toBe(true);
    expect(await users.findById(user.id)).toBeUndefined();
    expect(await users.verifyPassword('deleted', 'short lived')).toBeUndefined();
    expect(await users.delete(user.id)).toBe(false);
  });

  it('lists every user once, in username order, across pages', async () => {
    for (const name of ['page-c', 'page-a', 'page-e', 'page-b', 'page-d']) {
      await users.create({ username: name, password: 'listing password' });
    }
    const all: User[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await users.list({ limit: 2, cursor });
      expect(page.items.length).toBeLessThanOrEqual(2);
      all.push(...page.items);
      cursor = page.nextCursor ?? undefined;
      pages += 1;
    } while (cursor);

    const usernames = all.map((user) => user.username);
    expect(usernames).toEqual([...usernames].sort());
    expect(new Set(usernames).size).toBe(usernames.length);
    expect(usernames).toEqual(expect.arrayContaining(['page-a', 'page-b', 'page-c', 'page-d', 'page-e']));
    expect(pages).toBe(Math.ceil(usernames.length / 2));

    const everything = await users.list({ limit: 200 });
    expect(everything.items.map((user) => user.username)).toEqual(usernames);
    expect(everything.nextCursor).toBeNull();
  });

  it('rejects a cursor it did not issue', async () => {
    await expect(users.list({ limit: 2, cursor: 'not-a-cursor' })).rejects.toBeInstanceOf(InvalidCursorError);
    await expect(users.list({ limit: 2, cursor: Buffer.from('{"a":1}').toString('base64url') })).rejects.toBeInstanceOf(InvalidCursorError);
  });

  it('moves a user to another organization, with a cut-off for its earlier tokens once that second has passed', async () => {
    await new OrganizationStore(database.db).create({ id: 'elsewhere', name: 'Elsewhere' });
    const user = await users.create({ username: 'mover', password: 'correct horse battery staple' });
    expect(await users.tokensInvalidBefore(user.id)).toBeUndefined();
    await expect(users.move(user.id, 'nowhere')).rejects.toThrow(UnknownOrganizationError);
    expect((await users.findById(user.id))?.orgId).toBe('default');
    const started = Date.now();
    const moved = await users.move(user.id, 'elsewhere');
    expect(moved).toMatchObject({ id: user.id, orgId: 'elsewhere' });
    const cutOff = (await users.tokensInvalidBefore(user.id))!;
    expect(cutOff.getTime() % 1000).toBe(0);
    expect(cutOff.getTime()).toBeGreaterThan(started);
    // Answered only once the cut-off second has passed: a token issued from now on lives.
    expect(Date.now()).toBeGreaterThanOrEqual(cutOff.getTime());
    expect(await users.move('no-such-user', 'elsewhere')).toBeUndefined();
    expect(await users.tokensInvalidBefore('no-such-user')).toBeUndefined();
    expect(await users.tokensInvalidBefore('nul\u0000')).toBeUndefined();
    expect(await users.delete(user.id)).toBe(true);
  });

  it('never returns a password hash', async () => {
    const created = await users.create({ username: 'no-leak', password: 'hidden password' });
    const hash = await storedHash(created.id);
    expectNoHash(created, hash);
    expectNoHash(await users.findById(created.id), hash);
    expectNoHash(await users.findByUsername('no-leak'), hash);
    expectNoHash(await users.verifyPassword('no-leak', 'hidden password'), hash);
    expectNoHash(await users.list({ limit: 200 }), hash);
  });
});
