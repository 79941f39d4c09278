import { createHash, randomBytes } from 'node:crypto';
import { exportJWK, generateKeyPair } from 'jose';
import Provider, { type AdapterPayload } from 'oidc-provider';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OwnerOfAnotherOrganizationError, PostgresClientAdapter, clientSecretMatches, isHashedClientSecret } from '../../adapters/client-store.ts';
import { OrganizationStore, UnknownOrganizationError } from '../../adapters/organization-store.ts';
import { UserStore } from '../../adapters/user-store.ts';
import { BACKENDS, openTestDatabase, type TestDatabase } from '../support/databases.ts';

// What oidc-provider's secretFactory produces: 64 random bytes, base64url.
const newSecret = () => randomBytes(64).toString('base64url');
const expectedHash = (secret: string) => `sha256$${createHash('sha256').update(secret).digest('base64url')}`;

function confidentialClient(clientId: string, secret: string): AdapterPayload {
  return {
    client_id: clientId,
    client_secret: secret,
    client_secret_expires_at: 0,
    client_name: 'Build agent',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic',
  } as AdapterPayload;
}

describe('clientSecretMatches', () => {
  it('accepts the secret the hash was made from and nothing else', async () => {
    const secret = newSecret();
    const stored = expectedHash(secret);
    expect(await clientSecretMatches(stored, secret)).toBe(true);
    expect(await clientSecretMatches(stored, `${secret}x`)).toBe(false);
    expect(await clientSecretMatches(stored, '')).toBe(false);
    expect(await clientSecretMatches(stored, stored)).toBe(false);
  });

  it('never compares against something that is not a stored hash', async () => {
    // A plaintext value in the column must not become a working credential.
    expect(await clientSecretMatches('plaintext', 'plaintext')).toBe(false);
    expect(await clientSecretMatches('sha256$short', 'x')).toBe(false);
  });

  it('recognizes the stored format', () => {
    expect(isHashedClientSecret(expectedHash('anything'))).toBe(true);
    expect(isHashedClientSecret(newSecret())).toBe(false);
    expect(isHashedClientSecret('sha256$')).toBe(false);
    expect(isHashedClientSecret(`${expectedHash('a')}x`)).toBe(false);
  });
});

