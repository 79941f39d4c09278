// Transaction tokens end to end over HTTP (draft-ietf-oauth-transaction-tokens): operator-approved workloads
// exchange a user's access token, a delegated token, a trusted issuer's JWT or a self-asserted subject for a
// Txn-Token; replacement; every refusal with its error code and nothing issued; verification from jwks_uri.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { SignJWT, decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { verifyTransactionToken } from '../../packages/verifier/src/transaction-token.ts';
import { adminRequest, createResource, createUser } from '../support/admin.ts';
import { createKeyAgent, insecure, registerIntrospector, registerPublicApp, startExternalIssuer, userAccessToken, type ExternalIssuer } from '../support/delegation.ts';
import { STORAGE_MODES, startTestServer, type TestServer } from '../support/server.ts';

const TE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const TYPE = (name: string) => `urn:ietf:params:oauth:token-type:${name}`;
const ACCESS_TOKEN = TYPE('access_token');
const TXN_TOKEN = TYPE('txn_token');
const TRUST_DOMAIN = 'trust-domain.example';
const FILES = 'https://files.example.test/';
const DOCS = 'https://docs.example.test/';
const SHORT = 'https://short.example.test/';
const REDIRECT_URI = 'http://127.0.0.1:8978/callback';
const EXTERNAL_ISSUER = 'https://idp.partner.test';
const LIFETIME = 120;
const CONTEXT = { req_ip: '69.151.72.123', authn: 'face' };
const DETAILS = { action: 'BUY', ticker: 'MSFT', quantity: '100', card_number: '4111111111111111' };

interface Client { id: string; key: CryptoKey; kid: string; config: oidc.Configuration }

