// RFC 8693 token exchange end to end over HTTP with openid-client's generic grant request: a user's token
// delegated through three agents, the operator's policy rules, may_act, scope/audience/lifetime narrowing,
// DPoP binding, and cascade revocation seen from a second instance.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { SignJWT, decodeJwt, importJWK, type CryptoKey, type JWK } from 'jose';
import { adminRequest, createResource, createUser } from '../support/admin.ts';
import { createKeyAgent, insecure, registerIntrospector, registerPublicApp, startExternalIssuer, userAccessToken, type ExternalIssuer, type KeyAgent } from '../support/delegation.ts';
import { STORAGE_MODES, startTestServer, type TestServer } from '../support/server.ts';

const TE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';
const FILES = 'https://files.example.test/';
const DOCS = 'https://docs.example.test/';
const SHORT = 'https://short.example.test/';
const REDIRECT_URI = 'http://127.0.0.1:8977/callback';
const EXTERNAL_ISSUER = 'https://idp.partner.test';

/** Whoever calls the token endpoint: an agent, or another registered client. */
type Agent = Pick<KeyAgent, 'id' | 'config'>;

describe.each(STORAGE_MODES)('token exchange on %s storage', (mode) => {
  let server: TestServer;
  let issuer: URL;
  let idp: ExternalIssuer;
  let app: oidc.Configuration;
  let introspector: oidc.Configuration;
  let introspectorBasic: string;
  let alice: string;
  let agentA: Agent;
  let agentB: Agent;
  let agentC: Agent;

  beforeAll(async () => {
    idp = await startExternalIssuer();
    server = await startTestServer(mode, `e2e-exchange-${mode}`, {
      TRUSTED_ISSUERS: JSON.stringify([{ issuer: EXTERNAL_ISSUER, jwks_uri: idp.jwksUrl, audiences: ['https://as.example.test'], subject_prefix: 'partner:' }]),
    });
    issuer = new URL(server.issuer);
    alice = (await createUser(server, 'alice', 'correct horse battery staple')).id;
    await createResource(server, { identifier: FILES, scopes: ['files:read', 'files:write', 'files.reports:read'], token_format: 'jwt', access_token_ttl: 600 });
    await createResource(server, { identifier: DOCS, scopes: ['files:read'], token_format: 'opaque', access_token_ttl: 600 });
    await createResource(server, { identifier: SHORT, scopes: ['files:read'], token_format: 'jwt', access_token_ttl: 45 });
    // Three resources define `files:read`, so a request for it names its resource (RFC 9068 §3, policy/scope-resolution.ts).

    app = await registerPublicApp(server, REDIRECT_URI);
    ({ config: introspector, basic: introspectorBasic } = await registerIntrospector(server));
    agentA = await createAgent({ name: 'A' });
    agentB = await createAgent({ name: 'B' });
    agentC = await createAgent({ name: 'C' });
  });
  afterAll(async () => {
    await server?.stop();
    idp?.close();
  });

  const createAgent = (body: Record<string, unknown>) => createKeyAgent(server, alice, body);
  const aliceToken = (resource = FILES, scope = 'files:read files:write') =>
    userAccessToken(app, REDIRECT_URI, { username: 'alice', password: 'correct horse battery staple' }, resource, scope);

  function exchange(agent: Agent, params: Record<string, string>, options?: oidc.DPoPOptions) {
    return oidc.genericGrantRequest(agent.config, TE, { subject_token_type: ACCESS_TOKEN, ...params }, options);
  }

  async function refusal(promise: Promise<unknown>): Promise<{ error: string; description: string }> {
    const error = await promise.then(() => undefined, (caught: unknown) => caught as oidc.ResponseBodyError);
    expect(error, 'the exchange should have been refused').toBeInstanceOf(oidc.ResponseBodyError);
    return { error: error!.error, description: error!.error_description ?? '' };
  }

  async function introspect(token: string) {
    return oidc.tokenIntrospection(introspector, token);
  }

  it('advertises the grant in metadata', async () => {
    expect(app.serverMetadata().grant_types_supported).toContain(TE);
  });

  it('delegates a user token through three agents: sub stays the user, act nests C ⊃ B ⊃ A', async () => {
    const subject = await aliceToken();
    const one = await exchange(agentA, { subject_token: subject, resource: FILES, scope: 'files:read' });
    expect(one).toMatchObject({ issued_token_type: ACCESS_TOKEN, token_type: 'bearer' });
    expect(one.refresh_token).toBeUndefined();
    expect(decodeJwt(one.access_token)).toMatchObject({ sub: alice, client_id: agentA.id, aud: FILES, scope: 'files:read', act: { sub: agentA.id } });

    const two = await exchange(agentB, { subject_token: one.access_token, resource: FILES });
    const three = await exchange(agentC, { subject_token: two.access_token, audience: FILES });
    const claims = decodeJwt(three.access_token);
    expect(claims.sub).toBe(alice);
    expect(claims.act).toEqual({ sub: agentC.id, act: { sub: agentB.id, act: { sub: agentA.id } } });
    // Without a requested scope, the subject's scope is carried on (and named in the response).
    expect(three.scope).toBe('files:read');

    const introspection = await introspect(three.access_token);
    expect(introspection).toMatchObject({ active: true, sub: alice, client_id: agentC.id, act: { sub: agentC.id, act: { sub: agentB.id, act: { sub: agentA.id } } } });
  });

  it('exchanges opaque tokens too, and an agent may act with its own token as actor_token', async () => {
    const subject = await aliceToken(DOCS, 'files:read');
    const actor = await oidc.clientCredentialsGrant(agentA.config, { scope: 'files:read', resource: FILES });
    const exchanged = await exchange(agentA, { subject_token: subject, actor_token: actor.access_token, actor_token_type: ACCESS_TOKEN, resource: DOCS });
    expect(exchanged.access_token.split('.')).toHaveLength(1);
    expect(await introspect(exchanged.access_token)).toMatchObject({ active: true, sub: alice, aud: DOCS, act: { sub: agentA.id } });
  });

  describe('policy and narrowing', () => {
    it('max_depth refuses a chain deeper than the agent may build', async () => {
      const shallow = await createAgent({ name: 'shallow', delegation_policy: { max_depth: 2 } });
      const one = await exchange(agentA, { subject_token: await aliceToken(), resource: FILES });
      const two = await exchange(agentB, { subject_token: one.access_token, resource: FILES });
      const refused = await refusal(exchange(shallow, { subject_token: two.access_token, resource: FILES }));
      expect(refused).toMatchObject({ error: 'invalid_request', description: expect.stringContaining('"max_depth"') });
    });

    it('allowed_actors: only the listed actors may act on tokens of the subject token\'s client', async () => {
      const guarded = await createAgent({ name: 'guarded', delegation_policy: { allowed_actors: [agentA.id] } });
      const own = (await oidc.clientCredentialsGrant(guarded.config, { scope: 'files:read', resource: FILES })).access_token;
      const derived = await exchange(agentA, { subject_token: own });
      expect(await refusal(exchange(agentB, { subject_token: own }))).toMatchObject({ error: 'invalid_request', description: expect.stringContaining('"allowed_actors"') });
      // Exchanging once more does not shed the restriction: the chain's first client still decides.
      expect(await refusal(exchange(agentB, { subject_token: derived.access_token }))).toMatchObject({ description: expect.stringContaining('"allowed_actors"') });
    });

    it('human_root_required refuses a chain rooted in an agent, not one rooted in a person', async () => {
      const strict = await createAgent({ name: 'strict', delegation_policy: { human_root_required: true } });
      const agentOwn = (await oidc.clientCredentialsGrant(agentA.config, { scope: 'files:read', resource: FILES })).access_token;
      expect(await refusal(exchange(strict, { subject_token: agentOwn }))).toMatchObject({ error: 'invalid_request', description: expect.stringContaining('"human_root_required"') });
      // Two hops from alice: the root is still a person.
      const one = await exchange(agentA, { subject_token: await aliceToken(), resource: FILES });
      await exchange(strict, { subject_token: one.access_token, resource: FILES });
    });

    it('impersonation only where policy allows it; otherwise the client is the actor', async () => {
      const impersonator = await createAgent({ name: 'impersonator', delegation_policy: { impersonation: true } });
      const subject = await aliceToken();
      const impersonated = decodeJwt((await exchange(impersonator, { subject_token: subject, resource: FILES })).access_token);
      expect(impersonated.sub).toBe(alice);
      expect(impersonated.act).toBeUndefined();
      const delegated = decodeJwt((await exchange(agentB, { subject_token: subject, resource: FILES })).access_token);
      expect(delegated.act).toEqual({ sub: agentB.id });
    });

    it('applies a delegation policy the operator gave a registered client; a client cannot give itself one', async () => {
      const registered = await oidc.dynamicClientRegistration(issuer, {
        grant_types: [TE], response_types: [], redirect_uris: [], delegation_policy: { impersonation: true },
      }, undefined, { ...insecure, initialAccessToken: server.adminToken });
      const gateway = {
        id: registered.clientMetadata().client_id,
        config: await oidc.discovery(issuer, registered.clientMetadata().client_id, undefined, oidc.ClientSecretBasic(registered.clientMetadata().client_secret as string), insecure),
      };
      const impersonated = decodeJwt((await exchange(gateway, { subject_token: await aliceToken(), resource: FILES })).access_token);
      expect(impersonated).toMatchObject({ sub: alice, client_id: gateway.id });
      expect(impersonated.act).toBeUndefined();

      const anonymous = await fetch(`${server.url}/reg`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: 'none', delegation_policy: { impersonation: true } }),
      });
      // Only the initial access token allows it, and none was sent (RFC 6750 §3.1).
      expect(anonymous.status).toBe(401);
      expect(anonymous.headers.get('www-authenticate')).toMatch(/^Bearer realm=/);
      expect(await anonymous.json()).toMatchObject({ error: 'invalid_client_metadata', error_description: expect.stringContaining('delegation_policy') });
    });

    it('refuses audiences the agent may not have and unregistered ones (invalid_target)', async () => {
      const limited = await createAgent({ name: 'limited', delegation_policy: { allowed_audiences: [FILES] } });
      const subject = await aliceToken();
      expect(await refusal(exchange(limited, { subject_token: subject, resource: DOCS }))).toMatchObject({ error: 'invalid_target', description: expect.stringContaining('"allowed_audiences"') });
      expect((await refusal(exchange(agentA, { subject_token: subject, audience: 'https://unknown.example.test/' }))).error).toBe('invalid_target');
      expect((await refusal(exchange(agentA, { subject_token: subject, audience: FILES, resource: DOCS }))).error).toBe('invalid_target');
      expect((await refusal(exchange(agentA, { subject_token: subject, resource: `${FILES}\u0000` }))).error).toBe('invalid_target');
    });

    it('never widens scope (invalid_scope)', async () => {
      const subject = await aliceToken(FILES, 'files:read');
      const before = server.issuedCount();
      const refused = await refusal(exchange(agentA, { subject_token: subject, resource: FILES, scope: 'files:read files:write' }));
      expect(refused.error).toBe('invalid_scope');
      const outsideAgent = await createAgent({ name: 'narrow', scopes: ['projects:*'], default_scopes: [] });
      expect((await refusal(exchange(outsideAgent, { subject_token: subject, scope: 'files:read' }))).error).toBe('invalid_scope');
      expect(server.issuedCount()).toBe(before);
    });

    it('caps the lifetime at the subject token\'s remaining lifetime', async () => {
      const shortLived = await createAgent({ name: 'short-lived', access_token_ttl: 30 });
      const subject = (await oidc.clientCredentialsGrant(shortLived.config, { scope: 'files:read', resource: FILES })).access_token;
      const exchanged = await exchange(agentA, { subject_token: subject });
      expect(exchanged.expires_in).toBeLessThanOrEqual(30);
      expect((await introspect(exchanged.access_token)).exp).toBeLessThanOrEqual((await introspect(subject)).exp!);
    });

    it('keeps a token for one resource to that resource (invalid_target for another; inherited when none is named)', async () => {
      const subject = await aliceToken(FILES, 'files:read');
      const before = server.issuedCount();
      expect(await refusal(exchange(agentA, { subject_token: subject, resource: DOCS }))).toMatchObject({
        error: 'invalid_target', description: expect.stringContaining('"subject_audience"'),
      });
      expect(server.issuedCount()).toBe(before);
      expect(decodeJwt((await exchange(agentA, { subject_token: subject })).access_token).aud).toBe(FILES);
    });
  });

  describe('may_act', () => {
    it('lets only the named party act for tokens that carry it', async () => {
      const principal = await createAgent({ name: 'principal', may_act: { sub: agentA.id } });
      const own = (await oidc.clientCredentialsGrant(principal.config, { scope: 'files:read', resource: FILES })).access_token;
      expect(await introspect(own)).toMatchObject({ may_act: { sub: agentA.id } });
      const derived = await exchange(agentA, { subject_token: own });
      expect(await refusal(exchange(agentB, { subject_token: own }))).toMatchObject({ error: 'invalid_request', description: expect.stringContaining('"may_act"') });
      // The statement travels with what is derived from the token: only the named party acts further.
      expect(await introspect(derived.access_token)).toMatchObject({ may_act: { sub: agentA.id } });
      expect(await refusal(exchange(agentB, { subject_token: derived.access_token }))).toMatchObject({ description: expect.stringContaining('"may_act"') });
    });
  });

  describe('subject tokens that are refused with invalid_request', () => {
    async function ourPrivateKey(): Promise<{ key: CryptoKey; kid: string; publicJwk: JWK }> {
      const row = await server.db.selectFrom('signing_keys').selectAll().where('alg', '=', 'ES256').where('status', '=', 'active').executeTakeFirstOrThrow();
      const { d: _d, ...publicJwk } = row.private_jwk as JWK;
      return { key: (await importJWK(row.private_jwk as JWK, 'ES256')) as CryptoKey, kid: row.kid, publicJwk };
    }
    const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');

    it.each([
      ['malformed', () => 'not-a-token'],
      ['oversized', () => 'x'.repeat(20_000)],
      ['alg none with our issuer', () => `${b64({ alg: 'none', typ: 'at+jwt' })}.${b64({ iss: server.issuer, sub: 'x', exp: 4102444800, jti: 'j' })}.`],
      ['from a foreign issuer', () => `${b64({ alg: 'ES256' })}.${b64({ iss: 'https://evil.test', sub: 'x', exp: 4102444800 })}.c2ln`],
    ])('%s', async (_label, token) => {
      const before = server.issuedCount();
      expect((await refusal(exchange(agentA, { subject_token: token() }))).error).toBe('invalid_request');
      expect(server.issuedCount()).toBe(before);
    });

    it('HS256 "signed" with our public key', async () => {
      const { publicJwk, kid } = await ourPrivateKey();
      const forged = await new SignJWT({ sub: alice, scope: 'files:read', jti: 'forged', client_id: agentA.id })
        .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid }).setIssuer(server.issuer).setAudience(FILES).setExpirationTime('5m')
        .sign(new TextEncoder().encode(JSON.stringify(publicJwk)));
      expect(await refusal(exchange(agentA, { subject_token: forged }))).toMatchObject({ error: 'invalid_request', description: expect.stringContaining('algorithm') });
    });

    it('expired (signed with our own key, so only the expiry is wrong)', async () => {
      const { key, kid } = await ourPrivateKey();
      const expired = await new SignJWT({ sub: alice, scope: 'files:read', jti: 'expired', client_id: agentA.id })
        .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid }).setIssuer(server.issuer).setAudience(FILES)
        .setIssuedAt(Math.floor(Date.now() / 1000) - 3600).setExpirationTime(Math.floor(Date.now() / 1000) - 600).sign(key);
      expect(await refusal(exchange(agentA, { subject_token: expired }))).toMatchObject({ error: 'invalid_request', description: expect.stringContaining('expired') });
    });

    it('the jti of one of our JWTs, which is an identifier, not a bearer token', async () => {
      const { jti } = decodeJwt(await aliceToken());
      expect((await refusal(exchange(agentA, { subject_token: jti! }))).description).toContain('not active');
      expect((await introspect(jti!)).active).toBe(false);
    });

    it('revoked', async () => {
      const subject = await aliceToken();
      await oidc.tokenRevocation(app, subject);
      expect((await refusal(exchange(agentA, { subject_token: subject }))).description).toContain('not active');
    });

    it('from a suspended agent', async () => {
      const holder = await createAgent({ name: 'to-suspend' });
      const own = (await oidc.clientCredentialsGrant(holder.config, { scope: 'files:read', resource: FILES })).access_token;
      await adminRequest(server, 'POST', `/admin/agents/${holder.id}/suspend`);
      expect((await refusal(exchange(agentA, { subject_token: own }))).description).toContain('suspended');
    });

    it('a refresh token, and mismatched actor parameters', async () => {
      const subject = await aliceToken();
      expect((await refusal(exchange(agentA, { subject_token: subject, subject_token_type: 'urn:ietf:params:oauth:token-type:refresh_token' }))).description).toContain('refresh token');
      expect((await refusal(exchange(agentA, { subject_token: subject, actor_token: subject }))).description).toContain('actor_token_type');
      expect((await refusal(exchange(agentA, { subject_token: subject, actor_token_type: ACCESS_TOKEN }))).description).toContain('actor_token');
      expect((await refusal(exchange(agentA, { subject_token_type: ACCESS_TOKEN } as Record<string, string>))).description).toContain('subject_token');
      // An actor token issued to another client is not this client's to use.
      const othersToken = (await oidc.clientCredentialsGrant(agentB.config, { scope: 'files:read', resource: FILES })).access_token;
      expect((await refusal(exchange(agentA, { subject_token: subject, actor_token: othersToken, actor_token_type: ACCESS_TOKEN }))).description).toContain('not issued to this client');
    });

    it('accepts a trusted external issuer\'s token and refuses its wrong-audience twin', async () => {
      const good = await idp.sign({ iss: EXTERNAL_ISSUER, sub: 'bob', aud: 'https://as.example.test', scope: 'files:read', exp: Math.floor(Date.now() / 1000) + 300 });
      const exchanged = await exchange(agentA, { subject_token: good, subject_token_type: 'urn:ietf:params:oauth:token-type:jwt', resource: FILES });
      expect(decodeJwt(exchanged.access_token)).toMatchObject({ sub: 'partner:bob', act: { sub: agentA.id }, scope: 'files:read' });
      const twin = await idp.sign({ iss: EXTERNAL_ISSUER, sub: 'bob', aud: 'https://elsewhere.test', scope: 'files:read', exp: Math.floor(Date.now() / 1000) + 300 });
      expect(await refusal(exchange(agentA, { subject_token: twin, subject_token_type: 'urn:ietf:params:oauth:token-type:jwt' }))).toMatchObject({
        error: 'invalid_request', description: expect.stringContaining('audience'),
      });
    });
  });

  it('without resource or a subject audience, exchanges for the resource the scope refers to (RFC 9068 §3)', async () => {
    const external = await idp.sign({ iss: EXTERNAL_ISSUER, sub: 'bob', aud: 'https://as.example.test', scope: 'files:read files.reports:read', exp: Math.floor(Date.now() / 1000) + 300 });
    const jwtType = 'urn:ietf:params:oauth:token-type:jwt';
    const exchanged = await exchange(agentA, { subject_token: external, subject_token_type: jwtType, scope: 'files.reports:read' });
    expect(exchanged.scope).toBe('files.reports:read');
    expect(decodeJwt(exchanged.access_token)).toMatchObject({ sub: 'partner:bob', aud: FILES, scope: 'files.reports:read' });
    // `files:read` is defined by three resources here: the request must say which.
    expect(await refusal(exchange(agentA, { subject_token: external, subject_token_type: jwtType, scope: 'files:read' }))).toEqual({
      error: 'invalid_scope',
      description: `the requested scopes refer to more than one resource ("${DOCS}", "${FILES}", "${SHORT}"): send the resource parameter (RFC 8707) to say which`,
    });
    // An inferred resource is held to the same rules as a named one: an agent limited to DOCS may not get FILES.
    const docsOnly = await createAgent({ name: 'docs-only', resources: [DOCS] });
    expect(await refusal(exchange(docsOnly, { subject_token: external, subject_token_type: jwtType, scope: 'files.reports:read' }))).toMatchObject({
      error: 'invalid_target', description: `this agent may not request tokens for "${FILES}"`,
    });
  });

  describe('DPoP', () => {
    it('binds the exchanged token to the proof key and refuses a replayed proof', async () => {
      const subject = await aliceToken();
      const keyPair = await oidc.randomDPoPKeyPair('ES256');
      const dpop = oidc.getDPoPHandle(agentA.config, keyPair);
      const bound = await exchange(agentA, { subject_token: subject, resource: FILES }, { DPoP: dpop });
      expect(bound.token_type).toBe('dpop');
      const claims = decodeJwt(bound.access_token) as { cnf?: { jkt?: string } };
      expect(claims.cnf?.jkt).toEqual(expect.any(String));
      expect((await introspect(bound.access_token)).cnf).toEqual({ jkt: claims.cnf!.jkt });

      // The same proof sent again (captured on the wire and replayed by a custom fetch) is refused.
      const replayer = await createAgent({ name: 'replayer' });
      let captured: string | undefined;
      let replay = false;
      replayer.config[oidc.customFetch] = (url, options) => {
        const headers = new Headers(options.headers as ConstructorParameters<typeof Headers>[0]);
        if (replay && captured) headers.set('dpop', captured);
        else captured = headers.get('dpop') ?? undefined;
        return fetch(url, { ...options, headers } as RequestInit);
      };
      await exchange(replayer, { subject_token: subject, resource: FILES }, { DPoP: oidc.getDPoPHandle(replayer.config, keyPair) });
      replay = true;
      const before = server.issuedCount();
      const replayed = await refusal(exchange(replayer, { subject_token: subject, resource: FILES }, { DPoP: oidc.getDPoPHandle(replayer.config, keyPair) }));
      expect(replayed.error).toBe('invalid_dpop_proof');
      expect(server.issuedCount()).toBe(before);
    });

    it('requires a proof of the key a DPoP-bound subject token is bound to', async () => {
      const keyPair = await oidc.randomDPoPKeyPair('ES256');
      const dpop = oidc.getDPoPHandle(agentA.config, keyPair);
      const boundOwn = (await oidc.clientCredentialsGrant(agentA.config, { scope: 'files:read', resource: FILES }, { DPoP: dpop })).access_token;
      expect((await refusal(exchange(agentB, { subject_token: boundOwn }))).description).toContain('DPoP-bound');
      const again = await exchange(agentA, { subject_token: boundOwn }, { DPoP: oidc.getDPoPHandle(agentA.config, keyPair) });
      expect(again.token_type).toBe('dpop');
    });
  });

  it('cascade: revoking the user\'s token makes every token derived from it inactive', async () => {
    const subject = await aliceToken();
    const one = await exchange(agentA, { subject_token: subject, resource: FILES });
    const two = await exchange(agentB, { subject_token: one.access_token });
    const three = await exchange(agentC, { subject_token: two.access_token, resource: FILES });
    for (const token of [one, two, three]) expect((await introspect(token.access_token)).active).toBe(true);
    await oidc.tokenRevocation(app, subject);
    for (const token of [one, two, three]) expect((await introspect(token.access_token)).active).toBe(false);
    if (mode === 'redis+postgres') {
      // Another instance behind the same load balancer sees the same thing at once.
      const sibling = await server.startSibling();
      for (const token of [one, two, three]) {
        const response = await fetch(`${sibling.url}/token/introspection`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: introspectorBasic },
          body: new URLSearchParams({ token: token.access_token }),
        });
        expect(await response.json()).toEqual({ active: false });
      }
    }
    // A derived token cannot be exchanged further either.
    expect((await refusal(exchange(agentA, { subject_token: three.access_token }))).description).toContain('revoked');
  });

  it('revoking the actor token ends the token exchanged with it', async () => {
    const actor = (await oidc.clientCredentialsGrant(agentB.config, { scope: 'files:read', resource: FILES })).access_token;
    const exchanged = await exchange(agentB, { subject_token: await aliceToken(), actor_token: actor, actor_token_type: ACCESS_TOKEN, resource: FILES });
    expect((await introspect(exchanged.access_token)).active).toBe(true);
    await oidc.tokenRevocation(agentB.config, actor);
    expect((await introspect(exchanged.access_token)).active).toBe(false);
  });

  it('suspending an agent in the chain ends the tokens derived from its token', async () => {
    const middle = await createAgent({ name: 'middle' });
    const one = await exchange(middle, { subject_token: await aliceToken(), resource: FILES });
    const two = await exchange(agentC, { subject_token: one.access_token, resource: FILES });
    expect((await introspect(two.access_token)).active).toBe(true);
    await adminRequest(server, 'POST', `/admin/agents/${middle.id}/suspend`);
    expect((await introspect(two.access_token)).active).toBe(false);
  });

  it('audits each exchange with its actor chain', async () => {
    const one = await exchange(agentA, { subject_token: await aliceToken(), resource: FILES });
    await exchange(agentB, { subject_token: one.access_token, resource: FILES });
    const { items } = (await (await adminRequest(server, 'GET', `/admin/audit?client_id=${agentB.id}&event=token.issued&limit=1`)).json()) as { items: { subject: string; actor: unknown }[] };
    expect(items[0]).toMatchObject({ subject: alice, actor: { sub: agentB.id, act: { sub: agentA.id } } });
  });
});