describe.each(BACKENDS)('PostgresClientAdapter on %s', (backend) => {
  let database: TestDatabase;
  let adapter: PostgresClientAdapter;
  beforeAll(async () => {
    database = await openTestDatabase(backend, 'client_store');
    adapter = new PostgresClientAdapter(database.db);
  });
  afterAll(async () => {
    await database?.dispose();
  });

  it('moves a client to another organization, column and metadata, with a cut-off for its earlier tokens once that second has passed', async () => {
    const organizations = new OrganizationStore(database.db);
    await organizations.create({ id: 'there', name: 'There' });
    await adapter.upsert('client-mover', confidentialClient('client-mover', newSecret()));
    await expect(adapter.move('client-mover', 'nowhere')).rejects.toThrow(UnknownOrganizationError);
    expect((await adapter.record('client-mover'))?.orgId).toBe('default');
    const started = Date.now();
    const moved = (await adapter.move('client-mover', 'there'))!;
    expect(moved).toMatchObject({ id: 'client-mover', orgId: 'there', metadata: { org_id: 'there', client_name: 'Build agent' } });
    expect(moved.tokensInvalidBefore!.getTime() % 1000).toBe(0);
    expect(moved.tokensInvalidBefore!.getTime()).toBeGreaterThan(started);
    // Answered only once the cut-off second has passed: a token issued from now on lives.
    expect(Date.now()).toBeGreaterThanOrEqual(moved.tokensInvalidBefore!.getTime());
    expect(await adapter.idsLimitedTo('https://nothing.example.test/', { outsideOrg: 'there', limit: 5 })).toEqual([]);
    expect(await adapter.move('no-such-client', 'there')).toBeUndefined();
    expect(await adapter.move('nul\u0000', 'there')).toBeUndefined();

    // A client with an owner moves only to the owner's organization, and nothing changes otherwise.
    const owner = await new UserStore(database.db).create({ username: 'client-owner', password: 'correct horse battery staple' });
    await adapter.upsert('client-owned', { ...confidentialClient('client-owned', newSecret()), owner: owner.id, allowed_resources: ['https://limited.example.test/'] } as AdapterPayload);
    await expect(adapter.move('client-owned', 'there')).rejects.toThrow(OwnerOfAnotherOrganizationError);
    expect(await adapter.record('client-owned')).toMatchObject({ orgId: 'default', tokensInvalidBefore: null });
    expect(await adapter.idsLimitedTo('https://limited.example.test/', { outsideOrg: 'there', limit: 5 })).toEqual(['client-owned']);
    expect(await adapter.idsLimitedTo('https://limited.example.test/', { outsideOrg: 'default', limit: 5 })).toEqual([]);
    await adapter.destroy('client-owned');
    await adapter.destroy('client-mover');
  });

  it('never lets a user be deleted while a client naming it as owner is registered at the same moment (30 rounds, raced)', async () => {
    const users = new UserStore(database.db);
    for (let round = 0; round < 30; round += 1) {
      const owner = await users.create({ username: `raced-owner-${round}`, password: 'correct horse battery staple' });
      const clientId = `raced-client-${round}`;
      const [registered, deleted] = await Promise.allSettled([
        adapter.upsert(clientId, { ...confidentialClient(clientId, newSecret()), owner: owner.id } as AdapterPayload),
        users.delete(owner.id),
      ]);
      // Exactly one wins: the client with its owner kept, or the owner gone and no client naming it.
      if (registered.status === 'fulfilled') {
        expect(deleted, `round ${round}`).toMatchObject({ status: 'rejected', reason: { code: 'ERR_USER_OWNS_AGENTS' } });
        expect(await users.findById(owner.id)).toBeDefined();
        await adapter.destroy(clientId);
        expect(await users.delete(owner.id)).toBe(true);
      } else {
        expect(registered.reason, `round ${round}`).toMatchObject({ error: 'invalid_client_metadata', error_description: `owner: "${owner.id}" is not a user` });
        expect(deleted).toEqual({ status: 'fulfilled', value: true });
        expect(await adapter.record(clientId)).toBeUndefined();
      }
    }
  });

  it('stores no plaintext secret anywhere in the row', async () => {
    const secret = newSecret();
    await adapter.upsert('agent-hashed', confidentialClient('agent-hashed', secret));

    const row = await database.db.selectFrom('clients').selectAll().where('client_id', '=', 'agent-hashed').executeTakeFirstOrThrow();
    expect(JSON.stringify(row)).not.toContain(secret);
    expect(row.metadata).not.toHaveProperty('client_secret');
    expect(row.client_secret_hash).toBe(expectedHash(secret));
    expect(row.metadata).toMatchObject({ client_id: 'agent-hashed', client_name: 'Build agent', client_secret_expires_at: 0 });
  });

  it('finds the metadata with the hash in place of the secret', async () => {
    const secret = newSecret();
    await adapter.upsert('agent-find', confidentialClient('agent-find', secret));
    const found = await adapter.find('agent-find');
    expect(found).toEqual({ ...confidentialClient('agent-find', secret), client_secret: expectedHash(secret) });
    expect(await clientSecretMatches(found!.client_secret as string, secret)).toBe(true);
  });

  it('keeps an already hashed secret as it is (a client update writes back what find returned)', async () => {
    const secret = newSecret();
    await adapter.upsert('agent-update', confidentialClient('agent-update', secret));
    const found = await adapter.find('agent-update');
    await adapter.upsert('agent-update', { ...found!, client_name: 'Renamed agent' });

    const updated = await adapter.find('agent-update');
    expect(updated).toMatchObject({ client_name: 'Renamed agent', client_secret: expectedHash(secret) });
    const row = await database.db.selectFrom('clients').selectAll().where('client_id', '=', 'agent-update').executeTakeFirstOrThrow();
    expect(row.updated_at.getTime()).toBeGreaterThanOrEqual(row.created_at.getTime());
  });

  it('replaces the hash when a new plaintext secret is stored', async () => {
    const first = newSecret();
    const second = newSecret();
    await adapter.upsert('agent-rotate', confidentialClient('agent-rotate', first));
    await adapter.upsert('agent-rotate', confidentialClient('agent-rotate', second));
    const found = await adapter.find('agent-rotate');
    expect(found!.client_secret).toBe(expectedHash(second));
  });

  it('stores a public client without any secret', async () => {
    const metadata = { client_id: 'mcp-public', token_endpoint_auth_method: 'none', redirect_uris: ['http://127.0.0.1/cb'] } as AdapterPayload;
    await adapter.upsert('mcp-public', metadata);
    expect(await adapter.find('mcp-public')).toEqual(metadata);
    const row = await database.db.selectFrom('clients').select('client_secret_hash').where('client_id', '=', 'mcp-public').executeTakeFirstOrThrow();
    expect(row.client_secret_hash).toBeNull();
  });

  it('destroys clients, and finds nothing for unknown ids', async () => {
    await adapter.upsert('agent-gone', confidentialClient('agent-gone', newSecret()));
    await adapter.destroy('agent-gone');
    expect(await adapter.find('agent-gone')).toBeUndefined();
    expect(await adapter.find('never-registered')).toBeUndefined();
    await expect(adapter.destroy('never-registered')).resolves.toBeUndefined();
  });

  it('refuses the calls oidc-provider never makes for clients', async () => {
    await expect(adapter.consume()).rejects.toThrow();
    await expect(adapter.findByUid()).rejects.toThrow();
    await expect(adapter.findByUserCode()).rejects.toThrow();
    await expect(adapter.revokeByGrantId()).rejects.toThrow();
  });

  it('cannot be bypassed: the table itself rejects metadata carrying a secret', async () => {
    await expect(
      database.db.insertInto('clients').values({ client_id: 'sneaky', metadata: JSON.stringify({ client_secret: 'plain' }) }).execute(),
    ).rejects.toMatchObject({ code: '23514' });
  });

  it('serves clients oidc-provider accepts, carrying the hash as their secret', async () => {
    const { privateKey } = await generateKeyPair('RS256', { extractable: true });
    const provider = new Provider('http://localhost:3999', {
      jwks: { keys: [await exportJWK(privateKey)] },
      features: { clientCredentials: { enabled: true }, devInteractions: { enabled: false } },
      adapter: (name: string) => {
        if (name !== 'Client') throw new Error(`unexpected model ${name}`);
        return adapter;
      },
    });
    const secret = newSecret();
    await adapter.upsert('agent-provider', confidentialClient('agent-provider', secret));

    const client = await provider.Client.find('agent-provider');
    expect(client?.clientId).toBe('agent-provider');
    expect(client?.clientSecret).toBe(expectedHash(secret));
    expect(client?.clientAuthMethod).toBe('client_secret_basic');

    // oidc-provider's own write path (helpers/add_client.js) stores client.metadata(), secret included.
    await adapter.upsert('agent-provider', client!.metadata() as AdapterPayload);
    expect((await adapter.find('agent-provider'))!.client_secret).toBe(expectedHash(secret));
  });
});
