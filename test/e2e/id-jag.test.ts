// The jwt-bearer grant redeeming Identity Assertion JWT Authorization Grants (ID-JAG), as the MCP server's
// authorization server in Enterprise-Managed Authorization. The IdP is built here: ID-JAGs signed with `jose`
// by a key served from a loopback JWKS endpoint, so every validation rule can be broken on purpose. Both
// storage modes; with Redis, a replay race runs across two instances.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { calculateJwkThumbprint, createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify, SignJWT, type JWK } from 'jose';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminRequest, createResource, createUser } from '../support/admin.ts';
import { STORAGE_MODES, startTestServer, type TestServer } from '../support/server.ts';

const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const IDP = 'https://idp.example.test';
const OTHER_IDP = 'https://limited-idp.example.test';
const LINKING_IDP = 'https://linking-idp.example.test';
const JIT_IDP = 'https://jit-idp.example.test';
const MCP = 'https://mcp.example.test/mcp';
const UNREGISTERED = 'https://elsewhere.example.test/mcp';
const insecure = { execute: [oidc.allowInsecureRequests] };

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';

describe.each(STORAGE_MODES)('ID-JAG redemption (%s)', (mode) => {
  let jwks: Server;
  let idpKey: Awaited<ReturnType<typeof generateKeyPair>>;
  let strangerKey: Awaited<ReturnType<typeof generateKeyPair>>;
  let idpPublicJwk: JWK;
  let server: TestServer;
  let instances: string[];
  let client: { id: string; secret: string; config: oidc.Configuration };

  beforeAll(async () => {
    idpKey = await generateKeyPair('ES256', { extractable: true });
    strangerKey = await generateKeyPair('ES256');
    idpPublicJwk = { ...(await exportJWK(idpKey.publicKey)), kid: 'idp-1', alg: 'ES256', use: 'sig' };
    jwks = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [idpPublicJwk] })));
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    const jwksUri = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks`;
    server = await startTestServer(mode, `e2e-id-jag-${mode}`, {
      TRUSTED_ISSUERS: JSON.stringify([
        { issuer: IDP, jwks_uri: jwksUri, subject_prefix: 'idp:', id_jag: { clients: ['*'] } },
        { issuer: OTHER_IDP, jwks_uri: jwksUri, subject_prefix: 'other:', id_jag: { clients: ['not-this-client'] } },
        { issuer: LINKING_IDP, jwks_uri: jwksUri, subject_prefix: 'link:', id_jag: { clients: ['*'], users: 'email' } },
        { issuer: JIT_IDP, jwks_uri: jwksUri, subject_prefix: 'jit:', id_jag: { clients: ['*'], users: 'just_in_time' } },
      ]),
    });
    instances = [server.url];
    if (mode === 'redis+postgres') instances.push((await server.startSibling()).url);
    await createResource(server, { identifier: MCP, scopes: ['tools:list', 'tools:call'], token_format: 'jwt' });
    const registered = await oidc.dynamicClientRegistration(new URL(server.issuer), {
      grant_types: [JWT_BEARER, TOKEN_EXCHANGE], response_types: [], redirect_uris: [], token_endpoint_auth_method: 'client_secret_basic',
    }, undefined, { ...insecure, initialAccessToken: server.adminToken });
    const { client_id: id, client_secret: secret } = registered.clientMetadata() as { client_id: string; client_secret: string };
    client = { id, secret, config: await oidc.discovery(new URL(server.issuer), id, undefined, oidc.ClientSecretBasic(secret), insecure) };
  });
  afterAll(async () => {
    await server?.stop();
    jwks?.close();
  });

  let jtiCounter = 0;
  /** An ID-JAG as the IdP would issue it for our client; `changes` break one rule at a time. */
  async function idJag(changes: { claims?: Record<string, unknown>; header?: Record<string, unknown>; key?: Awaited<ReturnType<typeof generateKeyPair>>['privateKey']; omit?: string[] } = {}): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    const claims: Record<string, unknown> = {
      iss: IDP, sub: 'employee-42', aud: server.issuer, client_id: client.id, jti: `jag-${mode}-${(jtiCounter += 1)}-${now}`,
      iat: now, exp: now + 300, resource: MCP, scope: 'tools:list tools:call', email: 'employee42@example.com', ...changes.claims,
    };
    for (const name of changes.omit ?? []) delete claims[name];
    return new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'oauth-id-jag+jwt', kid: 'idp-1', ...changes.header }).sign(changes.key ?? idpKey.privateKey);
  }

  async function redeem(assertion: string, extra: Record<string, string> = {}, instance = instances[0]) {
    const response = await fetch(`${instance}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${encodeURIComponent(client.id)}:${encodeURIComponent(client.secret)}`).toString('base64')}` },
      body: new URLSearchParams({ grant_type: JWT_BEARER, assertion, ...extra }).toString(),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  it('advertises the grant and the ID-JAG profile, and no list of trusted IdPs', async () => {
    const metadata = (await (await fetch(`${server.url}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>;
    expect(metadata.grant_types_supported).toContain(JWT_BEARER);
    expect(metadata.authorization_grant_profiles_supported).toEqual(['urn:ietf:params:oauth:grant-profile:id-jag']);
    expect(JSON.stringify(metadata)).not.toContain('idp.example.test');
  });

  it('issues a token for the resource the ID-JAG names, for its subject, with the intersection of the scopes, and no refresh token', async () => {
    const tokens = await oidc.genericGrantRequest(client.config, JWT_BEARER, { assertion: await idJag({ claims: { scope: 'tools:list' } }), scope: 'tools:list tools:call' });
    expect(tokens.token_type).toBe('bearer');
    expect(tokens.scope).toBe('tools:list');
    expect(tokens.refresh_token).toBeUndefined();
    const ourKeys = createLocalJWKSet((await (await fetch(`${server.url}/jwks`)).json()) as { keys: JWK[] });
    const { payload } = await jwtVerify(tokens.access_token, ourKeys, { issuer: server.issuer, audience: MCP, typ: 'at+jwt' });
    expect(payload).toMatchObject({ sub: 'idp:employee-42', client_id: client.id, scope: 'tools:list' });
    const introspected = await oidc.tokenIntrospection(client.config, tokens.access_token);
    expect(introspected).toMatchObject({ active: true, sub: 'idp:employee-42', aud: MCP });
    await server.audit.flush();
    await expect.poll(async () => (await server.db.selectFrom('audit_events').select(['details']).where('event', '=', 'token.issued').where('client_id', '=', client.id).execute())
      .map((row) => (row.details as { id_jag_issuer?: string }).id_jag_issuer)).toContain(IDP);
  });

  it('without a scope parameter, grants the ID-JAG\'s scopes the resource knows', async () => {
    const tokens = await oidc.genericGrantRequest(client.config, JWT_BEARER, { assertion: await idJag({ claims: { scope: 'tools:list admin:everything' } }) });
    expect(tokens.scope).toBe('tools:list');
  });

  it('refuses asked-for scopes the ID-JAG does not grant with invalid_scope, leaving it unused', async () => {
    const assertion = await idJag({ claims: { scope: 'tools:list' } });
    const issuedBefore = server.issuedCount();
    expect(await redeem(assertion, { scope: 'tools:call' })).toEqual({ status: 400, body: { error: 'invalid_scope', error_description: 'none of the requested scopes (tools:call) can be granted for this request', scope: 'tools:call' } });
    expect(server.issuedCount()).toBe(issuedBefore);
    expect((await redeem(assertion)).body.scope).toBe('tools:list');
  });

  it('accepts one ID-JAG once in 3 rounds of 12 concurrent redemptions, split over the instances', async () => {
    for (let round = 0; round < 3; round += 1) {
      const assertion = await idJag();
      const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => redeem(assertion, {}, instances[i % instances.length])));
      expect(answers.filter((answer) => answer.status === 200)).toHaveLength(1);
      const refused = answers.filter((answer) => answer.status !== 200);
      expect(refused).toHaveLength(11);
      for (const answer of refused) expect(answer).toEqual({ status: 400, body: { error: 'invalid_grant', error_description: 'this ID-JAG was already used (its jti was seen before)' } });
    }
  });

  it('binds the token to the DPoP key of a bound ID-JAG, and refuses it without a proof of that key', async () => {
    const keyPair = await oidc.randomDPoPKeyPair('ES256');
    const jkt = await calculateJwkThumbprint(await exportJWK(keyPair.publicKey));
    const bound = await idJag({ claims: { cnf: { jkt } } });
    expect(await redeem(bound)).toEqual({ status: 400, body: { error: 'invalid_grant', error_description: 'the ID-JAG is DPoP-bound: the request must carry a DPoP proof made with the key it is bound to' } });
    const otherKey = oidc.getDPoPHandle(client.config, await oidc.randomDPoPKeyPair('ES256'));
    await expect(oidc.genericGrantRequest(client.config, JWT_BEARER, { assertion: await idJag({ claims: { cnf: { jkt } } }) }, { DPoP: otherKey })).rejects.toMatchObject({ error: 'invalid_grant' });
    const tokens = await oidc.genericGrantRequest(client.config, JWT_BEARER, { assertion: await idJag({ claims: { cnf: { jkt } } }) }, { DPoP: oidc.getDPoPHandle(client.config, keyPair) });
    expect(tokens.token_type).toBe('dpop');
  });

  const now = () => Math.floor(Date.now() / 1000);
  const refusals: [string, () => Promise<string>, Record<string, string>, RegExp][] = [
    ['a wrong client_id', () => idJag({ claims: { client_id: 'someone-else' } }), {}, /issued for another client \(client_id\)/],
    ['no client_id', () => idJag({ omit: ['client_id'] }), {}, /no "client_id" claim/],
    ['a wrong aud', () => idJag({ claims: { aud: 'https://other-as.example.test' } }), {}, /audience \(aud\) must be this server's issuer/],
    ['an aud with a second member', () => idJag({ claims: { aud: [server.issuer, 'https://other-as.example.test'] } }), {}, /must be this server's issuer alone/],
    ['an unknown IdP', () => idJag({ claims: { iss: 'https://unknown-idp.example.test' } }), {}, /is not a trusted identity provider/],
    ['an IdP not allowed to name this client', () => idJag({ claims: { iss: OTHER_IDP } }), {}, /is not allowed to grant access to this client/],
    ['an expired one', () => idJag({ claims: { iat: now() - 200, exp: now() - 100 } }), {}, /has expired/],
    ['one issued too long ago', () => idJag({ claims: { iat: now() - 3600, exp: now() + 300 } }), {}, /issued more than 300 seconds ago/],
    ['no iat', () => idJag({ omit: ['iat'] }), {}, /no "iat" claim/],
    ['no jti', () => idJag({ omit: ['jti'] }), {}, /no "jti" claim/],
    ['a signature by another key', () => idJag({ key: strangerKey.privateKey }), {}, /signature does not verify/],
    ['typ JWT', () => idJag({ header: { typ: 'JWT' } }), {}, /not an ID-JAG: its typ must be "oauth-id-jag\+jwt", not "JWT"/],
    ['an unregistered resource', () => idJag({ claims: { resource: UNREGISTERED } }), {}, /is not a resource of this server/],
    ['a resource the ID-JAG does not name', () => idJag(), { resource: UNREGISTERED }, /does not grant access to "https:\/\/elsewhere\.example\.test\/mcp"/],
    ['no resource anywhere', () => idJag({ omit: ['resource'] }), {}, /names no resource/],
    ['alg none', async () => `${b64({ alg: 'none', typ: 'oauth-id-jag+jwt' })}.${b64(await claimsOf(await idJag()))}.`, {}, /unsigned \(alg "none"\)/],
    ['HS256 keyed with the IdP\'s public key', async () => {
      const key = new TextEncoder().encode(JSON.stringify(idpPublicJwk));
      return new SignJWT(await claimsOf(await idJag())).setProtectedHeader({ alg: 'HS256', typ: 'oauth-id-jag+jwt', kid: 'idp-1' }).sign(key);
    }, {}, /signed with alg "HS256", which is not allowed/],
    ['garbage', async () => 'not-a-jwt', {}, /not a well-formed JWT/],
    ['an oversized one', async () => `${'a'.repeat(20_000)}.b.c`, {}, /larger than 16384 bytes/],
  ];

  it.each(refusals)('refuses %s with invalid_grant, issuing nothing', async (_name, make, extra, description) => {
    const issuedBefore = server.issuedCount();
    const { status, body } = await redeem(await make(), extra);
    expect(status).toBe(400);
    expect(body.error).toBe('invalid_grant');
    expect(body.error_description).toMatch(description);
    expect(server.issuedCount()).toBe(issuedBefore);
  });

  it.each(['jwt', 'access_token'])('refuses an ID-JAG presented to token exchange as a %s subject token, issuing nothing', async (type) => {
    const issuedBefore = server.issuedCount();
    const response = await fetch(`${instances[0]}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${encodeURIComponent(client.id)}:${encodeURIComponent(client.secret)}`).toString('base64')}` },
      body: new URLSearchParams({ grant_type: TOKEN_EXCHANGE, subject_token: await idJag(), subject_token_type: `urn:ietf:params:oauth:token-type:${type}`, resource: MCP }).toString(),
    });
    const body = (await response.json()) as Record<string, unknown>;
    expect(response.status).toBe(400);
    expect(body.error).toBe('invalid_request');
    expect(body.error_description).toMatch(/is an ID-JAG \(typ "oauth-id-jag\+jwt"\): it is redeemed with the jwt-bearer grant, never exchanged/);
    expect(server.issuedCount()).toBe(issuedBefore);
  });

  describe('linking the IdP\'s users to ours', () => {
    const usersWithEmail = async (email: string) => server.db.selectFrom('users').select(['id', 'username', 'name']).where('email', 'ilike', email).execute();
    const subjectOf = async (accessToken: string) => (await oidc.tokenIntrospection(client.config, accessToken)).sub;
    const refusedWithNothingIssued = async (assertion: string, description: RegExp) => {
      const issuedBefore = server.issuedCount();
      const { status, body } = await redeem(assertion);
      expect({ status, error: body.error }).toEqual({ status: 400, error: 'invalid_grant' });
      expect(body.error_description).toMatch(description);
      expect(server.issuedCount()).toBe(issuedBefore);
    };

    it('by email: the token is the local user\'s whose address it is (case-insensitively), and the audit names the IdP\'s subject', async () => {
      const carol = await createUser(server, `carol-${mode}`, 'correct horse battery');
      const tokens = await oidc.genericGrantRequest(client.config, JWT_BEARER, { assertion: await idJag({ claims: { iss: LINKING_IDP, email: `CAROL-${mode}@Example.com` } }) });
      expect(await subjectOf(tokens.access_token)).toBe(carol.id);
      const ourKeys = createLocalJWKSet((await (await fetch(`${server.url}/jwks`)).json()) as { keys: JWK[] });
      expect((await jwtVerify(tokens.access_token, ourKeys, { issuer: server.issuer, audience: MCP })).payload.sub).toBe(carol.id);
      await server.audit.flush();
      await expect.poll(async () => (await server.db.selectFrom('audit_events').select(['subject', 'details']).where('event', '=', 'token.issued').where('subject', '=', carol.id).execute())
        .map((row) => (row.details as { id_jag_subject?: string }).id_jag_subject)).toEqual(['link:employee-42']);
    });

    it('by email: an address no local user has is refused, and the same ID-JAG works once the operator creates the user', async () => {
      const email = `dave-${mode}@example.com`;
      const assertion = await idJag({ claims: { iss: LINKING_IDP, email } });
      await refusedWithNothingIssued(assertion, /no local user has the assertion's email address/);
      expect(await usersWithEmail(email)).toHaveLength(0);
      const dave = await createUser(server, `dave-${mode}`, 'correct horse battery');
      const { status, body } = await redeem(assertion);
      expect(status).toBe(200);
      expect(await subjectOf(body.access_token as string)).toBe(dave.id);
    });

    it.each([
      ['an unverified email', { email: 'carol@example.com', email_verified: false }, []],
      ['no email', {}, ['email']],
    ] as const)('by email: refuses %s, issuing nothing', async (_name, claims, omit) => {
      await refusedWithNothingIssued(await idJag({ claims: { iss: LINKING_IDP, ...claims }, omit: [...omit] }), /has no verified "email" claim/);
    });

    it('by email: refuses an address two local users share, choosing neither', async () => {
      const email = `shared-${mode}@example.com`;
      for (const username of [`shared-a-${mode}`, `shared-b-${mode}`]) {
        expect((await adminRequest(server, 'POST', '/admin/users', { username, password: 'correct horse battery', email })).status).toBe(201);
      }
      await refusedWithNothingIssued(await idJag({ claims: { iss: LINKING_IDP, email } }), /more than one local user has the assertion's email address/);
    });

    it('just in time: the first redemption creates the user (username the email, the IdP\'s name), later ones reuse it', async () => {
      const email = `erin-${mode}@example.com`;
      const first = await oidc.genericGrantRequest(client.config, JWT_BEARER, { assertion: await idJag({ claims: { iss: JIT_IDP, email, name: 'Erin Example' } }) });
      const [erin, ...others] = await usersWithEmail(email);
      expect(others).toHaveLength(0);
      expect(erin).toMatchObject({ username: email, name: 'Erin Example' });
      expect(await subjectOf(first.access_token)).toBe(erin.id);
      const second = await oidc.genericGrantRequest(client.config, JWT_BEARER, { assertion: await idJag({ claims: { iss: JIT_IDP, email } }) });
      expect(await subjectOf(second.access_token)).toBe(erin.id);
      expect(await usersWithEmail(email)).toHaveLength(1);
      await server.audit.flush();
      await expect.poll(async () => (await server.db.selectFrom('audit_events').select(['details']).where('event', '=', 'token.issued').where('subject', '=', erin.id).execute())
        .map((row) => (row.details as { user_created?: boolean }).user_created ?? false).sort()).toEqual([false, true]);
      // Nobody knows the created user's password: the login page refuses every guess until an operator resets it.
    });

    it('just in time: 8 concurrent first redemptions for one new address, split over the instances, create one user', async () => {
      const email = `frank-${mode}@example.com`;
      const assertions = await Promise.all(Array.from({ length: 8 }, () => idJag({ claims: { iss: JIT_IDP, email } })));
      const answers = await Promise.all(assertions.map((assertion, i) => redeem(assertion, {}, instances[i % instances.length])));
      expect(answers.map((answer) => answer.status)).toEqual(Array(8).fill(200));
      const created = await usersWithEmail(email);
      expect(created).toHaveLength(1);
      const subjects = await Promise.all(answers.map((answer) => subjectOf(answer.body.access_token as string)));
      expect(new Set(subjects)).toEqual(new Set([created[0].id]));
    });

    it('just in time: refuses when the username is taken by a user without that address, creating and issuing nothing', async () => {
      const email = `grace-${mode}@example.com`;
      expect((await adminRequest(server, 'POST', '/admin/users', { username: email, password: 'correct horse battery', email: `other-${mode}@example.com` })).status).toBe(201);
      await refusedWithNothingIssued(await idJag({ claims: { iss: JIT_IDP, email } }), /a local user named "grace-.*" exists without that email address/);
      expect(await usersWithEmail(email)).toHaveLength(0);
    });

    it('external (the default): the subject stays the IdP\'s, prefixed, even when a local user has the email', async () => {
      await createUser(server, `henry-${mode}`, 'correct horse battery');
      const tokens = await oidc.genericGrantRequest(client.config, JWT_BEARER, { assertion: await idJag({ claims: { email: `henry-${mode}@example.com` } }) });
      expect(await subjectOf(tokens.access_token)).toBe('idp:employee-42');
    });
  });

  it('refuses a request without an assertion as invalid_request', async () => {
    expect(await redeem('')).toEqual({ status: 400, body: { error: 'invalid_request', error_description: "missing required parameter 'assertion'" } });
  });
});

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
async function claimsOf(jwt: string): Promise<Record<string, unknown>> {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8'));
}
