// Organizations (issue 18 part 2, first slice) through HTTP on both storage modes: the admin API, the default
// organization seeing nothing change, `org_id` in JWTs and at introspection, and each isolation rule refused at
// the token endpoint with its exact OAuth error and nothing issued: another organization's resource
// (invalid_target), another organization's subject token (invalid_request) until the operator allows that pair of
// organizations, and a client signing in, or asking the backchannel for, another organization's user
// (unauthorized_client).
import { decodeJwt } from 'jose';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminRequest } from '../support/admin.ts';
import { signInAndConsent } from '../support/browser.ts';
import { insecure, registerPublicApp, userAccessToken } from '../support/delegation.ts';
import { STORAGE_MODES, startTestServer, type TestServer } from '../support/server.ts';

const DEFAULT_RES = 'https://default.orgs.example.test/';
const ACME_RES = 'https://api.acme.orgs.example.test/';
const BETA_RES = 'https://api.beta.orgs.example.test/';
const TE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const CIBA = 'urn:openid:params:grant-type:ciba';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';
const PASSWORD = 'correct horse battery staple';
const REDIRECT_URI = 'http://127.0.0.1:8979/callback';

interface SecretAgent {
  id: string;
  client_secret: string;
  org_id: string;
  config: oidc.Configuration;
}

