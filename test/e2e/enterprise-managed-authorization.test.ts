// MCP Enterprise-Managed Authorization with two of our servers on loopback: A is the enterprise IdP, B the MCP
// server's authorization server, with the example MCP server behind B. A user signs in at A through the forms;
// the MCP SDK's CrossAppAccessProvider trades the ID token for an ID-JAG at A and the ID-JAG for an access token
// at B, and calls a tool. Then A's refusals, each with the RFC 8693 error.
import type { Server } from 'node:http';
import { Client, CrossAppAccessProvider, discoverAndRequestJwtAuthGrant, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { generateKeyPair as generateDpopKeyPair, generateProof } from 'dpop';
import { calculateJwkThumbprint, createRemoteJWKSet, decodeProtectedHeader, exportJWK, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startExample } from '../../examples/mcp-server/server.ts';
import { adminRequest, createResource, createUser } from '../support/admin.ts';
import { signInAndConsent } from '../support/browser.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const ID_JAG = 'urn:ietf:params:oauth:token-type:id-jag';
const ID_TOKEN = 'urn:ietf:params:oauth:token-type:id_token';
const REDIRECT_URI = 'http://127.0.0.1:8981/callback';
const ALICE = { username: 'alice', password: 'correct horse battery staple' };
const insecure = { execute: [oidc.allowInsecureRequests] };

describe('enterprise-managed authorization across two servers', () => {
  let idp: TestServer;
  let as: TestServer;
  let example: { url: string; server: Server };
  let mcpUrl: string;
  let aliceId: string;
  let idpClient: { id: string; secret: string; config: oidc.Configuration };
  let mcpClient: { id: string; secret: string };
  let idToken: string;

  async function register(server: TestServer, metadata: Partial<oidc.ClientMetadata>) {
    const registered = await oidc.dynamicClientRegistration(new URL(server.issuer), metadata, undefined, { ...insecure, initialAccessToken: server.adminToken });
    const { client_id: id, client_secret: secret } = registered.clientMetadata() as { client_id: string; client_secret: string };
    return { id, secret };
  }

  beforeAll(async () => {
    idp = await startTestServer('embedded', 'e2e-ema-idp');
    aliceId = (await createUser(idp, ALICE.username, ALICE.password)).id;
    const idpRegistration = await register(idp, {
      redirect_uris: [REDIRECT_URI], grant_types: ['authorization_code', TOKEN_EXCHANGE], response_types: ['code'], token_endpoint_auth_method: 'client_secret_basic',
    });
    idpClient = { ...idpRegistration, config: await oidc.discovery(new URL(idp.issuer), idpRegistration.id, undefined, oidc.ClientSecretBasic(idpRegistration.secret), insecure) };

    as = await startTestServer('embedded', 'e2e-ema-as', {
      TRUSTED_ISSUERS: JSON.stringify([{ issuer: idp.issuer, jwks_uri: `${idp.url}/jwks`, subject_prefix: 'corp:', id_jag: { clients: ['*'] } }]),
    });
    example = await startExample(0, async (url) => {
      await createResource(as, { identifier: `${url}/mcp`, scopes: ['notes:read', 'notes:write'], token_format: 'jwt' });
      const resource = (await (await adminRequest(as, 'GET', `/admin/resources/${encodeURIComponent(`${url}/mcp`)}`)).json()) as { resource_metadata_url: string };
      return { issuer: as.issuer, resource: `${url}/mcp`, resourceMetadataUrl: resource.resource_metadata_url };
    });
    mcpUrl = `${example.url}/mcp`;
    mcpClient = await register(as, { grant_types: [JWT_BEARER], response_types: [], redirect_uris: [], token_endpoint_auth_method: 'client_secret_basic' });

    const audience = await adminRequest(idp, 'POST', '/admin/id-jag-audiences', {
      issuer: as.issuer, name: 'Notes MCP', resources: [mcpUrl], clients: { [idpClient.id]: mcpClient.id }, scopes: ['notes:read', 'notes:write'],
    });
    expect(audience.status).toBe(201);

    // The user signs in at the IdP; the client gets an ID token for them.
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(idpClient.config, {
      redirect_uri: REDIRECT_URI, scope: 'openid email', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    });
    const callback = await signInAndConsent(url, REDIRECT_URI, ALICE);
    const tokens = await oidc.authorizationCodeGrant(idpClient.config, callback, { pkceCodeVerifier: verifier });
    idToken = tokens.id_token!;
  }, 180_000);
  afterAll(async () => {
    example?.server.close();
    await as?.stop();
    await idp?.stop();
  });

  it('lets the MCP SDK trade the ID token for an ID-JAG at A and that for a token at B, and call a tool', async () => {
    const provider = new CrossAppAccessProvider({
      assertion: async (ctx) => (await discoverAndRequestJwtAuthGrant({
        idpUrl: idp.issuer, audience: ctx.authorizationServerUrl, resource: ctx.resourceUrl, idToken,
        clientId: idpClient.id, clientSecret: idpClient.secret, scope: 'notes:read', fetchFn: ctx.fetchFn,
      })).jwtAuthGrant,
      clientId: mcpClient.id,
      clientSecret: mcpClient.secret,
      expectedIssuer: as.issuer,
    });
    const client = new Client({ name: 'ema-test', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider }));
    const read = await client.callTool({ name: 'read_notes', arguments: {} });
    expect(JSON.stringify(read.content)).toContain('welcome to the agentauth example');
    await client.close();
    const accessToken = provider.tokens()!.access_token;
    const { payload } = await jwtVerify(accessToken, createRemoteJWKSet(new URL(`${as.url}/jwks`)), { issuer: as.issuer, audience: mcpUrl });
    expect(payload).toMatchObject({ sub: `corp:${aliceId}`, client_id: mcpClient.id, scope: 'notes:read' });
  });

  async function exchange(form: Record<string, string>, basic = idpClient, headers: Record<string, string> = {}) {
    const response = await fetch(`${idp.url}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${basic.id}:${basic.secret}`).toString('base64')}`, ...headers },
      body: new URLSearchParams({ grant_type: TOKEN_EXCHANGE, requested_token_type: ID_JAG, subject_token: idToken, subject_token_type: ID_TOKEN, audience: as.issuer, ...form }).toString(),
    });
    return { status: response.status, body: (await response.json()) as Record<string, any> };
  }

  it('issues an ID-JAG with the draft\'s header and claims, signed by A', async () => {
    const { status, body } = await exchange({ resource: mcpUrl, scope: 'notes:read admin:all' });
    expect(status).toBe(200);
    expect(body).toMatchObject({ issued_token_type: ID_JAG, token_type: 'N_A', scope: 'notes:read', expires_in: expect.any(Number) });
    expect(body.refresh_token).toBeUndefined();
    expect(decodeProtectedHeader(body.access_token)).toMatchObject({ typ: 'oauth-id-jag+jwt', alg: 'ES256' });
    const { payload } = await jwtVerify(body.access_token, createRemoteJWKSet(new URL(`${idp.url}/jwks`)), { issuer: idp.issuer, audience: as.issuer, typ: 'oauth-id-jag+jwt' });
    expect(payload).toMatchObject({ sub: aliceId, client_id: mcpClient.id, resource: mcpUrl, scope: 'notes:read', jti: expect.any(String), org_id: 'default' });
    expect(payload.exp! - payload.iat!).toBeLessThanOrEqual(300);
    await idp.audit.flush();
    const rows = await idp.db.selectFrom('audit_events').select(['subject', 'details']).where('event', '=', 'id_jag.issued').execute();
    expect(rows.some((row) => row.subject === aliceId && (row.details as { jti?: string }).jti === payload.jti)).toBe(true);
    // B redeems it once.
    const redeemed = await fetch(`${as.url}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${mcpClient.id}:${mcpClient.secret}`).toString('base64')}` },
      body: new URLSearchParams({ grant_type: JWT_BEARER, assertion: body.access_token }).toString(),
    });
    expect(redeemed.status).toBe(200);
  });

  it('binds the ID-JAG to the DPoP key of a proof sent with the exchange, and refuses the proof replayed', async () => {
    const keyPair = await generateDpopKeyPair('ES256');
    const proof = await generateProof(keyPair, `${idp.issuer}/token`, 'POST');
    const { status, body } = await exchange({ resource: mcpUrl }, idpClient, { dpop: proof });
    expect(status).toBe(200);
    const { payload } = await jwtVerify(body.access_token, createRemoteJWKSet(new URL(`${idp.url}/jwks`)), { issuer: idp.issuer, audience: as.issuer });
    expect(payload.cnf).toEqual({ jkt: await calculateJwkThumbprint(await exportJWK(keyPair.publicKey)) });
    const replayed = await exchange({ resource: mcpUrl }, idpClient, { dpop: proof });
    expect([replayed.status, replayed.body.error]).toEqual([400, 'invalid_dpop_proof']);
  });

  it.each([
    ['an audience not registered', { audience: 'https://unknown-as.example.test' }, 400, 'invalid_target'],
    ['a resource the audience does not list', { resource: 'https://other.example.test/mcp' }, 400, 'invalid_target'],
    ['no audience', { audience: '' }, 400, 'invalid_request'],
    ['a subject token that is not an ID token', { subject_token_type: 'urn:ietf:params:oauth:token-type:access_token' }, 400, 'invalid_request'],
    ['a subject token that is not a JWT of ours', { subject_token: 'x.y.z' }, 400, 'invalid_request'],
    ['scopes none of which the audience allows', { scope: 'admin:all' }, 400, 'invalid_scope'],
  ])('refuses %s', async (_name, form, status, error) => {
    const before = await idJagRows();
    const answer = await exchange(form as Record<string, string>);
    expect([answer.status, answer.body.error]).toEqual([status, error]);
    expect(answer.body.error_description).toEqual(expect.any(String));
    expect(await idJagRows()).toBe(before);
  });

  it('refuses a client the audience does not map, and an ID token issued to another client', async () => {
    const other = await register(idp, { redirect_uris: [REDIRECT_URI], grant_types: ['authorization_code', TOKEN_EXCHANGE], response_types: ['code'], token_endpoint_auth_method: 'client_secret_basic' });
    const answer = await exchange({}, { ...idpClient, ...other });
    // The ID token's audience is idpClient, not `other`: refused before the audience is looked at.
    expect([answer.status, answer.body.error]).toEqual([400, 'invalid_request']);
    expect(answer.body.error_description).toMatch(/subject_token/);
  });

  it("carries the user's org_id, and refuses a user of another organization once the client may no longer act for it", async () => {
    expect((await adminRequest(idp, 'POST', '/admin/organizations', { id: 'acme', name: 'Acme' })).status).toBe(201);
    await adminRequest(idp, 'POST', '/admin/users', { username: 'ada', password: 'another correct horse', org_id: 'acme' });
    // The client is the default organization's: it signs Ada in only while Acme allows it to act for its users.
    expect((await adminRequest(idp, 'PATCH', '/admin/organizations/acme', { allowed_actor_orgs: ['default'] })).status).toBe(200);
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(idpClient.config, {
      redirect_uri: REDIRECT_URI, scope: 'openid', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    });
    const callback = await signInAndConsent(url, REDIRECT_URI, { username: 'ada', password: 'another correct horse' });
    const adasIdToken = (await oidc.authorizationCodeGrant(idpClient.config, callback, { pkceCodeVerifier: verifier })).id_token!;
    const issued = await exchange({ subject_token: adasIdToken, resource: mcpUrl });
    expect(issued.status).toBe(200);
    const { payload } = await jwtVerify(issued.body.access_token, createRemoteJWKSet(new URL(`${idp.url}/jwks`)), { issuer: idp.issuer, audience: as.issuer });
    expect(payload).toMatchObject({ org_id: 'acme' });

    expect((await adminRequest(idp, 'PATCH', '/admin/organizations/acme', { allowed_actor_orgs: [] })).status).toBe(200);
    const before = await idJagRows();
    expect(await exchange({ subject_token: adasIdToken, resource: mcpUrl })).toEqual({ status: 400, body: {
      error: 'invalid_request',
      error_description: 'subject_token belongs to another organization: organization "default" may not act for principals of organization "acme" (the operator has not allowed it)',
    } });
    expect(await idJagRows()).toBe(before);
  });

  it('refuses the ID token of a user deleted since, issuing nothing', async () => {
    const bob = await createUser(idp, 'bob', 'another correct horse');
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(idpClient.config, {
      redirect_uri: REDIRECT_URI, scope: 'openid', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    });
    const callback = await signInAndConsent(url, REDIRECT_URI, { username: 'bob', password: 'another correct horse' });
    const bobsIdToken = (await oidc.authorizationCodeGrant(idpClient.config, callback, { pkceCodeVerifier: verifier })).id_token!;
    expect((await adminRequest(idp, 'DELETE', `/admin/users/${bob.id}`)).status).toBe(204);
    const before = await idJagRows();
    const answer = await exchange({ subject_token: bobsIdToken });
    expect(answer).toEqual({ status: 400, body: { error: 'invalid_request', error_description: 'subject_token names a user that no longer exists' } });
    expect(await idJagRows()).toBe(before);
  });

  it('refuses a suspended client at A (no ID-JAG) and a suspended client at B (no access token), and serves both again once activated', async () => {
    // A fresh ID-JAG for B, minted before B's client is suspended.
    const minted = await exchange({ resource: mcpUrl, scope: 'notes:read' });
    expect(minted.status).toBe(200);

    const before = await idJagRows();
    expect((await adminRequest(idp, 'POST', `/admin/clients/${idpClient.id}/suspend`)).status).toBe(200);
    const refused = await exchange({ resource: mcpUrl });
    expect(refused.status).toBe(401);
    expect(refused.body.error).toBe('invalid_client');
    expect(await idJagRows()).toBe(before);
    expect((await adminRequest(idp, 'POST', `/admin/clients/${idpClient.id}/activate`)).status).toBe(200);

    const redeem = () => fetch(`${as.url}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${mcpClient.id}:${mcpClient.secret}`).toString('base64')}` },
      body: new URLSearchParams({ grant_type: JWT_BEARER, assertion: minted.body.access_token }).toString(),
    });
    expect((await adminRequest(as, 'POST', `/admin/clients/${mcpClient.id}/suspend`)).status).toBe(200);
    const atB = await redeem();
    expect(atB.status).toBe(401);
    expect(((await atB.json()) as { error: string }).error).toBe('invalid_client');
    expect((await adminRequest(as, 'POST', `/admin/clients/${mcpClient.id}/activate`)).status).toBe(200);
    // The refusal came before the jti was claimed: the same ID-JAG is still redeemable, once.
    expect((await redeem()).status).toBe(200);
    expect((await redeem()).status).toBe(400);
  });

  async function idJagRows(): Promise<number> {
    await idp.audit.flush();
    return (await idp.db.selectFrom('audit_events').select('id').where('event', '=', 'id_jag.issued').execute()).length;
  }
});