describe.each(STORAGE_MODES)('transaction tokens on %s storage', (mode) => {
  let server: TestServer;
  let issuer: URL;
  let jwksUri: string;
  let idp: ExternalIssuer;
  let app: oidc.Configuration;
  let introspector: oidc.Configuration;
  let alice: string;
  let agentA: Client;
  let agentB: Client;
  let gateway: Client;
  let orders: Client;
  let batch: Client;
  let outsider: Client;
  let txnIssued = 0;

  beforeAll(async () => {
    idp = await startExternalIssuer();
    server = await startTestServer(mode, `e2e-txn-${mode}`, {
      TRUST_DOMAIN,
      TXN_TOKEN_LIFETIME: String(LIFETIME),
      TXN_TOKEN_MAX_CONTEXT_BYTES: '1024',
      TRUSTED_ISSUERS: JSON.stringify([{
        issuer: EXTERNAL_ISSUER, jwks_uri: idp.jwksUrl, audiences: ['https://as.example.test'], subject_prefix: 'partner:',
      }]),
    });
    server.provider.on('grant.success', (ctx: KoaContextWithOIDC) => {
      if ((ctx.oidc.entities as Record<string, unknown>).TransactionToken) txnIssued += 1;
    });
    issuer = new URL(server.issuer);
    alice = (await createUser(server, 'alice', 'correct horse battery staple')).id;
    await createResource(server, { identifier: FILES, scopes: ['files:read', 'files:write'], token_format: 'jwt', access_token_ttl: 600 });
    await createResource(server, { identifier: DOCS, scopes: ['files:read'], token_format: 'opaque', access_token_ttl: 600 });
    await createResource(server, { identifier: SHORT, scopes: ['files:read'], token_format: 'jwt', access_token_ttl: 45 });

    app = await registerPublicApp(server, REDIRECT_URI);
    jwksUri = new URL(new URL(app.serverMetadata().jwks_uri!).pathname, server.url).href;
    introspector = (await registerIntrospector(server)).config;

    agentA = await createAgent('A');
    agentB = await createAgent('B');
    gateway = await registerWorkload('api-gateway', { tctx_members: ['action', 'ticker', 'quantity'] });
    orders = await registerWorkload('orders', {});
    batch = await registerWorkload('batch', { subject_token_types: ['self_signed', 'unsigned_json'], allowed_scopes: ['reports:*'] });
    outsider = await registerWorkload('outsider', undefined);
  });
  afterAll(async () => {
    await server?.stop();
    idp?.close();
  });

  async function createAgent(name: string): Promise<Client> {
    return { ...(await createKeyAgent(server, alice, { name })), kid: '' };
  }

  /** A workload of the trust domain, registered by the operator (ADMIN_TOKEN as initial access token). */
  async function registerWorkload(name: string, policy: oidc.JsonObject | undefined, orgId?: string): Promise<Client> {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const kid = `${name}-1`;
    const workload = await oidc.dynamicClientRegistration(issuer, {
      client_name: name, grant_types: [TE], response_types: [], redirect_uris: [], token_endpoint_auth_method: 'private_key_jwt',
      jwks: { keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' }] },
      ...(policy ? { txn_token_policy: policy } : {}),
      ...(orgId ? { org_id: orgId } : {}),
    }, undefined, { ...insecure, initialAccessToken: server.adminToken });
    const id = workload.clientMetadata().client_id;
    return { id, key: privateKey, kid, config: await oidc.discovery(issuer, id, workload.clientMetadata(), oidc.PrivateKeyJwt(privateKey), insecure) };
  }

  const aliceToken = (resource = FILES, scope = 'files:read files:write') =>
    userAccessToken(app, REDIRECT_URI, { username: 'alice', password: 'correct horse battery staple' }, resource, scope);

  function requestTxnToken(workload: Client, params: Record<string, string>, options?: oidc.DPoPOptions) {
    return oidc.genericGrantRequest(workload.config, TE, {
      requested_token_type: TXN_TOKEN, audience: TRUST_DOMAIN, scope: 'files:read', subject_token_type: ACCESS_TOKEN, ...params,
    }, options);
  }

  /** The request is refused with this error, and no Txn-Token (nor any other token) is issued. */
  async function refused(promise: Promise<unknown>, error: string, description?: string): Promise<void> {
    const before = { txn: txnIssued, tokens: server.issuedCount() };
    const caught = await promise.then(() => undefined, (failure: unknown) => failure as oidc.ResponseBodyError);
    expect(caught, 'the request should have been refused').toBeInstanceOf(oidc.ResponseBodyError);
    expect(caught!.error).toBe(error);
    if (description) expect(caught!.error_description).toContain(description);
    expect({ txn: txnIssued, tokens: server.issuedCount() }).toEqual(before);
  }

  const verify = (token: string) => verifyTransactionToken(token, { jwksUri, trustDomain: TRUST_DOMAIN, issuer: server.issuer });

  async function ourKey(alg: 'ES256'): Promise<{ key: CryptoKey; kid: string }> {
    const row = await server.db.selectFrom('signing_keys').selectAll().where('alg', '=', alg).where('status', '=', 'active').executeTakeFirstOrThrow();
    return { key: (await importJWK(row.private_jwk as JWK, alg)) as CryptoKey, kid: row.kid };
  }

  describe('issuance', () => {
    it('from a user\'s access token: the draft\'s response, header and claims, verifiable from jwks_uri', async () => {
      const subject = await aliceToken();
      let raw: Record<string, unknown> | undefined;
      gateway.config[oidc.customFetch] = async (url, options) => {
        const response = await fetch(url, options as RequestInit);
        raw = await response.clone().json() as Record<string, unknown>;
        return response;
      };
      const tokensBefore = server.issuedCount();
      const response = await requestTxnToken(gateway, {
        subject_token: subject, request_context: JSON.stringify(CONTEXT), request_details: JSON.stringify(DETAILS),
      }).finally(() => { delete gateway.config[oidc.customFetch]; });

      expect(Object.keys(raw!).sort()).toEqual(['access_token', 'expires_in', 'issued_token_type', 'token_type']);
      expect(raw).toMatchObject({ token_type: 'N_A', issued_token_type: TXN_TOKEN, expires_in: LIFETIME });
      expect(response.refresh_token).toBeUndefined();
      // Not an oidc-provider access token: nothing was stored, and introspection knows nothing of it.
      expect(server.issuedCount()).toBe(tokensBefore);
      expect((await oidc.tokenIntrospection(introspector, response.access_token)).active).toBe(false);

      const token = response.access_token;
      const header = decodeProtectedHeader(token);
      expect(header).toEqual({ alg: 'ES256', typ: 'txntoken+jwt', kid: expect.any(String) });
      const jwks = await (await fetch(jwksUri)).json() as { keys: JWK[] };
      expect(jwks.keys.map((key) => key.kid)).toContain(header.kid);

      const claims = decodeJwt(token);
      // The draft's claims, and the subject's organization as access tokens carry it.
      expect(Object.keys(claims).sort()).toEqual(['aud', 'exp', 'iat', 'iss', 'org_id', 'rctx', 'req_wl', 'scope', 'sub', 'tctx', 'txn']);
      expect(claims).toEqual({
        iss: server.issuer, iat: expect.any(Number), exp: claims.iat! + LIFETIME, aud: TRUST_DOMAIN, txn: expect.stringMatching(/^[0-9a-f-]{36}$/),
        sub: alice, scope: 'files:read', req_wl: gateway.id, rctx: CONTEXT, org_id: 'default',
        // The operator's filter (tctx_members) keeps the card number out.
        tctx: { action: 'BUY', ticker: 'MSFT', quantity: '100' },
      });
      expect(token).not.toContain(subject);
      expect(JSON.stringify(claims)).not.toContain(subject);

      expect(await verify(token)).toEqual(claims);
    });

    it('from a delegated token: the act chain is carried over', async () => {
      const one = await oidc.genericGrantRequest(agentA.config, TE, { subject_token: await aliceToken(), subject_token_type: ACCESS_TOKEN, resource: FILES });
      const two = await oidc.genericGrantRequest(agentB.config, TE, { subject_token: one.access_token, subject_token_type: ACCESS_TOKEN, resource: FILES });
      const claims = decodeJwt((await requestTxnToken(gateway, { subject_token: two.access_token })).access_token);
      expect(claims).toMatchObject({ sub: alice, req_wl: gateway.id, act: { sub: agentB.id, act: { sub: agentA.id } } });
    });

    it('from an opaque access token and from a trusted issuer\'s JWT', async () => {
      const opaque = await aliceToken(DOCS, 'files:read');
      expect(decodeJwt((await requestTxnToken(gateway, { subject_token: opaque })).access_token)).toMatchObject({ sub: alice, scope: 'files:read' });

      const exp = Math.floor(Date.now() / 1000) + 300;
      const external = await idp.sign({ iss: EXTERNAL_ISSUER, sub: 'bob', aud: 'https://as.example.test', scope: 'files:read', exp });
      expect(decodeJwt((await requestTxnToken(gateway, { subject_token: external, subject_token_type: TYPE('jwt') })).access_token)).toMatchObject({ sub: 'partner:bob' });
      // Its scope cannot be determined: refused, not treated as unconstrained.
      const scopeless = await idp.sign({ iss: EXTERNAL_ISSUER, sub: 'bob', aud: 'https://as.example.test', exp });
      await refused(requestTxnToken(gateway, { subject_token: scopeless, subject_token_type: TYPE('jwt') }), 'invalid_request', 'states no scope');
    });

    it('exp is short and never beyond the subject token\'s expiry; txn is unique per issuance', async () => {
      const subject = await aliceToken();
      const [first, second] = await Promise.all([requestTxnToken(gateway, { subject_token: subject }), requestTxnToken(gateway, { subject_token: subject })]);
      const [a, b] = [decodeJwt(first.access_token), decodeJwt(second.access_token)];
      expect(a.exp! - a.iat!).toBe(LIFETIME);
      expect(a.txn).not.toBe(b.txn);

      const short = await aliceToken(SHORT, 'files:read');
      const capped = await requestTxnToken(gateway, { subject_token: short });
      expect(capped.expires_in).toBeLessThanOrEqual(45);
      expect(decodeJwt(capped.access_token).exp).toBeLessThanOrEqual(decodeJwt(short).exp!);
    });

    it('a DPoP proof sent along binds nothing: no cnf, token_type N_A', async () => {
      const dpop = oidc.getDPoPHandle(gateway.config, await oidc.randomDPoPKeyPair('ES256'));
      const response = await requestTxnToken(gateway, { subject_token: await aliceToken() }, { DPoP: dpop });
      expect(response.token_type).toBe('n_a');
      expect(decodeJwt(response.access_token).cnf).toBeUndefined();
    });

    it('self_signed and unsigned_json subjects for a workload the operator enabled them for', async () => {
      const now = Math.floor(Date.now() / 1000);
      const selfSigned = (claims: JWTPayload, key = batch.key) => new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: batch.kid })
        .setIssuer(batch.id).setAudience(server.issuer).setIssuedAt(now).setExpirationTime(now + 60).sign(key);
      const fromSelfSigned = await requestTxnToken(batch, {
        subject_token: await selfSigned({ sub: 'nightly-report', scope: 'reports:generate' }), subject_token_type: TYPE('self_signed'), scope: 'reports:generate',
      });
      const claims = decodeJwt(fromSelfSigned.access_token);
      expect(claims).toMatchObject({ sub: 'nightly-report', scope: 'reports:generate', req_wl: batch.id });
      expect(claims.exp).toBeLessThanOrEqual(now + 60);

      const fromJson = await requestTxnToken(batch, {
        subject_token: JSON.stringify({ sub: 'nightly-report', scope: 'reports:generate reports:read' }), subject_token_type: TYPE('unsigned_json'), scope: 'reports:read',
      });
      expect(decodeJwt(fromJson.access_token)).toMatchObject({ sub: 'nightly-report', scope: 'reports:read' });

      await refused(requestTxnToken(batch, { subject_token: await selfSigned({ sub: 'x' }), subject_token_type: TYPE('self_signed'), scope: 'reports:generate' }), 'invalid_request', 'states no scope');
      await refused(requestTxnToken(batch, { subject_token: JSON.stringify({ sub: 'x' }), subject_token_type: TYPE('unsigned_json'), scope: 'reports:read' }), 'invalid_request', 'states no scope');
      const { privateKey: stranger } = await generateKeyPair('ES256');
      await refused(requestTxnToken(batch, {
        subject_token: await selfSigned({ sub: 'x', scope: 'reports:generate' }, stranger), subject_token_type: TYPE('self_signed'), scope: 'reports:generate',
      }), 'invalid_request', 'signature');
      // The operator's allowed_scopes bound what the workload may assert for itself.
      await refused(requestTxnToken(batch, {
        subject_token: JSON.stringify({ sub: 'x', scope: 'files:write' }), subject_token_type: TYPE('unsigned_json'), scope: 'files:write',
      }), 'invalid_scope');
    });
  });

  describe('organizations', () => {
    it("carry the subject's org_id; a workload of another organization is refused its token (invalid_request), issuing nothing", async () => {
      expect((await adminRequest(server, 'POST', '/admin/organizations', { id: 'acme', name: 'Acme' })).status).toBe(201);
      const ACME = 'https://acme.txn.example.test/';
      await createResource(server, { identifier: ACME, scopes: ['acme:read'], token_format: 'jwt', org_id: 'acme' });
      const owner = (await (await adminRequest(server, 'POST', '/admin/users', { username: 'ada', password: 'correct horse battery staple', org_id: 'acme' })).json()) as { id: string };
      const acmeAgent = await createKeyAgent(server, owner.id, { name: 'acme-agent', scopes: ['acme:read'], default_scopes: [], org_id: 'acme' });
      const subject = (await oidc.clientCredentialsGrant(acmeAgent.config, { scope: 'acme:read', resource: ACME })).access_token;
      expect(decodeJwt(subject).org_id).toBe('acme');

      const acmeWorkload = await registerWorkload('acme-gateway', {}, 'acme');
      const txn = decodeJwt((await requestTxnToken(acmeWorkload, { subject_token: subject, scope: 'acme:read' })).access_token);
      expect(txn).toMatchObject({ sub: acmeAgent.id, req_wl: acmeWorkload.id, org_id: 'acme' });
      // Replaced by another of Acme's workloads, it stays Acme's.
      const replaced = await requestTxnToken(acmeWorkload, { subject_token: (await requestTxnToken(acmeWorkload, { subject_token: subject, scope: 'acme:read' })).access_token, subject_token_type: TXN_TOKEN, scope: 'acme:read' });
      expect(decodeJwt(replaced.access_token)).toMatchObject({ sub: acmeAgent.id, org_id: 'acme' });

      await refused(requestTxnToken(gateway, { subject_token: subject, scope: 'acme:read' }), 'invalid_request',
        'subject_token belongs to another organization: organization "default" may not act for principals of organization "acme"');
    });
  });

  describe('replacement', () => {
    it('keeps txn, sub, aud and act, narrows scope, adds context, and refuses widening', async () => {
      const one = await oidc.genericGrantRequest(agentA.config, TE, { subject_token: await aliceToken(), subject_token_type: ACCESS_TOKEN, resource: FILES });
      const original = (await requestTxnToken(gateway, {
        subject_token: one.access_token, scope: 'files:read files:write', request_context: JSON.stringify(CONTEXT), request_details: JSON.stringify({ action: 'BUY' }),
      })).access_token;
      const replacement = (await requestTxnToken(orders, {
        subject_token: original, subject_token_type: TXN_TOKEN, scope: 'files:read', request_details: JSON.stringify({ quantity: '100' }),
      })).access_token;
      const [before, after] = [decodeJwt(original), decodeJwt(replacement)];
      expect(after).toMatchObject({
        txn: before.txn, sub: alice, aud: TRUST_DOMAIN, act: { sub: agentA.id }, scope: 'files:read', req_wl: orders.id,
        tctx: { action: 'BUY', quantity: '100' }, rctx: { ...CONTEXT, req_wl_chain: [gateway.id, orders.id] },
      });
      expect(after.exp).toBeLessThanOrEqual(before.exp!);
      expect(await verify(replacement)).toMatchObject({ txn: before.txn });

      await refused(requestTxnToken(orders, { subject_token: replacement, subject_token_type: TXN_TOKEN, scope: 'files:read files:write' }), 'invalid_scope');
      await refused(requestTxnToken(orders, {
        subject_token: replacement, subject_token_type: TXN_TOKEN, request_details: JSON.stringify({ action: 'SELL' }),
      }), 'invalid_request', 'may not change "action"');
    });

    it('refuses an expired Txn-Token, one that is not ours, and a Txn-Token passed off as an access token', async () => {
      const { key, kid } = await ourKey('ES256');
      const now = Math.floor(Date.now() / 1000);
      const claims = { sub: alice, scope: 'files:read', txn: 'txn-x', req_wl: gateway.id };
      const expired = await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'txntoken+jwt', kid })
        .setIssuer(server.issuer).setAudience(TRUST_DOMAIN).setIssuedAt(now - 600).setExpirationTime(now - 300).sign(key);
      await refused(requestTxnToken(orders, { subject_token: expired, subject_token_type: TXN_TOKEN }), 'invalid_request', 'expired');

      const { privateKey: foreign } = await generateKeyPair('ES256');
      const forged = await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'txntoken+jwt', kid })
        .setIssuer(server.issuer).setAudience(TRUST_DOMAIN).setIssuedAt().setExpirationTime('2m').sign(foreign);
      await refused(requestTxnToken(orders, { subject_token: forged, subject_token_type: TXN_TOKEN }), 'invalid_request', 'signature');
      const otherDomain = await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'txntoken+jwt', kid })
        .setIssuer(server.issuer).setAudience('elsewhere.example').setIssuedAt().setExpirationTime('2m').sign(key);
      await refused(requestTxnToken(orders, { subject_token: otherDomain, subject_token_type: TXN_TOKEN }), 'invalid_request', '"aud"');

      const txnToken = (await requestTxnToken(gateway, { subject_token: await aliceToken() })).access_token;
      await refused(requestTxnToken(orders, { subject_token: txnToken, subject_token_type: ACCESS_TOKEN }), 'invalid_request', '"typ"');
      // Nor does token exchange turn a Txn-Token into an access token.
      await refused(oidc.genericGrantRequest(agentA.config, TE, { subject_token: txnToken, subject_token_type: TXN_TOKEN, resource: FILES }), 'invalid_request', 'txn_token');
    });
  });

  describe('refusals', () => {
    let subject: string;
    beforeAll(async () => { subject = await aliceToken(); });

    it('a client the operator has not allowed to request Txn-Tokens (unauthorized_client)', async () => {
      await refused(requestTxnToken(outsider, { subject_token: subject }), 'unauthorized_client', 'txn_token_policy');
      await refused(oidc.genericGrantRequest(agentA.config, TE, { subject_token: subject, subject_token_type: ACCESS_TOKEN, requested_token_type: TXN_TOKEN, audience: TRUST_DOMAIN, scope: 'files:read' }), 'unauthorized_client');
    });

    it('wrong or missing audience, a resource, and missing scope', async () => {
      await refused(requestTxnToken(gateway, { subject_token: subject, audience: server.issuer }), 'invalid_target', TRUST_DOMAIN);
      await refused(requestTxnToken(gateway, { subject_token: subject, audience: FILES }), 'invalid_target');
      await refused(requestTxnToken(gateway, { subject_token: subject, resource: FILES }), 'invalid_target', 'resource');
      await refused(requestTxnToken(gateway, { subject_token: subject, audience: '' }), 'invalid_request', "'audience'");
      await refused(requestTxnToken(gateway, { subject_token: subject, scope: '' }), 'invalid_request', "'scope'");
    });

    it('a scope wider than the subject token\'s (invalid_scope)', async () => {
      const narrow = await aliceToken(FILES, 'files:read');
      await refused(requestTxnToken(gateway, { subject_token: narrow, scope: 'files:read files:write' }), 'invalid_scope', 'files:write');
    });

    it('a refresh token, an ID token, an expired and a revoked subject token', async () => {
      await refused(requestTxnToken(gateway, { subject_token: subject, subject_token_type: TYPE('refresh_token') }), 'invalid_request', 'refresh token');
      await refused(requestTxnToken(gateway, { subject_token: subject, subject_token_type: TYPE('id_token') }), 'invalid_request', 'id_token');

      const { key, kid } = await ourKey('ES256');
      const expired = await new SignJWT({ sub: alice, scope: 'files:read', jti: 'expired', client_id: gateway.id })
        .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid }).setIssuer(server.issuer).setAudience(FILES)
        .setIssuedAt(Math.floor(Date.now() / 1000) - 3600).setExpirationTime(Math.floor(Date.now() / 1000) - 600).sign(key);
      await refused(requestTxnToken(gateway, { subject_token: expired }), 'invalid_request', 'expired');

      const revoked = await aliceToken();
      await oidc.tokenRevocation(app, revoked);
      await refused(requestTxnToken(gateway, { subject_token: revoked }), 'invalid_request', 'not active');
    });

    it('self_signed and unsigned_json where the operator has not enabled them', async () => {
      const selfSigned = await new SignJWT({ sub: 'x', scope: 'files:read' }).setProtectedHeader({ alg: 'ES256', kid: gateway.kid })
        .setIssuer(gateway.id).setAudience(server.issuer).setIssuedAt().setExpirationTime('1m').sign(gateway.key);
      await refused(requestTxnToken(gateway, { subject_token: selfSigned, subject_token_type: TYPE('self_signed') }), 'invalid_request', 'not enabled for this workload');
      await refused(requestTxnToken(gateway, { subject_token: JSON.stringify({ sub: 'x', scope: 'files:read' }), subject_token_type: TYPE('unsigned_json') }), 'invalid_request', 'not enabled for this workload');
    });

    it.each([
      ['request_context', '{"req_ip":', 'request_context is not valid JSON'],
      ['request_details', '["BUY"]', 'request_details must be a JSON object'],
      ['request_context', JSON.stringify({ padding: 'x'.repeat(2000) }), 'request_context is larger than 1024 bytes'],
      ['request_details', JSON.stringify({ action: 'x'.repeat(2000) }), 'request_details is larger than 1024 bytes'],
    ])('%s %s', async (parameter, value, description) => {
      await refused(requestTxnToken(gateway, { subject_token: subject, [parameter]: value }), 'invalid_request', description);
    });
  });

  describe('operator policy and audit', () => {
    it('only the operator can mark a workload, and only with a well-formed policy', async () => {
      const anonymous = await fetch(`${server.url}/reg`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: 'none', txn_token_policy: {} }),
      });
      // Only the initial access token allows it, and none was sent (RFC 6750 §3.1).
      expect(anonymous.status).toBe(401);
      expect(anonymous.headers.get('www-authenticate')).toMatch(/^Bearer realm=/);
      expect(await anonymous.json()).toMatchObject({ error: 'invalid_client_metadata', error_description: expect.stringContaining('txn_token_policy can only be set by the operator') });

      const malformed = await fetch(`${server.url}/reg`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${server.adminToken}` },
        body: JSON.stringify({ grant_types: [TE], response_types: [], redirect_uris: [], txn_token_policy: { subject_token_types: ['refresh_token'] } }),
      });
      expect(malformed.status).toBe(400);
      expect(await malformed.json()).toMatchObject({ error: 'invalid_client_metadata', error_description: expect.stringContaining('txn_token_policy.subject_token_types') });
    });

    it('audits each issuance (never the token) and each refusal with its reason', async () => {
      const subject = await aliceToken();
      const token = (await requestTxnToken(gateway, { subject_token: subject })).access_token;
      await requestTxnToken(outsider, { subject_token: subject }).catch(() => undefined);
      type Row = { subject: string; reason: string | null; details: Record<string, unknown> };
      const audited = async (query: string) => ((await (await adminRequest(server, 'GET', `/admin/audit?${query}`)).json()) as { items: Row[] }).items;

      const [issued] = await audited(`client_id=${gateway.id}&event=txn_token.issued&limit=1`);
      expect(issued).toMatchObject({
        subject: alice,
        details: { txn: decodeJwt(token).txn, req_wl: gateway.id, scope: 'files:read', audience: TRUST_DOMAIN, subject_token_type: ACCESS_TOKEN, replacement: false },
      });
      expect(JSON.stringify(issued)).not.toContain(token);
      expect(JSON.stringify(issued)).not.toContain(subject);

      const [refusal] = await audited(`client_id=${outsider.id}&event=token.refused&limit=1`);
      expect(refusal).toMatchObject({ reason: expect.stringMatching(/^unauthorized_client: .*txn_token_policy/), details: { grant_type: TE, requested_token_type: TXN_TOKEN } });
    });
  });
});