describe.each(STORAGE_MODES)('organizations (%s)', (mode) => {
  let server: TestServer;
  let issuer: URL;
  let dora: { id: string };
  let ada: { id: string };
  let bo: { id: string };
  let defaultBot: SecretAgent;
  let acmeBot: SecretAgent;
  let betaBot: SecretAgent;

  const call = async (method: string, path: string, body?: unknown) => {
    const response = await adminRequest(server, method, path, body);
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined };
  };

  async function created(path: string, body: Record<string, unknown>) {
    const answer = await call('POST', path, body);
    expect(answer.status, JSON.stringify(answer.body)).toBe(201);
    return answer.body;
  }

  async function agent(name: string, owner: string, scopes: string[], orgId?: string): Promise<SecretAgent> {
    const body = await created('/admin/agents', { name, owner, scopes, ...(orgId ? { org_id: orgId } : {}) });
    return { ...body, config: await oidc.discovery(issuer, body.id, undefined, oidc.ClientSecretBasic(body.client_secret), insecure) };
  }

  /** A token request as openid-client sends it, answered with the token response or the refusal's body. */
  async function refusal(request: Promise<unknown>): Promise<{ status: number; error: string; description: string }> {
    const error = await request.then(() => undefined, (caught: unknown) => caught as oidc.ResponseBodyError);
    expect(error, 'the request should have been refused').toBeInstanceOf(oidc.ResponseBodyError);
    return { status: error!.status, error: error!.error, description: error!.error_description ?? '' };
  }

  async function introspect(holder: SecretAgent, token: string) {
    return oidc.tokenIntrospection(holder.config, token);
  }

  const exchange = (actor: SecretAgent, subjectToken: string, params: Record<string, string> = {}) =>
    oidc.genericGrantRequest(actor.config, TE, { subject_token: subjectToken, subject_token_type: ACCESS_TOKEN, ...params });

  /** A user token for an agent's owner, through CIBA poll mode with the operator approving. */
  async function ownerToken(bot: SecretAgent, scope: string, bindingMessage: string): Promise<string> {
    const started = await oidc.initiateBackchannelAuthentication(bot.config, { scope: `openid ${scope}`, login_hint: 'owner', binding_message: bindingMessage });
    const listed = await call('GET', `/admin/approvals?client_id=${encodeURIComponent(bot.id)}&status=pending`);
    const approval = (listed.body.items as { id: string; binding_message: string }[]).find((item) => item.binding_message === bindingMessage)!;
    expect((await call('POST', `/admin/approvals/${approval.id}/approve`)).status).toBe(200);
    const response = await fetch(bot.config.serverMetadata().token_endpoint!, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${bot.id}:${bot.client_secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: CIBA, auth_req_id: started.auth_req_id }),
    });
    const body = (await response.json()) as { access_token: string };
    expect(response.status, JSON.stringify(body)).toBe(200);
    return body.access_token;
  }

  beforeAll(async () => {
    server = await startTestServer(mode, `e2e-orgs-${mode}`, { CIBA_POLL_INTERVAL: '1' });
    issuer = new URL(server.issuer);
    await created('/admin/organizations', { id: 'acme', name: 'Acme' });
    await created('/admin/organizations', { id: 'beta', name: 'Beta' });
    dora = await created('/admin/users', { username: 'dora', password: PASSWORD });
    ada = await created('/admin/users', { username: 'ada', password: PASSWORD, org_id: 'acme' });
    bo = await created('/admin/users', { username: 'bo', password: PASSWORD, org_id: 'beta' });
    await created('/admin/resources', { identifier: DEFAULT_RES, scopes: ['files:read'], token_format: 'jwt' });
    await created('/admin/resources', { identifier: ACME_RES, scopes: ['acme:read'], token_format: 'opaque', org_id: 'acme' });
    await created('/admin/resources', { identifier: BETA_RES, scopes: ['beta:read'], token_format: 'jwt', org_id: 'beta' });
    defaultBot = await agent('default-bot', dora.id, ['files:read', 'acme:read']);
    acmeBot = await agent('acme-bot', ada.id, ['acme:read', 'beta:read', 'files:read'], 'acme');
    betaBot = await agent('beta-bot', bo.id, ['beta:read', 'acme:read'], 'beta');
  }, 180_000);
  afterAll(() => server?.stop());

  describe('the admin API', () => {
    it('has the default organization seeded and shows org_id on every member', async () => {
      expect((await call('GET', '/admin/organizations/default')).body).toEqual({ id: 'default', name: 'Default organization', allowed_actor_orgs: [], created_at: expect.any(String) });
      expect((await call('GET', '/admin/organizations')).body).toEqual({
        items: [expect.objectContaining({ id: 'acme', name: 'Acme' }), expect.objectContaining({ id: 'beta' }), expect.objectContaining({ id: 'default' })],
        next_cursor: null,
      });
      expect((await call('GET', `/admin/users/${dora.id}`)).body.org_id).toBe('default');
      expect((await call('GET', `/admin/users/${ada.id}`)).body.org_id).toBe('acme');
      expect((await call('GET', `/admin/agents/${acmeBot.id}`)).body.org_id).toBe('acme');
      expect((await call('GET', `/admin/agents/${defaultBot.id}`)).body.org_id).toBe('default');
      expect((await call('GET', `/admin/clients/${betaBot.id}`)).body.org_id).toBe('beta');
      expect((await call('GET', `/admin/resources/${encodeURIComponent(BETA_RES)}`)).body.org_id).toBe('beta');
      expect((await call('GET', `/admin/resources/${encodeURIComponent(DEFAULT_RES)}`)).body.org_id).toBe('default');
    });

    it('refuses an unknown organization, a duplicate and malformed input, naming the field', async () => {
      const refusals: [string, unknown, string, string][] = [
        ['/admin/users', { username: 'nobody', password: PASSWORD, org_id: 'nope' }, 'org_id', 'org_id: "nope" is not an organization'],
        ['/admin/resources', { identifier: 'https://nope.orgs.example.test/', org_id: 'nope' }, 'org_id', 'org_id: "nope" is not an organization'],
        ['/admin/agents', { name: 'x', owner: ada.id, scopes: [], org_id: 'nope' }, 'org_id', 'org_id: "nope" is not an organization'],
        ['/admin/agents', { name: 'x', owner: dora.id, scopes: [], org_id: 'acme' }, 'owner', `owner: belongs to organization "default", not the agent's "acme"`],
        ['/admin/agents', { name: 'x', owner: ada.id, scopes: [], org_id: 'acme', resources: [ACME_RES, BETA_RES] }, 'resources.1', `resources.1: "${BETA_RES}" belongs to another organization than the agent's ("acme")`],
        ['/admin/users', { username: 'bad', password: PASSWORD, org_id: 'Not Valid' }, 'org_id', 'org_id: must be 1–63 lower-case letters, digits, "_" or "-", starting with a letter or digit'],
        ['/admin/organizations', { id: 'acme', name: 'Again' }, 'id', 'id: is already an organization'],
        ['/admin/organizations', { id: 'x', name: 'X', allowed_actor_orgs: ['acme', 'ghost'] }, 'allowed_actor_orgs.1', 'allowed_actor_orgs.1: "ghost" is not an organization'],
        ['/admin/organizations', { id: 'x' }, 'name', expect.stringContaining('name: ') as unknown as string],
        ['/admin/organizations', { id: 'x', name: 'X', extra: 1 }, 'body', expect.stringContaining('extra') as unknown as string],
      ];
      for (const [path, body, field, description] of refusals) {
        const answer = await call('POST', path, body);
        expect(answer, `${path} ${JSON.stringify(body)}`).toEqual({ status: 400, body: { error: 'invalid_request', error_description: description, field } });
      }
      expect((await call('GET', '/admin/organizations/x')).status).toBe(404);
      expect((await call('GET', '/admin/organizations/nul%00')).status).toBe(404);
      expect((await call('PATCH', '/admin/organizations/ghost', { name: 'G' })).status).toBe(404);
      expect((await call('PATCH', '/admin/organizations/acme', { allowed_actor_orgs: ['ghost'] }))).toMatchObject({ status: 400, body: { field: 'allowed_actor_orgs.0' } });
    });

    it('deletes only an organization without members, never the default one, and audits every change', async () => {
      expect(await call('DELETE', '/admin/organizations/acme')).toEqual({ status: 409, body: { error: 'invalid_request', error_description: 'organization "acme" still has users, agents, resources; delete them or move them first' } });
      expect((await call('DELETE', '/admin/organizations/default')).status).toBe(409);
      await created('/admin/organizations', { id: 'gamma', name: 'Gamma', allowed_actor_orgs: ['acme', 'gamma'] });
      expect((await call('GET', '/admin/organizations/gamma')).body.allowed_actor_orgs).toEqual(['acme']);
      expect(await call('PATCH', '/admin/organizations/gamma', { name: 'Gamma Ltd' })).toMatchObject({ status: 200, body: { name: 'Gamma Ltd', allowed_actor_orgs: ['acme'] } });
      expect((await call('DELETE', '/admin/organizations/gamma')).status).toBe(204);
      expect((await call('DELETE', '/admin/organizations/gamma')).status).toBe(404);
      // Deleting an organization takes it out of every other one's allowed actors.
      await created('/admin/organizations', { id: 'delta', name: 'Delta' });
      await call('PATCH', '/admin/organizations/beta', { allowed_actor_orgs: ['delta'] });
      expect((await call('DELETE', '/admin/organizations/delta')).status).toBe(204);
      expect((await call('GET', '/admin/organizations/beta')).body.allowed_actor_orgs).toEqual([]);

      const events = async () => ((await call('GET', '/admin/audit?limit=200')).body.items as { event: string; details: { organization: string } }[])
        .filter((item) => item.event.startsWith('organization.')).map((item) => `${item.event} ${item.details.organization}`).sort();
      await expect.poll(events, { timeout: 10_000 }).toEqual([
        'organization.created acme', 'organization.created beta', 'organization.created delta', 'organization.created gamma',
        'organization.deleted delta', 'organization.deleted gamma', 'organization.updated beta', 'organization.updated gamma',
      ]);
    });

    it("puts user and resource changes on their organization's audit trail, and on no other's", async () => {
      const changes = async (orgId: string) => {
        const user = await created('/admin/users', { username: `audited-${orgId}`, password: PASSWORD, org_id: orgId });
        expect((await call('POST', `/admin/users/${user.id}/password`, { password: 'another long password' })).status).toBe(204);
        expect((await call('DELETE', `/admin/users/${user.id}`)).status).toBe(204);
        const identifier = `https://audited.${orgId}.orgs.example.test/`;
        const path = `/admin/resources/${encodeURIComponent(identifier)}`;
        await created('/admin/resources', { identifier, scopes: [`${orgId}:audited`], org_id: orgId });
        expect((await call('PATCH', path, { name: 'Audited' })).status).toBe(200);
        expect((await call('DELETE', path)).status).toBe(204);
        return { user: user.id as string, resource: identifier };
      };
      const acme = await changes('acme');
      const beta = await changes('beta');
      const trail = async (orgId: string) => ((await call('GET', `/admin/audit?org_id=${orgId}&limit=500`)).body.items as { event: string; subject: string; org_id: string; actor: unknown }[])
        .filter((item) => /^(user|resource)\./.test(item.event) && [acme.user, acme.resource, beta.user, beta.resource].includes(item.subject));
      const expected = (of: { user: string; resource: string }) => [
        `resource.created ${of.resource}`, `resource.deleted ${of.resource}`, `resource.updated ${of.resource}`,
        `user.created ${of.user}`, `user.deleted ${of.user}`, `user.password_reset ${of.user}`,
      ];
      const listed = async (orgId: string) => (await trail(orgId)).map((item) => `${item.event} ${item.subject}`).sort();
      await expect.poll(() => listed('acme'), { timeout: 10_000 }).toEqual(expected(acme));
      expect(await listed('beta')).toEqual(expected(beta));
      expect(new Set((await trail('acme')).map((item) => JSON.stringify([item.org_id, item.actor])))).toEqual(new Set([JSON.stringify(['acme', { admin: true }])]));
      // Nothing of a password is on the trail.
      expect(JSON.stringify(await trail('acme'))).not.toContain('another long password');
    });
  });

  describe("an organization's admin credential", () => {
    let acmeAdmin: { url: string; issuer: string; adminToken: string };
    const as = async (method: string, path: string, body?: unknown) => {
      const response = await adminRequest(acmeAdmin, method, path, body);
      const text = await response.text();
      return { status: response.status, body: text ? JSON.parse(text) : undefined };
    };
    const denied = (description: string) => ({ status: 403, body: { error: 'access_denied', error_description: description } });
    const elsewhere = (what: string) => denied(`this ${what} belongs to another organization than this credential's ("acme")`);

    beforeAll(async () => {
      const issued = await call('POST', '/admin/organizations/acme/credentials');
      expect(issued).toMatchObject({ status: 201, body: { id: expect.stringMatching(/^ocr_/), org_id: 'acme', token: expect.stringMatching(/^oat_/) } });
      acmeAdmin = { url: server.url, issuer: server.issuer, adminToken: issued.body.token };
    });

    it("manages its own organization's users, agents and resources, and lists only those", async () => {
      const user = await as('POST', '/admin/users', { username: 'ada2', password: PASSWORD });
      expect(user).toMatchObject({ status: 201, body: { org_id: 'acme' } });
      expect((await as('GET', `/admin/users/${ada.id}`)).status).toBe(200);
      expect(((await as('GET', '/admin/users')).body.items as { org_id: string }[]).map((item) => item.org_id)).toEqual(['acme', 'acme']);
      const bot = await as('POST', '/admin/agents', { name: 'acme-2', owner: user.body.id, scopes: ['acme:read'] });
      expect(bot).toMatchObject({ status: 201, body: { org_id: 'acme' } });
      expect(((await as('GET', '/admin/agents')).body.items as { id: string }[]).map((item) => item.id).sort()).toEqual([acmeBot.id, bot.body.id].sort());
      expect((await as('POST', `/admin/agents/${bot.body.id}/suspend`)).body.status).toBe('suspended');
      const resource = await as('POST', '/admin/resources', { identifier: 'https://two.acme.orgs.example.test/', scopes: ['acme:write'] });
      expect(resource).toMatchObject({ status: 201, body: { org_id: 'acme' } });
      expect(((await as('GET', '/admin/resources')).body.items as { org_id: string }[]).every((item) => item.org_id === 'acme')).toBe(true);
      // Audited as this organization's operator, with the credential named.
      const audited = async () => ((await call('GET', `/admin/audit?client_id=${encodeURIComponent(bot.body.id)}&event=agent.suspended`)).body.items as { actor: unknown }[])[0]?.actor;
      await expect.poll(audited, { timeout: 10_000 }).toEqual({ admin: true, org_id: 'acme', credential: expect.stringMatching(/^ocr_/) });
      expect((await as('DELETE', `/admin/agents/${bot.body.id}`)).status).toBe(204);
      expect((await as('DELETE', `/admin/users/${user.body.id}`)).status).toBe(204);

      // Its audit trail is its organization's alone.
      const trail = (await as('GET', '/admin/audit?limit=500')).body.items as { event: string; org_id: string }[];
      expect(trail.map((item) => item.event)).toEqual(expect.arrayContaining(['agent.created', 'agent.suspended', 'agent.deleted', 'organization.credential_issued']));
      expect(new Set(trail.map((item) => item.org_id))).toEqual(new Set(['acme']));
      expect(await as('GET', '/admin/audit?org_id=beta')).toEqual(denied('this credential is for organization "acme" only'));
      expect((await as('DELETE', `/admin/resources/${encodeURIComponent('https://two.acme.orgs.example.test/')}`)).status).toBe(204);
    });

    it("manages its own organization's roles: creates, grants to its members only, lists only its own", async () => {
      await created('/admin/roles', { name: 'beta-reader', scopes: ['beta:read'], org_id: 'beta' });
      const role = await as('POST', '/admin/roles', { name: 'acme-reader', scopes: ['acme:read'] });
      expect(role).toMatchObject({ status: 201, body: { name: 'acme-reader', org_id: 'acme', effective_scopes: ['acme:read'] } });
      expect(await as('POST', '/admin/roles', { name: 'acme-editor', scopes: ['acme:write'], inherits: ['acme-reader'] })).toMatchObject({ status: 201, body: { effective_roles: ['acme-editor', 'acme-reader'] } });
      // Within its organization only: another's role to inherit, another's user or client to hold it.
      const invalid = (field: string, description: string) => ({ status: 400, body: { error: 'invalid_request', error_description: `${field}: ${description}`, field } });
      expect(await as('POST', '/admin/roles', { name: 'acme-x', inherits: ['beta-reader'] })).toEqual(invalid('inherits', 'inherits "beta-reader", of another organization than the role\'s ("acme")'));
      expect(await as('POST', '/admin/roles/acme-reader/holders', { user_id: bo.id })).toEqual(invalid('user_id', 'belongs to organization "beta", not the role\'s "acme"'));
      expect(await as('POST', '/admin/roles/acme-reader/holders', { client_id: betaBot.id })).toEqual(invalid('client_id', 'belongs to organization "beta", not the role\'s "acme"'));
      expect(await as('POST', '/admin/roles/acme-reader/holders', { user_id: 'no-such-user' })).toEqual(invalid('user_id', 'no such user'));
      // Nor does the platform operator carry a role across: the rule is the role's, not the credential's.
      expect(await call('POST', '/admin/roles/beta-reader/holders', { user_id: ada.id })).toEqual(invalid('user_id', 'belongs to organization "acme", not the role\'s "beta"'));
      expect((await call('POST', '/admin/roles', { name: 'ghostly', org_id: 'ghost' })).body).toMatchObject({ field: 'org_id', error_description: 'org_id: "ghost" is not an organization' });

      expect((await as('POST', '/admin/roles/acme-reader/holders', { client_id: acmeBot.id })).status).toBe(201);
      expect((await as('POST', '/admin/roles/acme-editor/holders', { user_id: ada.id })).status).toBe(201);
      expect((await as('GET', '/admin/roles')).body.items.map((item: { name: string }) => item.name)).toEqual(['acme-editor', 'acme-reader']);
      expect((await as('GET', `/admin/roles?client_id=${encodeURIComponent(acmeBot.id)}`)).body).toMatchObject({ effective_roles: ['acme-reader'] });
      expect((await as('GET', '/admin/roles/acme-reader/holders')).body.items).toEqual([{ client_id: acmeBot.id, since: expect.any(String) }]);
      // The global operator sees every organization's.
      expect((await call('GET', '/admin/roles')).body.items.map((item: { name: string; org_id: string }) => `${item.name} ${item.org_id}`))
        .toEqual(['acme-editor acme', 'acme-reader acme', 'beta-reader beta']);

      // The agent's token names the role; audited as Acme's, by Acme's operator.
      const token = await oidc.clientCredentialsGrant(acmeBot.config, { scope: 'acme:read', resource: ACME_RES });
      expect(await introspect(acmeBot, token.access_token)).toMatchObject({ active: true, roles: ['acme-reader'], org_id: 'acme' });
      const granted = async () => ((await call('GET', `/admin/audit?org_id=acme&event=role.granted`)).body.items as { actor: unknown; org_id: string; details: unknown }[]);
      await expect.poll(async () => (await granted()).length, { timeout: 10_000 }).toBe(2);
      expect((await granted())[0]).toMatchObject({ org_id: 'acme', actor: { admin: true, org_id: 'acme', credential: expect.stringMatching(/^ocr_/) } });

      // Another organization's role is 403 on every route, and nothing changes.
      const elsewhereRole = elsewhere('role');
      for (const [method, path, body] of [
        ['GET', '/admin/roles/beta-reader'], ['PUT', '/admin/roles/beta-reader', { scopes: ['acme:read'] }], ['DELETE', '/admin/roles/beta-reader'],
        ['GET', '/admin/roles/beta-reader/holders'], ['POST', '/admin/roles/beta-reader/holders', { user_id: ada.id }],
        ['DELETE', `/admin/roles/beta-reader/holders/users/${bo.id}`],
      ] as [string, string, unknown?][]) {
        expect(await as(method, path, body), `${method} ${path}`).toEqual(elsewhereRole);
      }
      expect(await as('GET', `/admin/roles?user_id=${bo.id}`)).toEqual(elsewhere('user'));
      expect(await as('POST', '/admin/roles', { name: 'beta-y', org_id: 'beta' })).toEqual(denied('this credential is for organization "acme" only'));
      expect((await call('GET', '/admin/roles/beta-reader')).body).toMatchObject({ scopes: ['beta:read'] });
      expect((await as('GET', '/admin/roles/no-such-role')).status).toBe(404);

      // An organization with roles is not deleted under them.
      expect((await call('DELETE', '/admin/organizations/beta')).body.error_description).toContain('roles');
      expect((await as('DELETE', `/admin/roles/acme-editor/holders/users/${ada.id}`)).status).toBe(204);
      expect((await as('DELETE', '/admin/roles/acme-editor')).status).toBe(204);
      expect((await as('DELETE', `/admin/roles/acme-reader/holders/clients/${acmeBot.id}`)).status).toBe(204);
      expect(await introspect(acmeBot, token.access_token)).toMatchObject({ active: true });
      expect((await as('DELETE', '/admin/roles/acme-reader')).status).toBe(204);
      expect((await call('DELETE', '/admin/roles/beta-reader')).status).toBe(204);
    });

    it("manages its own organization's registered clients, and is refused (403) another's", async () => {
      const register = async (orgId: string) => (await oidc.dynamicClientRegistration(issuer, {
        grant_types: ['client_credentials'], response_types: [], redirect_uris: [], org_id: orgId,
      }, undefined, { ...insecure, initialAccessToken: server.adminToken })).clientMetadata().client_id;
      const mine = await register('acme');
      const theirs = await register('beta');
      const listed = (await as('GET', '/admin/clients?limit=200')).body.items as { client_id: string; org_id: string }[];
      expect(listed.map((item) => item.client_id)).toContain(mine);
      expect(new Set(listed.map((item) => item.org_id))).toEqual(new Set(['acme']));
      expect((await call('GET', '/admin/clients?limit=200')).body.items.map((item: { client_id: string }) => item.client_id)).toEqual(expect.arrayContaining([mine, theirs]));

      expect(await as('GET', `/admin/clients/${mine}`)).toMatchObject({ status: 200, body: { org_id: 'acme' } });
      expect(await as('POST', `/admin/clients/${mine}/suspend`)).toMatchObject({ status: 200, body: { status: 'suspended' } });
      const suspended = async () => ((await call('GET', `/admin/audit?client_id=${encodeURIComponent(mine)}&event=client.suspended`)).body.items as { actor: unknown; org_id: string }[])[0];
      await expect.poll(suspended, { timeout: 10_000 }).toMatchObject({ org_id: 'acme', actor: { admin: true, org_id: 'acme' } });
      for (const [method, path, body] of [
        ['GET', `/admin/clients/${theirs}`], ['POST', `/admin/clients/${theirs}/suspend`], ['POST', `/admin/clients/${theirs}/rotate-credentials`, {}],
        ['DELETE', `/admin/clients/${theirs}`], ['GET', `/admin/clients/${betaBot.id}`], ['POST', `/admin/clients/${betaBot.id}/revoke`],
      ] as [string, string, unknown?][]) {
        expect(await as(method, path, body), `${method} ${path}`).toEqual(elsewhere('client'));
      }
      expect((await call('GET', `/admin/clients/${theirs}`)).body.status).toBe('active');
      expect((await call('GET', `/admin/clients/${betaBot.id}`)).body.status).toBe('active');
      expect((await as('DELETE', `/admin/clients/${mine}`)).status).toBe(204);
      expect((await call('DELETE', `/admin/clients/${theirs}`)).status).toBe(204);
    });

    it('is refused (403) for every member of another organization, and changes nothing', async () => {
      const betaResource = `/admin/resources/${encodeURIComponent(BETA_RES)}`;
      const refusals: [string, string, unknown, ReturnType<typeof denied>][] = [
        ['GET', `/admin/users/${bo.id}`, undefined, elsewhere('user')],
        ['GET', `/admin/users/${dora.id}`, undefined, elsewhere('user')],
        ['DELETE', `/admin/users/${bo.id}`, undefined, elsewhere('user')],
        ['POST', `/admin/users/${bo.id}/password`, { password: 'another long password' }, elsewhere('user')],
        ['GET', `/admin/agents/${betaBot.id}`, undefined, elsewhere('agent')],
        ['PATCH', `/admin/agents/${betaBot.id}`, { name: 'mine now' }, elsewhere('agent')],
        ['POST', `/admin/agents/${betaBot.id}/suspend`, undefined, elsewhere('agent')],
        ['POST', `/admin/agents/${betaBot.id}/rotate-credentials`, {}, elsewhere('agent')],
        ['DELETE', `/admin/agents/${betaBot.id}`, undefined, elsewhere('agent')],
        ['GET', betaResource, undefined, elsewhere('resource')],
        ['PATCH', betaResource, { name: 'mine now' }, elsewhere('resource')],
        ['DELETE', betaResource, undefined, elsewhere('resource')],
        ['POST', '/admin/users', { username: 'intruder', password: PASSWORD, org_id: 'beta' }, denied('this credential is for organization "acme" only')],
        ['POST', '/admin/resources', { identifier: 'https://intruder.orgs.example.test/', org_id: 'default' }, denied('this credential is for organization "acme" only')],
      ];
      for (const [method, path, body, expected] of refusals) expect(await as(method, path, body), `${method} ${path}`).toEqual(expected);
      expect((await call('GET', `/admin/agents/${betaBot.id}`)).body).toMatchObject({ name: 'beta-bot', status: 'active' });
      expect((await call('GET', `/admin/users/${bo.id}`)).status).toBe(200);
      expect((await call('GET', betaResource)).body.name).toBeNull();
      expect((await call('GET', '/admin/users?limit=200')).body.items.map((item: { username: string }) => item.username)).not.toContain('intruder');
      // Unknown ids stay 404: nothing there to belong to anyone.
      expect((await as('GET', '/admin/users/no-such-user')).status).toBe(404);
    });

    it("lists and decides only its own clients' approvals (403 for another's), and sets only their approval tiers", async () => {
      const ask = (bot: SecretAgent, scope: string, bindingMessage: string) =>
        oidc.initiateBackchannelAuthentication(bot.config, { scope: `openid ${scope}`, login_hint: 'owner', binding_message: bindingMessage });
      const mine = await ask(acmeBot, 'acme:read', 'acme asks');
      await ask(betaBot, 'beta:read', 'beta asks');
      const pendingOf = async (bot: SecretAgent) => ((await call('GET', `/admin/approvals?client_id=${encodeURIComponent(bot.id)}&status=pending`)).body.items as { id: string }[])[0]!.id;
      const acmeApproval = await pendingOf(acmeBot);
      const betaApproval = await pendingOf(betaBot);

      // Its list is Acme's clients' alone; the platform operator's has both.
      const listed = (await as('GET', '/admin/approvals?limit=200')).body.items as { id: string; client_id: string }[];
      expect(listed.map((item) => item.id)).toContain(acmeApproval);
      expect(new Set(listed.map((item) => item.client_id))).toEqual(new Set([acmeBot.id]));
      expect((await as('GET', `/admin/approvals?client_id=${encodeURIComponent(betaBot.id)}`)).body).toEqual({ items: [], next_cursor: null });
      expect(((await call('GET', '/admin/approvals?status=pending&limit=200')).body.items as { id: string }[]).map((item) => item.id)).toEqual(expect.arrayContaining([acmeApproval, betaApproval]));

      // Another organization's approval is 403 on every route and stays pending; an unknown one stays 404.
      for (const [method, path, body] of [
        ['GET', `/admin/approvals/${betaApproval}`], ['POST', `/admin/approvals/${betaApproval}/approve`], ['POST', `/admin/approvals/${betaApproval}/deny`, { reason: 'not yours' }],
      ] as [string, string, unknown?][]) {
        expect(await as(method, path, body), `${method} ${path}`).toEqual(elsewhere('approval'));
      }
      expect((await call('GET', `/admin/approvals/${betaApproval}`)).body.status).toBe('pending');
      expect((await as('GET', '/admin/approvals/apr_nothing')).status).toBe(404);
      expect((await as('POST', '/admin/approvals/apr_nothing/approve')).status).toBe(404);

      // Acme's operator approves its agent's request; the agent's poll gets the owner's token, Acme's.
      expect(await as('POST', `/admin/approvals/${acmeApproval}/approve`)).toMatchObject({ status: 200, body: { id: acmeApproval, status: 'approved' } });
      const token = await fetch(acmeBot.config.serverMetadata().token_endpoint!, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`${acmeBot.id}:${acmeBot.client_secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: CIBA, auth_req_id: mine.auth_req_id }),
      });
      const issued = (await token.json()) as { access_token: string };
      expect(token.status, JSON.stringify(issued)).toBe(200);
      expect(await introspect(acmeBot, issued.access_token)).toMatchObject({ active: true, sub: ada.id, org_id: 'acme' });
      // The platform operator still decides every organization's.
      expect(await call('POST', `/admin/approvals/${betaApproval}/deny`, { reason: 'not now' })).toMatchObject({ status: 200, body: { status: 'denied' } });

      // Approval tiers: its own clients' only.
      const tiers = { rules: [{ scopes: ['acme:*'], tier: 'soft' }], default: 'autonomous' };
      expect(await as('PUT', `/admin/approval-tiers/${acmeBot.id}`, tiers)).toEqual({ status: 200, body: tiers });
      expect(await as('GET', `/admin/approval-tiers/${acmeBot.id}`)).toEqual({ status: 200, body: tiers });
      const strong = (approver: string) => ({ rules: [{ scopes: ['acme:*'], tier: 'strong', second_approvers: [approver] }] });
      expect(await as('PUT', `/admin/approval-tiers/${acmeBot.id}`, strong(bo.id))).toEqual({
        status: 400, body: { error: 'invalid_request', error_description: `rules.0.second_approvers.0: "${bo.id}" is not a user of organization "acme"`, field: 'rules.0.second_approvers.0' },
      });
      for (const [method, path, body] of [
        ['GET', `/admin/approval-tiers/${betaBot.id}`], ['PUT', `/admin/approval-tiers/${betaBot.id}`, tiers], ['DELETE', `/admin/approval-tiers/${betaBot.id}`],
      ] as [string, string, unknown?][]) {
        expect(await as(method, path, body), `${method} ${path}`).toEqual(elsewhere('client'));
      }
      expect((await call('GET', `/admin/approval-tiers/${betaBot.id}`)).status).toBe(404);
      expect((await as('GET', '/admin/approval-tiers/no-such-client')).status).toBe(404);
      expect((await as('DELETE', `/admin/approval-tiers/${acmeBot.id}`)).status).toBe(204);

      // Every approval event carries the client's organization.
      const events = async (orgId: string) => ((await call('GET', `/admin/audit?org_id=${orgId}&limit=500`)).body.items as { event: string; client_id: string; actor: { org_id?: string } | null }[])
        .filter((item) => item.event.startsWith('approval') && [acmeBot.id, betaBot.id].includes(item.client_id))
        .map((item) => `${item.event} ${item.client_id === acmeBot.id ? 'acme-bot' : 'beta-bot'} ${item.actor?.org_id ?? '-'}`).sort();
      await expect.poll(() => events('acme'), { timeout: 10_000 }).toEqual([
        'approval.approved acme-bot acme', 'approval.requested acme-bot -', 'approval_tiers.deleted acme-bot acme', 'approval_tiers.updated acme-bot acme',
      ]);
      expect(await events('beta')).toEqual(['approval.denied beta-bot -', 'approval.requested beta-bot -']);
      expect((await as('GET', '/admin/audit?event=approval.approved')).body.items.map((item: { client_id: string }) => item.client_id)).toEqual([acmeBot.id]);
    });

    it("is refused (403) every admin route but its organization's users, agents, clients, roles, resources and approvals", async () => {
      const only = denied("an organization's admin credential manages only its users, agents, clients, roles, resources and approvals and reads its audit trail (/admin/users, /admin/agents, /admin/clients, /admin/roles, /admin/resources, /admin/approvals, /admin/approval-tiers, /admin/audit)");
      for (const [method, path] of [
        ['GET', '/admin/organizations'], ['PATCH', '/admin/organizations/acme'], ['POST', '/admin/organizations/acme/credentials'],
        ['GET', '/admin/keys'], ['GET', '/admin/approvalsx'],
        ['GET', '/admin/id-jag-audiences'], ['GET', '/admin/usersx'],
      ]) {
        expect(await as(method, path, method === 'GET' ? undefined : { allowed_actor_orgs: ['beta'] }), `${method} ${path}`).toEqual(only);
      }
      expect((await call('GET', '/admin/organizations/acme')).body.allowed_actor_orgs).toEqual([]);
    });

    it('stops working when revoked, and with its organization; an unknown token is 401 as before', async () => {
      const listed = await call('GET', '/admin/organizations/acme/credentials');
      expect(listed.body.items).toEqual([{ id: expect.stringMatching(/^ocr_/), org_id: 'acme', created_at: expect.any(String) }]);
      expect(JSON.stringify(listed.body)).not.toContain(acmeAdmin.adminToken);
      expect((await call('DELETE', `/admin/organizations/acme/credentials/${listed.body.items[0].id}`)).status).toBe(204);
      expect(await as('GET', '/admin/users')).toMatchObject({ status: 401, body: { error: 'invalid_token' } });
      expect((await call('DELETE', `/admin/organizations/acme/credentials/${listed.body.items[0].id}`)).status).toBe(404);
      expect((await call('POST', '/admin/organizations/ghost/credentials')).status).toBe(404);

      await created('/admin/organizations', { id: 'short', name: 'Short-lived' });
      const shortAdmin = { ...acmeAdmin, adminToken: (await call('POST', '/admin/organizations/short/credentials')).body.token as string };
      expect((await adminRequest(shortAdmin, 'GET', '/admin/users')).status).toBe(200);
      expect((await call('DELETE', '/admin/organizations/short')).status).toBe(204);
      expect((await adminRequest(shortAdmin, 'GET', '/admin/users')).status).toBe(401);
    });
  });

  describe('tokens', () => {
    it('the default organization sees nothing new but the org_id claim, "default", in the JWT and at introspection', async () => {
      const token = await oidc.clientCredentialsGrant(defaultBot.config, { scope: 'files:read', resource: DEFAULT_RES });
      expect(decodeJwt(token.access_token)).toMatchObject({ sub: defaultBot.id, aud: DEFAULT_RES, scope: 'files:read', org_id: 'default' });
      expect(await introspect(defaultBot, token.access_token)).toMatchObject({ active: true, sub: defaultBot.id, org_id: 'default' });

      // A user of the default organization signing in to a client registered through RFC 7591 (the default one too).
      const app = await registerPublicApp(server, REDIRECT_URI);
      const userToken = await userAccessToken(app, REDIRECT_URI, { username: 'dora', password: PASSWORD }, DEFAULT_RES, 'files:read');
      expect(decodeJwt(userToken)).toMatchObject({ sub: dora.id, aud: DEFAULT_RES, org_id: 'default' });
    });

    it("carries the principal's organization: the agent's for its own token, the user's for a user's", async () => {
      const own = await oidc.clientCredentialsGrant(betaBot.config, { scope: 'beta:read', resource: BETA_RES });
      expect(decodeJwt(own.access_token)).toMatchObject({ sub: betaBot.id, org_id: 'beta' });
      // The trail, one organization at a time: the issued token is Beta's, and only Beta's tokens are listed.
      const issued = async (orgId: string) => ((await call('GET', `/admin/audit?org_id=${orgId}&event=token.issued&limit=500`)).body.items as { client_id: string; org_id: string }[]);
      await expect.poll(async () => (await issued('beta')).map((item) => item.client_id), { timeout: 10_000 }).toContain(betaBot.id);
      expect(new Set((await issued('beta')).map((item) => item.org_id))).toEqual(new Set(['beta']));
      expect((await issued('acme')).map((item) => item.client_id)).not.toContain(betaBot.id);
      expect((await call('GET', '/admin/audit?org_id=Not%20An%20Id')).status).toBe(400);
      expect(await introspect(betaBot, own.access_token)).toMatchObject({ active: true, org_id: 'beta' });

      // Opaque: the claim is only at introspection.
      const acme = await oidc.clientCredentialsGrant(acmeBot.config, { scope: 'acme:read', resource: ACME_RES });
      expect(await introspect(acmeBot, acme.access_token)).toMatchObject({ active: true, sub: acmeBot.id, aud: ACME_RES, org_id: 'acme' });

      const user = await ownerToken(acmeBot, 'acme:read', 'read acme reports');
      expect(await introspect(acmeBot, user)).toMatchObject({ active: true, sub: ada.id, act: { sub: acmeBot.id }, org_id: 'acme' });
    });

    it("refuses a token for another organization's resource with invalid_target (RFC 8707 §2), issuing nothing", async () => {
      const before = server.issuedCount();
      const cases: [SecretAgent, string, string, string][] = [
        [acmeBot, 'beta:read', BETA_RES, 'beta'],
        [acmeBot, 'files:read', DEFAULT_RES, 'default'],
        [defaultBot, 'acme:read', ACME_RES, 'acme'],
        [betaBot, 'acme:read', ACME_RES, 'acme'],
      ];
      for (const [bot, scope, resource, resourceOrg] of cases) {
        expect(await refusal(oidc.clientCredentialsGrant(bot.config, { scope, resource }))).toEqual({
          status: 400,
          error: 'invalid_target',
          description: `resource "${resource}" belongs to organization "${resourceOrg}", and the token would be for organization "${bot.org_id}"`,
        });
      }
      expect(server.issuedCount()).toBe(before);
      const refused = async () => ((await call('GET', `/admin/audit?client_id=${encodeURIComponent(betaBot.id)}&event=token.refused`)).body.items as { reason: string }[])[0]?.reason;
      await expect.poll(refused, { timeout: 10_000 }).toBe(`invalid_target: resource "${ACME_RES}" belongs to organization "acme", and the token would be for organization "beta"`);
      // The refused request is on the refused client's organization's trail.
      const betaRefusals = (await call('GET', `/admin/audit?org_id=beta&event=token.refused&limit=500`)).body.items as { client_id: string; org_id: string }[];
      expect(betaRefusals.map((item) => item.client_id)).toContain(betaBot.id);
      expect(new Set(betaRefusals.map((item) => item.org_id))).toEqual(new Set(['beta']));
    });

    it("refuses exchanging another organization's token with invalid_request (RFC 8693 §2.2.2) until the operator allows the pair", async () => {
      const subject = await ownerToken(acmeBot, 'acme:read', 'let others read');
      const agentOwn = (await oidc.clientCredentialsGrant(acmeBot.config, { scope: 'acme:read', resource: ACME_RES })).access_token;
      const before = server.issuedCount();
      const expected = {
        status: 400,
        error: 'invalid_request',
        description: 'subject_token belongs to another organization: organization "beta" may not act for principals of organization "acme" (the operator has not allowed it)',
      };
      expect(await refusal(exchange(betaBot, subject, { resource: ACME_RES }))).toEqual(expected);
      expect(await refusal(exchange(betaBot, agentOwn, { resource: ACME_RES }))).toEqual(expected);
      expect(await refusal(exchange(defaultBot, subject, { resource: ACME_RES }))).toMatchObject({ error: 'invalid_request', description: expect.stringContaining('organization "default" may not act') });
      expect(server.issuedCount()).toBe(before);

      // Cross-organization delegation as explicit policy: Acme lets Beta's principals act for its users.
      expect(await call('PATCH', '/admin/organizations/acme', { allowed_actor_orgs: ['beta'] })).toMatchObject({ status: 200, body: { allowed_actor_orgs: ['beta'] } });
      const delegated = await exchange(betaBot, subject, { resource: ACME_RES });
      expect(await introspect(betaBot, delegated.access_token)).toMatchObject({
        active: true, sub: ada.id, org_id: 'acme', act: { sub: betaBot.id, act: { sub: acmeBot.id } },
      });
      // The allowance is for that pair only, and one way.
      expect(await refusal(exchange(defaultBot, subject, { resource: ACME_RES }))).toMatchObject({ error: 'invalid_request' });
      const betaSubject = (await oidc.clientCredentialsGrant(betaBot.config, { scope: 'beta:read', resource: BETA_RES })).access_token;
      expect(await refusal(exchange(acmeBot, betaSubject, { resource: BETA_RES }))).toMatchObject({ error: 'invalid_request', description: expect.stringContaining('organization "acme" may not act for principals of organization "beta"') });

      // Even allowed to act, an actor gets no token for its own organization's resource from Acme's token: the subject
      // token's audience confines it first (subject_audience), and organization_resource stands behind that rule.
      const countBefore = server.issuedCount();
      expect(await refusal(exchange(betaBot, agentOwn, { resource: BETA_RES, scope: 'beta:read' }))).toEqual({
        status: 400,
        error: 'invalid_target',
        description: `delegation policy "subject_audience" refused: the subject token is for "${ACME_RES}"; a token for "${BETA_RES}" cannot be derived from it`,
      });
      expect(server.issuedCount()).toBe(countBefore);

      // Taking the allowance back refuses at once.
      expect((await call('PATCH', '/admin/organizations/acme', { allowed_actor_orgs: [] })).status).toBe(200);
      expect(await refusal(exchange(betaBot, subject, { resource: ACME_RES }))).toEqual(expected);
    });

    it("refuses an actor_token naming a principal of another organization (invalid_request) until the operator allows that organization", async () => {
      // An actor token issued to Acme's bot whose subject is Beta's bot: Beta lets Acme act for it, and Acme's bot
      // exchanges Beta's bot's own token.
      expect((await call('PATCH', '/admin/organizations/beta', { allowed_actor_orgs: ['acme'] })).status).toBe(200);
      const betaOwn = (await oidc.clientCredentialsGrant(betaBot.config, { scope: 'beta:read', resource: BETA_RES })).access_token;
      const actorToken = (await exchange(acmeBot, betaOwn, { resource: BETA_RES })).access_token;
      expect(await introspect(acmeBot, actorToken)).toMatchObject({ active: true, sub: betaBot.id, org_id: 'beta' });
      const subject = await ownerToken(acmeBot, 'acme:read', 'an actor of another organization');
      const withActor = { resource: ACME_RES, actor_token: actorToken, actor_token_type: ACCESS_TOKEN };

      // Acme's bot and Ada are both Acme's, but the actor is Beta's, which Acme has not allowed.
      const before = server.issuedCount();
      expect(await refusal(exchange(acmeBot, subject, withActor))).toEqual({
        status: 400,
        error: 'invalid_request',
        description: `actor_token belongs to another organization: "${betaBot.id}" is of organization "beta", which may not act for principals of organization "acme" (the operator has not allowed it)`,
      });
      expect(server.issuedCount()).toBe(before);

      expect((await call('PATCH', '/admin/organizations/acme', { allowed_actor_orgs: ['beta'] })).status).toBe(200);
      const delegated = await exchange(acmeBot, subject, withActor);
      expect(await introspect(acmeBot, delegated.access_token)).toMatchObject({ active: true, sub: ada.id, org_id: 'acme', act: { sub: betaBot.id } });
      for (const id of ['acme', 'beta']) expect((await call('PATCH', `/admin/organizations/${id}`, { allowed_actor_orgs: [] })).status).toBe(200);
    });

    it("refuses a client signing in another organization's user with unauthorized_client (RFC 6749 §4.1.2.1), issuing nothing", async () => {
      // The app registered through RFC 7591 belongs to the default organization; Ada is Acme's.
      const app = await registerPublicApp(server, REDIRECT_URI);
      const before = server.issuedCount();
      const verifier = oidc.randomPKCECodeVerifier();
      const url = oidc.buildAuthorizationUrl(app, {
        redirect_uri: REDIRECT_URI, scope: 'openid acme:read', resource: ACME_RES, state: 'st-1',
        code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
      });
      // Refused once she has signed in, before she is asked to consent: back to the client with the error.
      const callback = await signInAndConsent(url, REDIRECT_URI, { username: 'ada', password: PASSWORD });
      expect(Object.fromEntries(callback.searchParams)).toEqual({
        error: 'unauthorized_client',
        error_description: 'this client belongs to another organization than the user: organization "default" may not act for principals of organization "acme" (the operator has not allowed it)',
        state: 'st-1',
        iss: server.issuer,
      });
      // No code, no token.
      expect(server.issuedCount()).toBe(before);
    });

    it('with the pair allowed, signs the user in to the other organization\'s app, and refuses the refresh once the allowance is taken back', async () => {
      await call('PATCH', '/admin/organizations/acme', { allowed_actor_orgs: ['default'] });
      const app = await registerPublicApp(server, REDIRECT_URI);
      const verifier = oidc.randomPKCECodeVerifier();
      const url = oidc.buildAuthorizationUrl(app, {
        redirect_uri: REDIRECT_URI, scope: 'openid acme:read', resource: ACME_RES, state: 'st-2',
        code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
      });
      const callback = await signInAndConsent(url, REDIRECT_URI, { username: 'ada', password: PASSWORD });
      const tokens = await oidc.authorizationCodeGrant(app, callback, { pkceCodeVerifier: verifier, expectedState: 'st-2' }, { resource: ACME_RES });
      expect(tokens).toMatchObject({ scope: expect.stringContaining('acme:read'), refresh_token: expect.any(String) });

      // The token endpoint holds the rule for every grant: taken back, the refresh is refused and nothing issued.
      await call('PATCH', '/admin/organizations/acme', { allowed_actor_orgs: [] });
      const before = server.issuedCount();
      expect(await refusal(oidc.refreshTokenGrant(app, tokens.refresh_token!, { resource: ACME_RES }))).toEqual({
        status: 400,
        error: 'unauthorized_client',
        description: 'this client belongs to another organization than the user: organization "default" may not act for principals of organization "acme" (the operator has not allowed it)',
      });
      // No access token. oidc-provider rotates the refresh token before it makes the access token, so the one
      // presented is spent and its successor stored, never handed out: the grant is over for this client.
      expect(server.issuedCount() - before).toBe(1);
      expect(await refusal(oidc.refreshTokenGrant(app, tokens.refresh_token!, { resource: ACME_RES }))).toMatchObject({ error: 'invalid_grant' });
    });

    it('registers a client into an organization only with the initial access token; it gets tokens for its own organization only', async () => {
      const register = (metadata: Record<string, unknown>, initialAccessToken?: string) => oidc.dynamicClientRegistration(issuer, {
        grant_types: ['client_credentials'], response_types: [], redirect_uris: [], ...metadata,
      }, undefined, { ...insecure, ...(initialAccessToken ? { initialAccessToken } : {}) });
      const registered = await register({ org_id: 'acme' }, server.adminToken);
      const { client_id: clientId, client_secret: secret } = registered.clientMetadata() as { client_id: string; client_secret: string };
      expect(registered.clientMetadata().org_id).toBe('acme');
      expect((await call('GET', `/admin/clients/${encodeURIComponent(clientId)}`)).body).toMatchObject({ kind: 'registered', org_id: 'acme' });
      const config = await oidc.discovery(issuer, clientId, undefined, oidc.ClientSecretBasic(secret), insecure);
      const token = await oidc.clientCredentialsGrant(config, { resource: ACME_RES });
      expect(await oidc.tokenIntrospection(config, token.access_token)).toMatchObject({ active: true, org_id: 'acme' });
      expect(await refusal(oidc.clientCredentialsGrant(config, { resource: DEFAULT_RES }))).toMatchObject({ error: 'invalid_target' });

      // An unknown organization is metadata the server will not accept (RFC 7591 §3.2.2); without the initial access
      // token no client chooses its organization (RFC 7591 §3, 401 with the Bearer challenge).
      expect(await refusal(register({ org_id: 'ghost' }, server.adminToken))).toEqual({ status: 400, error: 'invalid_client_metadata', description: 'org_id: "ghost" is not an organization' });
      expect(await refusal(register({ org_id: 'Bad Id' }, server.adminToken))).toMatchObject({ status: 400, error: 'invalid_client_metadata', description: expect.stringContaining('org_id: must be') });
      const anonymous = await fetch(`${server.issuer}/reg`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: 'none', org_id: 'acme' }),
      });
      expect(anonymous.status).toBe(401);
      expect(((await anonymous.json()) as { error: string }).error).toBe('invalid_client_metadata');
    });

    it("signs in a user to an app of the user's own organization, with the user's org_id", async () => {
      const registered = await oidc.dynamicClientRegistration(issuer, {
        redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: 'none', grant_types: ['authorization_code'], response_types: ['code'], org_id: 'acme',
      }, oidc.None(), { ...insecure, initialAccessToken: server.adminToken });
      const app = await oidc.discovery(issuer, registered.clientMetadata().client_id, registered.clientMetadata(), oidc.None(), insecure);
      const token = await userAccessToken(app, REDIRECT_URI, { username: 'ada', password: PASSWORD }, ACME_RES, 'acme:read');
      expect(await introspect(acmeBot, token)).toMatchObject({ active: false });
      // Opaque for Acme's resource: an Acme client entitled to introspect it (the app is public and may not).
      const rs = await oidc.dynamicClientRegistration(issuer, { grant_types: ['client_credentials'], response_types: [], redirect_uris: [], introspect_any_token: true, org_id: 'acme' }, undefined, {
        ...insecure, initialAccessToken: server.adminToken,
      });
      const rsConfig = await oidc.discovery(issuer, rs.clientMetadata().client_id, undefined, oidc.ClientSecretBasic(rs.clientMetadata().client_secret as string), insecure);
      expect(await oidc.tokenIntrospection(rsConfig, token)).toMatchObject({ active: true, sub: ada.id, aud: ACME_RES, org_id: 'acme' });
    });

    it("moves an agent to another organization with its owner and resources; its earlier tokens end, its new ones are the new organization's", async () => {
      const mover = await agent('mover', ada.id, ['acme:read', 'beta:read'], 'acme');
      const before = (await oidc.clientCredentialsGrant(mover.config, { scope: 'acme:read', resource: ACME_RES })).access_token;
      expect(await introspect(mover, before)).toMatchObject({ active: true, org_id: 'acme' });
      expect((await call('PATCH', `/admin/agents/${mover.id}`, { resources: [ACME_RES] })).status).toBe(200);

      // What stays in the old organization is refused, naming it; nothing moves.
      const invalid = (field: string, description: string) => ({ status: 400, body: { error: 'invalid_request', error_description: `${field}: ${description}`, field } });
      const path = `/admin/agents/${mover.id}`;
      expect(await call('PATCH', path, { org_id: 'beta' })).toEqual(invalid('owner', 'belongs to organization "acme", not the agent\'s "beta"'));
      expect(await call('PATCH', path, { org_id: 'beta', owner: bo.id })).toEqual(invalid('resources.0', `"${ACME_RES}" belongs to another organization than the agent's ("beta")`));
      expect(await call('PATCH', path, { org_id: 'ghost', owner: bo.id })).toEqual(invalid('org_id', '"ghost" is not an organization'));
      await created('/admin/roles', { name: 'acme-movers', scopes: ['acme:read'], org_id: 'acme' });
      await created('/admin/roles/acme-movers/holders', { client_id: mover.id });
      expect(await call('PATCH', path, { org_id: 'beta', owner: bo.id, resources: [BETA_RES] }))
        .toEqual(invalid('org_id', 'the agent holds roles of organization "acme" ("acme-movers"); revoke them first'));
      expect((await call('DELETE', `/admin/roles/acme-movers/holders/clients/${mover.id}`)).status).toBe(204);
      expect((await call('DELETE', '/admin/roles/acme-movers')).status).toBe(204);
      // An organization's operator moves nothing out of its organization.
      const acmeToken = (await call('POST', '/admin/organizations/acme/credentials')).body.token as string;
      const asAcme = await adminRequest({ url: server.url, issuer: server.issuer, adminToken: acmeToken }, 'PATCH', path, { org_id: 'beta', owner: bo.id, resources: [BETA_RES] });
      expect([asAcme.status, await asAcme.json()]).toEqual([403, { error: 'access_denied', error_description: 'this credential is for organization "acme" only' }]);
      expect(await introspect(mover, before)).toMatchObject({ active: true });

      const moved = await call('PATCH', path, { org_id: 'beta', owner: bo.id, resources: [BETA_RES] });
      expect(moved).toMatchObject({ status: 200, body: { org_id: 'beta', owner: bo.id, resources: [BETA_RES] } });
      // The token it got as Acme's is over; a new one is Beta's, for Beta's resource only.
      expect(await introspect(mover, before)).toEqual({ active: false });
      const after = (await oidc.clientCredentialsGrant(mover.config, { scope: 'beta:read', resource: BETA_RES })).access_token;
      expect(decodeJwt(after)).toMatchObject({ sub: mover.id, org_id: 'beta' });
      expect(await introspect(mover, after)).toMatchObject({ active: true, org_id: 'beta' });
      expect(await refusal(oidc.clientCredentialsGrant(mover.config, { scope: 'acme:read', resource: ACME_RES }))).toMatchObject({ error: 'invalid_target' });
      const audited = async () => ((await call('GET', `/admin/audit?client_id=${encodeURIComponent(mover.id)}&event=agent.updated`)).body.items as { org_id: string; details: { moved_from?: string } }[])[0];
      await expect.poll(audited, { timeout: 10_000 }).toMatchObject({ org_id: 'beta', details: { moved_from: 'acme' } });
      expect((await call('DELETE', path)).status).toBe(204);
    });

    it("moves a registered client to another organization once its owner, resources and roles allow; its earlier tokens end", async () => {
      const register = async (metadata: Record<string, unknown>) => {
        const registered = (await oidc.dynamicClientRegistration(issuer, {
          grant_types: ['client_credentials'], response_types: [], redirect_uris: [], org_id: 'acme', ...metadata,
        }, undefined, { ...insecure, initialAccessToken: server.adminToken })).clientMetadata() as { client_id: string; client_secret: string };
        return { id: registered.client_id, config: await oidc.discovery(issuer, registered.client_id, undefined, oidc.ClientSecretBasic(registered.client_secret), insecure) };
      };
      const invalid = (field: string, description: string) => ({ status: 400, body: { error: 'invalid_request', error_description: `${field}: ${description}`, field } });
      const owned = await register({ owner: ada.id });
      expect(await call('PATCH', `/admin/clients/${owned.id}`, { org_id: 'beta' }))
        .toEqual(invalid('owner', `the client's owner "${ada.id}" belongs to organization "acme", not "beta"; a client moves only to its owner's organization`));
      const limited = await register({ allowed_resources: [ACME_RES] });
      expect(await call('PATCH', `/admin/clients/${limited.id}`, { org_id: 'beta' }))
        .toEqual(invalid('allowed_resources.0', `the client is limited to "${ACME_RES}", of organization "acme"; change its allowed_resources (RFC 7592) first`));

      const mover = await register({});
      const path = `/admin/clients/${mover.id}`;
      const before = (await oidc.clientCredentialsGrant(mover.config, { resource: ACME_RES })).access_token;
      expect(await oidc.tokenIntrospection(mover.config, before)).toMatchObject({ active: true, org_id: 'acme' });
      expect(await call('PATCH', path, { org_id: 'ghost' })).toEqual(invalid('org_id', '"ghost" is not an organization'));
      expect((await call('PATCH', path, { org_id: 'beta', name: 'x' })).body).toMatchObject({ error: 'invalid_request', field: 'body' });
      expect(await call('PATCH', `/admin/clients/${acmeBot.id}`, { org_id: 'beta' })).toEqual(invalid('id', 'names an agent: move it at /admin/agents/{id} (PATCH with org_id), which takes its owner and resources along'));
      await created('/admin/roles', { name: 'acme-clients', scopes: ['acme:read'], org_id: 'acme' });
      await created('/admin/roles/acme-clients/holders', { client_id: mover.id });
      expect(await call('PATCH', path, { org_id: 'beta' })).toEqual(invalid('org_id', 'the client holds roles of organization "acme" ("acme-clients"); revoke them first'));
      expect((await call('DELETE', '/admin/roles/acme-clients')).status).toBe(204);
      // Only the platform operator moves a client out of an organization.
      const acmeToken = (await call('POST', '/admin/organizations/acme/credentials')).body.token as string;
      const asAcme = await adminRequest({ url: server.url, issuer: server.issuer, adminToken: acmeToken }, 'PATCH', path, { org_id: 'beta' });
      expect([asAcme.status, await asAcme.json()]).toEqual([403, { error: 'access_denied', error_description: 'this credential is for organization "acme" only' }]);
      expect(await oidc.tokenIntrospection(mover.config, before)).toMatchObject({ active: true });

      expect(await call('PATCH', path, { org_id: 'beta' })).toMatchObject({ status: 200, body: { client_id: mover.id, kind: 'registered', org_id: 'beta', tokens_invalid_before: expect.any(String) } });
      // Its Acme token is over; its new tokens are Beta's, for Beta's resources only.
      expect(await oidc.tokenIntrospection(mover.config, before)).toEqual({ active: false });
      const after = (await oidc.clientCredentialsGrant(mover.config, { resource: BETA_RES })).access_token;
      expect(decodeJwt(after)).toMatchObject({ sub: mover.id, org_id: 'beta' });
      expect(await refusal(oidc.clientCredentialsGrant(mover.config, { resource: ACME_RES }))).toMatchObject({ error: 'invalid_target' });
      const audited = async () => ((await call('GET', `/admin/audit?org_id=beta&event=client.moved`)).body.items as { client_id: string; details: unknown }[])[0];
      await expect.poll(audited, { timeout: 10_000 }).toMatchObject({ client_id: mover.id, details: { kind: 'registered', moved_from: 'acme' } });
      for (const client of [owned, limited, mover]) expect((await call('DELETE', `/admin/clients/${client.id}`)).status).toBe(204);
    });

    it("moves a resource to another organization once no client of its old one is limited to it; then only the new one's principals get tokens for it", async () => {
      const MOVING = 'https://moving.orgs.example.test/';
      const path = `/admin/resources/${encodeURIComponent(MOVING)}`;
      await created('/admin/resources', { identifier: MOVING, scopes: ['moving:read'], org_id: 'acme' });
      const acmeMover = await agent('acme-mover', ada.id, ['moving:read'], 'acme');
      const betaMover = await agent('beta-mover', bo.id, ['moving:read'], 'beta');
      expect(decodeJwt((await oidc.clientCredentialsGrant(acmeMover.config, { scope: 'moving:read', resource: MOVING })).access_token)).toMatchObject({ org_id: 'acme' });
      expect((await call('PATCH', `/admin/agents/${acmeMover.id}`, { resources: [MOVING] })).status).toBe(200);

      const invalid = (field: string, description: string) => ({ status: 400, body: { error: 'invalid_request', error_description: `${field}: ${description}`, field } });
      expect(await call('PATCH', path, { org_id: 'beta' }))
        .toEqual(invalid('org_id', `clients of another organization than "beta" are limited to this resource ("${acmeMover.id}"); take it out of their resources or move them first`));
      expect((await call('PATCH', `/admin/agents/${acmeMover.id}`, { resources: null })).status).toBe(200);
      // A registered client's allowed_resources hold it back the same way.
      const limited = (await oidc.dynamicClientRegistration(issuer, {
        grant_types: ['client_credentials'], response_types: [], redirect_uris: [], org_id: 'acme', allowed_resources: [MOVING],
      }, undefined, { ...insecure, initialAccessToken: server.adminToken })).clientMetadata().client_id;
      expect((await call('PATCH', path, { org_id: 'beta' })).body.error_description).toContain(`("${limited}")`);
      expect((await call('DELETE', `/admin/clients/${limited}`)).status).toBe(204);
      expect(await call('PATCH', path, { org_id: 'ghost' })).toEqual(invalid('org_id', '"ghost" is not an organization'));
      const acmeToken = (await call('POST', '/admin/organizations/acme/credentials')).body.token as string;
      const asAcme = await adminRequest({ url: server.url, issuer: server.issuer, adminToken: acmeToken }, 'PATCH', path, { org_id: 'beta' });
      expect([asAcme.status, await asAcme.json()]).toEqual([403, { error: 'access_denied', error_description: 'this credential is for organization "acme" only' }]);
      expect((await call('GET', path)).body.org_id).toBe('acme');

      expect(await call('PATCH', path, { org_id: 'beta', name: 'Moving' })).toMatchObject({ status: 200, body: { identifier: MOVING, org_id: 'beta', name: 'Moving' } });
      expect(await refusal(oidc.clientCredentialsGrant(acmeMover.config, { scope: 'moving:read', resource: MOVING }))).toMatchObject({ error: 'invalid_target' });
      expect(decodeJwt((await oidc.clientCredentialsGrant(betaMover.config, { scope: 'moving:read', resource: MOVING })).access_token)).toMatchObject({ sub: betaMover.id, org_id: 'beta' });
      const audited = async () => ((await call('GET', `/admin/audit?org_id=beta&event=resource.updated`)).body.items as { subject: string; details: unknown }[]).find((item) => item.subject === MOVING);
      await expect.poll(audited, { timeout: 10_000 }).toMatchObject({ details: { changed: ['name', 'org_id'], moved_from: 'acme' } });
      for (const bot of [acmeMover, betaMover]) expect((await call('DELETE', `/admin/agents/${bot.id}`)).status).toBe(204);
      expect((await call('DELETE', path)).status).toBe(204);
    });

    it("moves a user to another organization once it owns no agents and holds no roles there; the user's earlier tokens end", async () => {
      const mia = await created('/admin/users', { username: 'mia', password: PASSWORD, org_id: 'acme' });
      const registered = await oidc.dynamicClientRegistration(issuer, {
        redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: 'none', grant_types: ['authorization_code'], response_types: ['code'], org_id: 'acme',
      }, oidc.None(), { ...insecure, initialAccessToken: server.adminToken });
      const app = await oidc.discovery(issuer, registered.clientMetadata().client_id, registered.clientMetadata(), oidc.None(), insecure);
      const rs = await oidc.dynamicClientRegistration(issuer, { grant_types: ['client_credentials'], response_types: [], redirect_uris: [], introspect_any_token: true }, undefined, {
        ...insecure, initialAccessToken: server.adminToken,
      });
      const rsConfig = await oidc.discovery(issuer, rs.clientMetadata().client_id, undefined, oidc.ClientSecretBasic(rs.clientMetadata().client_secret as string), insecure);
      const token = await userAccessToken(app, REDIRECT_URI, { username: 'mia', password: PASSWORD }, ACME_RES, 'acme:read');
      expect(await oidc.tokenIntrospection(rsConfig, token)).toMatchObject({ active: true, sub: mia.id, org_id: 'acme' });

      const path = `/admin/users/${mia.id}`;
      const invalid = (field: string, description: string) => ({ status: 400, body: { error: 'invalid_request', error_description: `${field}: ${description}`, field } });
      const bot = await agent('mias-bot', mia.id, ['acme:read'], 'acme');
      expect(await call('PATCH', path, { org_id: 'beta' })).toEqual(invalid('org_id', `the user owns agents of organization "acme" ("${bot.id}"); give them another owner or move them first`));
      expect((await call('DELETE', `/admin/agents/${bot.id}`)).status).toBe(204);
      await created('/admin/roles', { name: 'acme-readers', scopes: ['acme:read'], org_id: 'acme' });
      await created('/admin/roles/acme-readers/holders', { user_id: mia.id });
      expect(await call('PATCH', path, { org_id: 'beta' })).toEqual(invalid('org_id', 'the user holds roles of organization "acme" ("acme-readers"); revoke them first'));
      expect((await call('DELETE', '/admin/roles/acme-readers')).status).toBe(204);
      expect(await call('PATCH', path, { org_id: 'ghost' })).toEqual(invalid('org_id', '"ghost" is not an organization'));
      expect((await call('PATCH', path, {})).body).toMatchObject({ error: 'invalid_request', field: 'org_id' });
      const acmeToken = (await call('POST', '/admin/organizations/acme/credentials')).body.token as string;
      const asAcme = await adminRequest({ url: server.url, issuer: server.issuer, adminToken: acmeToken }, 'PATCH', path, { org_id: 'beta' });
      expect([asAcme.status, await asAcme.json()]).toEqual([403, { error: 'access_denied', error_description: 'this credential is for organization "acme" only' }]);
      expect(await oidc.tokenIntrospection(rsConfig, token)).toMatchObject({ active: true });

      expect(await call('PATCH', path, { org_id: 'beta' })).toMatchObject({ status: 200, body: { id: mia.id, org_id: 'beta' } });
      // Her Acme token is over, on introspection and as a subject token alike.
      expect(await oidc.tokenIntrospection(rsConfig, token)).toEqual({ active: false });
      expect(await refusal(exchange(acmeBot, token, { resource: ACME_RES }))).toMatchObject({ error: 'invalid_request', description: expect.stringContaining('moved to another organization') });
      // Acme's app no longer signs her in; the move is audited as Beta's.
      const verifier = oidc.randomPKCECodeVerifier();
      const url = oidc.buildAuthorizationUrl(app, {
        redirect_uri: REDIRECT_URI, scope: 'openid acme:read', resource: ACME_RES, state: 'st-m',
        code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
      });
      expect((await signInAndConsent(url, REDIRECT_URI, { username: 'mia', password: PASSWORD })).searchParams.get('error')).toBe('unauthorized_client');
      const audited = async () => ((await call('GET', `/admin/audit?org_id=beta&event=user.moved`)).body.items as { subject: string; details: unknown }[])[0];
      await expect.poll(audited, { timeout: 10_000 }).toMatchObject({ subject: mia.id, details: { moved_from: 'acme' } });
      expect(await call('PATCH', path, { org_id: 'beta' })).toMatchObject({ status: 200, body: { org_id: 'beta' } });
      expect((await call('DELETE', path)).status).toBe(204);
    });

    it("refuses a backchannel request for another organization's user before anyone is asked, with unauthorized_client (CIBA §13)", async () => {
      const pending = async () => (await call('GET', `/admin/approvals?client_id=${encodeURIComponent(betaBot.id)}`)).body.items.length as number;
      const before = await pending();
      const ask = () => oidc.initiateBackchannelAuthentication(betaBot.config, { scope: 'openid acme:read', login_hint: 'ada', binding_message: 'read acme' });
      expect(await refusal(ask())).toEqual({
        status: 400,
        error: 'unauthorized_client',
        description: 'this client belongs to another organization than the user: organization "beta" may not act for principals of organization "acme" (the operator has not allowed it)',
      });
      expect(await pending()).toBe(before);
      // Allowed to act for Acme's users, Beta's agent may ask Ada.
      await call('PATCH', '/admin/organizations/acme', { allowed_actor_orgs: ['beta'] });
      expect(await ask()).toMatchObject({ auth_req_id: expect.any(String) });
      expect(await pending()).toBe(before + 1);
      await call('PATCH', '/admin/organizations/acme', { allowed_actor_orgs: [] });
    });
  });
});
