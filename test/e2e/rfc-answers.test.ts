// Each refusal answered as its RFC says (issue 15 part 5): status, `error` and the WWW-Authenticate challenge, over
// HTTP with openid-client where a client library would make the request, plain fetch for malformed ones.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { adminRequest, createResource, createUser } from '../support/admin.ts';
import { STORAGE_MODES, startTestServer, type TestServer } from '../support/server.ts';

const insecure = { execute: [oidc.allowInsecureRequests] };
const API = 'https://api.example.test/';
const REDIRECT_URI = 'http://127.0.0.1:8976/callback';
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

interface Answer { status: number; error?: string; description?: string; challenge: string | null }

async function answerOf(response: Response): Promise<Answer> {
  const body = await response.json() as { error?: string; error_description?: string };
  return { status: response.status, error: body.error, description: body.error_description, challenge: response.headers.get('www-authenticate') };
}

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

describe.each(STORAGE_MODES)('RFC answers on %s storage', (mode) => {
  let server: TestServer;
  let issuer: URL;
  let ownerId: string;
  let confidential: { id: string; secret: string };

  beforeAll(async () => {
    server = await startTestServer(mode, `e2e-rfc-answers-${mode}`);
    issuer = new URL(server.issuer);
    ownerId = (await createUser(server, 'owner', 'correct horse battery staple')).id;
    await createResource(server, { identifier: API, scopes: ['read'], token_format: 'opaque', access_token_ttl: 300 });
    const registered = await oidc.dynamicClientRegistration(issuer, { grant_types: ['client_credentials'], response_types: [], redirect_uris: [] }, undefined, {
      ...insecure, initialAccessToken: server.adminToken,
    });
    confidential = { id: registered.clientMetadata().client_id, secret: registered.clientMetadata().client_secret as string };
  }, 180_000);
  afterAll(() => server?.stop());

  const post = (path: string, body: Record<string, string>, headers: Record<string, string> = {}) =>
    fetch(`${server.url}${path}`, { method: 'POST', headers: { ...FORM, ...headers }, body: new URLSearchParams(body) }).then(answerOf);
  const realm = () => `Basic realm="${server.issuer}"`;

  describe('client authentication at the token, introspection, revocation and PAR endpoints (RFC 6749 §5.2, RFC 7662 §2.3, RFC 7009 §2.1)', () => {
    const requests: [string, string, Record<string, string>][] = [
      ['token', '/token', { grant_type: 'client_credentials' }],
      ['introspection', '/token/introspection', { token: 'some-token' }],
      ['revocation', '/token/revocation', { token: 'some-token' }],
      ['PAR', '/request', { response_type: 'code', redirect_uri: REDIRECT_URI, code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' }],
    ];

    it.each(requests)('%s without client authentication: 401 invalid_client with a Basic challenge and no error in it', async (_endpoint, path, body) => {
      const answer = await post(path, body);
      expect(answer).toMatchObject({ status: 401, error: 'invalid_client', description: expect.stringContaining('no client authentication') });
      expect(answer.challenge).toBe(realm());
    });

    it.each(requests)('%s with a wrong secret over Basic: 401 invalid_client with a Basic challenge naming the error', async (_endpoint, path, body) => {
      const answer = await post(path, body, { authorization: basic(confidential.id, 'wrong') });
      expect(answer).toMatchObject({ status: 401, error: 'invalid_client' });
      expect(answer.challenge).toMatch(new RegExp(`^Basic realm="${server.issuer}", error="invalid_client"`));
    });

    it.each(requests)('%s with a malformed Basic header: 401 invalid_client with a Basic challenge', async (_endpoint, path, body) => {
      for (const header of ['Basic !!!', 'Basic ' + Buffer.from('no-colon').toString('base64'), 'Basic ' + Buffer.from(`${confidential.id}:`).toString('base64')]) {
        const answer = await post(path, body, { authorization: header });
        expect(answer, header).toMatchObject({ status: 401, error: 'invalid_client' });
        expect(answer.challenge, header).toMatch(/^Basic realm="[^"]+", error="invalid_client", error_description="client authentication failed: /);
      }
    });

    it.each(requests)('%s with a wrong client_secret in the body: 401 invalid_client, still with a challenge (RFC 9110 §15.5.2)', async (_endpoint, path, body) => {
      const answer = await post(path, { ...body, client_id: confidential.id, client_secret: 'wrong' });
      expect(answer).toMatchObject({ status: 401, error: 'invalid_client' });
      expect(answer.challenge).toMatch(/^Basic realm="[^"]+", error="invalid_client"/);
    });

    it('an unknown client_id: 401 invalid_client', async () => {
      const answer = await post('/token', { grant_type: 'client_credentials' }, { authorization: basic('nobody', 'secret') });
      expect(answer).toMatchObject({ status: 401, error: 'invalid_client', description: 'client authentication failed' });
      expect(answer.challenge).toMatch(/^Basic realm=/);
    });

    it('two mechanisms at once stay 400 invalid_request (RFC 6749 §2.3: only one per request)', async () => {
      const answer = await post('/token', { grant_type: 'client_credentials', client_secret: confidential.secret }, { authorization: basic(confidential.id, confidential.secret) });
      expect(answer).toMatchObject({ status: 400, error: 'invalid_request' });
      expect(answer.challenge).toBeNull();
    });

    it('openid-client sees the challenge of a failed authentication', async () => {
      const config = await oidc.discovery(issuer, confidential.id, undefined, oidc.ClientSecretPost('wrong'), insecure);
      const error = await oidc.clientCredentialsGrant(config, { resource: API }).then(() => undefined, (caught: unknown) => caught);
      expect(error).toBeInstanceOf(oidc.WWWAuthenticateChallengeError);
      expect((error as oidc.WWWAuthenticateChallengeError).status).toBe(401);
      expect((error as oidc.WWWAuthenticateChallengeError).cause[0]).toMatchObject({ scheme: 'basic', parameters: { error: 'invalid_client' } });
    });

    it('the right credentials still work everywhere', async () => {
      const config = await oidc.discovery(issuer, confidential.id, undefined, oidc.ClientSecretBasic(confidential.secret), insecure);
      const { access_token: token } = await oidc.clientCredentialsGrant(config, { resource: API, scope: 'read' });
      expect(await oidc.tokenIntrospection(config, token)).toHaveProperty('active');
      await expect(oidc.tokenRevocation(config, token)).resolves.toBeUndefined();
    });
  });

  describe('grant types (RFC 6749 §5.2)', () => {
    it('a grant type the client is not registered for: 400 unauthorized_client', async () => {
      const registered = await oidc.dynamicClientRegistration(issuer, { grant_types: ['authorization_code'], response_types: ['code'], redirect_uris: [REDIRECT_URI] }, undefined, {
        ...insecure, initialAccessToken: server.adminToken,
      });
      const config = await oidc.discovery(issuer, registered.clientMetadata().client_id, undefined, oidc.ClientSecretBasic(registered.clientMetadata().client_secret as string), insecure);
      const error = await oidc.clientCredentialsGrant(config, { resource: API }).then(() => undefined, (caught: unknown) => caught);
      expect(error).toBeInstanceOf(oidc.ResponseBodyError);
      expect(error).toMatchObject({ status: 400, error: 'unauthorized_client', error_description: 'this client is not registered for the grant type client_credentials' });
      const refresh = await post('/token', { grant_type: 'refresh_token', refresh_token: 'x' }, { authorization: basic(confidential.id, confidential.secret) });
      expect(refresh).toMatchObject({ status: 400, error: 'unauthorized_client', challenge: null });
    });

    it('a grant type the server does not support stays unsupported_grant_type', async () => {
      const answer = await post('/token', { grant_type: 'password', username: 'a', password: 'b' }, { authorization: basic(confidential.id, confidential.secret) });
      expect(answer).toMatchObject({ status: 400, error: 'unsupported_grant_type' });
    });
  });

  describe('registration (RFC 7591 §3, RFC 7592 §2, RFC 6750 §3.1)', () => {
    const register = (metadata: Record<string, unknown>, authorization?: string) => fetch(`${server.url}/reg`, {
      method: 'POST', headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) }, body: JSON.stringify(metadata),
    }).then(answerOf);

    it('a registration only the initial access token allows, sent without one: 401 with a Bearer challenge carrying no error (RFC 6750 §3.1)', async () => {
      const answer = await register({ redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: 'none', delegation_policy: { max_depth: 2 } });
      expect(answer).toMatchObject({ status: 401, error: 'invalid_client_metadata', description: expect.stringContaining('initial access token') });
      expect(answer.challenge).toBe(`Bearer realm="${server.issuer}"`);
    });

    it('a wrong initial access token: 401 invalid_token with the error in the challenge', async () => {
      const answer = await register({ redirect_uris: [REDIRECT_URI] }, 'Bearer not-the-admin-token');
      expect(answer).toMatchObject({ status: 401, error: 'invalid_token' });
      expect(answer.challenge).toMatch(/^Bearer (realm="[^"]+", )?error="invalid_token"/);
    });

    it('an anonymous registration the anonymous policy refuses for its metadata stays 400 invalid_client_metadata', async () => {
      const answer = await register({ redirect_uris: [REDIRECT_URI] });
      expect(answer).toMatchObject({ status: 400, error: 'invalid_client_metadata', challenge: null });
    });

    it('the client configuration endpoint without or with a wrong registration access token: 401 with a Bearer challenge', async () => {
      const registered = await oidc.dynamicClientRegistration(issuer, {
        redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: 'none', grant_types: ['authorization_code'], response_types: ['code'],
      }, oidc.None(), insecure);
      const uri = registered.clientMetadata().registration_client_uri as string;
      const missing = await fetch(uri).then(answerOf);
      expect(missing).toMatchObject({ status: 401, challenge: `Bearer realm="${server.issuer}"` });
      const wrong = await fetch(uri, { headers: { authorization: 'Bearer wrong' } }).then(answerOf);
      expect(wrong).toMatchObject({ status: 401, error: 'invalid_token' });
      expect(wrong.challenge).toMatch(/^Bearer (realm="[^"]+", )?error="invalid_token"/);
    });
  });

  describe('suspended and revoked clients', () => {
    async function secretAgent(): Promise<{ id: string; secret: string }> {
      const response = await adminRequest(server, 'POST', '/admin/agents', { name: 'agent', owner: ownerId, scopes: ['read'] });
      expect(response.status).toBe(201);
      const agent = await response.json() as { id: string; client_secret: string };
      return { id: agent.id, secret: agent.client_secret };
    }
    async function refusals(clientId: string) {
      await server.audit.flush();
      const response = await adminRequest(server, 'GET', '/admin/audit?event=client.inactive_refused&limit=100');
      const { items } = await response.json() as { items: { client_id?: string; clientId?: string; reason?: string; details?: { authenticated?: boolean } }[] };
      return items.filter((item) => (item.client_id ?? item.clientId) === clientId);
    }

    it.each([['suspend', 'suspended'], ['revoke', 'revoked']])('after %s: the agent that proves its secret is told it is %s; anyone else learns nothing; both are audited', async (action, status) => {
      const agent = await secretAgent();
      expect((await adminRequest(server, 'POST', `/admin/agents/${agent.id}/${action}`)).status).toBe(200);
      const proved = await post('/token', { grant_type: 'client_credentials', resource: API }, { authorization: basic(agent.id, agent.secret) });
      expect(proved).toMatchObject({ status: 401, error: 'invalid_client', description: `client ${agent.id} is ${status} and may not be used` });
      expect(proved.challenge).toMatch(/^Basic realm="[^"]+", error="invalid_client"/);
      const guessed = await post('/token/introspection', { token: 'x', client_id: agent.id, client_secret: 'wrong' });
      expect(guessed).toMatchObject({ status: 401, error: 'invalid_client', description: 'client authentication failed' });
      const audited = await refusals(agent.id);
      expect(audited.map((item) => item.details?.authenticated).sort()).toEqual([false, true]);
      expect(audited.every((item) => item.reason === `the client is ${status}`)).toBe(true);
    });
  });
});
