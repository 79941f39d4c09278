// One-time artifacts raced the way they break: many concurrent requests for the same code, refresh token, DPoP
// proof or client assertion, split over two instances that share Redis and PostgreSQL (one instance on embedded
// storage), several rounds each. Exactly one request wins; every reuse ends the grant, the winner's tokens included
// (RFC 6749 §4.1.2 and §10.4, OAuth 2.1 §4.3.1, RFC 9700 §4.14.2); a replayed proof is `invalid_dpop_proof`
// (RFC 9449 §11.1) and a replayed assertion `invalid_client` (RFC 7523 §3, RFC 6749 §5.2).
import { Agent, request } from 'node:http';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { SignJWT, decodeJwt } from 'jose';
import { generateKeyPair as generateDpopKeyPair, generateProof } from 'dpop';
import type { RunningServer } from '../../server/start.ts';
import { createResource, createUser } from '../support/admin.ts';
import { signInAndConsent } from '../support/browser.ts';
import { createKeyAgent, insecure, registerIntrospector, registerPublicApp, type KeyAgent } from '../support/delegation.ts';
import { STORAGE_MODES, startTestServer, type TestServer } from '../support/server.ts';

const API = 'https://api.one-time.example.test/';
const FILES = 'https://files.one-time.example.test/';
const REDIRECT_URI = 'http://127.0.0.1:8977/callback';
const ROUNDS = 3;
const RACERS = 60;
const ISSUED_EVENTS = ['access_token.saved', 'access_token.issued', 'client_credentials.saved', 'client_credentials.issued', 'refresh_token.saved'];

interface Answer { status: number; body: Record<string, unknown>; instance: number }

describe.each(STORAGE_MODES)('one-time artifacts on %s storage', (mode) => {
  let server: TestServer;
  let instances: RunningServer[];
  let issued = 0;
  let app: oidc.Configuration;
  let introspectorBasic: string;
  let ccClient: { basic: string };
  let agent: KeyAgent;
  const user = { username: 'racer', password: 'correct horse battery staple' };
  // Enough sockets that the racers really are in flight together.
  const agentPool = new Agent({ keepAlive: true, maxSockets: RACERS });

  beforeAll(async () => {
    // Without the failed-authentication limits: every replay here is a failed authentication from one address,
    // and the next round's fresh assertion would meet the block (test/e2e/rate-limits.test.ts tests those).
    server = await startTestServer(mode, `one-time-${mode}`, { RATE_LIMIT_CLIENT_AUTH_ADDRESS: 'off', RATE_LIMIT_CLIENT_AUTH: 'off' });
    instances = mode === 'redis+postgres' ? [server, await server.startSibling()] : [server];
    for (const instance of instances) {
      for (const event of ISSUED_EVENTS) instance.provider.on(event as never, () => { issued += 1; });
    }
    const owner = await createUser(server, user.username, user.password);
    await createResource(server, { identifier: API, scopes: ['read'], token_format: 'jwt' });
    app = await registerPublicApp(server, REDIRECT_URI);
    introspectorBasic = (await registerIntrospector(server)).basic;
    const cc = await oidc.dynamicClientRegistration(new URL(server.issuer), { grant_types: ['client_credentials'], response_types: [], redirect_uris: [] }, undefined, {
      ...insecure, initialAccessToken: server.adminToken,
    });
    const { client_id: id, client_secret: secret } = cc.clientMetadata() as { client_id: string; client_secret: string };
    ccClient = { basic: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}` };
    await createResource(server, { identifier: FILES, scopes: ['files:read'], token_format: 'opaque' });
    agent = await createKeyAgent(server, owner.id, { name: 'racing agent' });
  });
  afterAll(async () => {
    agentPool.destroy();
    await server?.stop();
  });

  /** A form POST to instance `index`, as a load balancer would forward it: the public Host stays the issuer's. */
  function post(index: number, path: string, form: Record<string, string>, headers: Record<string, string> = {}): Promise<Answer> {
    const target = new URL(path, instances[index % instances.length].url);
    const body = new URLSearchParams(form).toString();
    return new Promise((resolve, reject) => {
      const req = request({
        agent: agentPool, host: target.hostname, port: target.port, path: target.pathname, method: 'POST',
        headers: { host: new URL(server.issuer).host, 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body), ...headers },
      }, (res) => {
        let text = '';
        res.on('data', (chunk) => { text += chunk; });
        res.on('end', () => resolve({ status: res.statusCode!, body: text ? JSON.parse(text) : {}, instance: index % instances.length }));
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  async function race(send: (index: number) => Promise<Answer>, count = RACERS): Promise<{ winners: Answer[]; losers: Answer[]; issuedDuring: number }> {
    const before = issued;
    const answers = await Promise.all(Array.from({ length: count }, (_, index) => send(index)));
    return { winners: answers.filter((a) => a.status === 200), losers: answers.filter((a) => a.status !== 200), issuedDuring: issued - before };
  }

  async function introspect(token: string, index: number): Promise<Record<string, unknown>> {
    return (await post(index, '/token/introspection', { token }, { authorization: introspectorBasic })).body;
  }

  async function expectFamilyEnded(tokens: { access_token: string; refresh_token?: string }): Promise<void> {
    for (let index = 0; index < instances.length; index += 1) {
      expect(await introspect(tokens.access_token, index)).toEqual({ active: false });
      if (tokens.refresh_token) expect(await introspect(tokens.refresh_token, index)).toEqual({ active: false });
    }
    if (tokens.refresh_token) {
      const refreshed = await post(instances.length - 1, '/token', { grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: app.clientMetadata().client_id });
      expect(refreshed).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    }
  }

  async function authorizationCode(): Promise<{ code: string; verifier: string }> {
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(app, {
      redirect_uri: REDIRECT_URI, scope: 'openid read', resource: API,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    });
    const callback = await signInAndConsent(url, REDIRECT_URI, user);
    return { code: callback.searchParams.get('code')!, verifier };
  }

  const redeem = (code: string, verifier: string) => (index: number) => post(index, '/token', {
    grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT_URI, client_id: app.clientMetadata().client_id,
  });

  it(`redeems an authorization code exactly once in ${ROUNDS} rounds of ${RACERS} concurrent requests, and the reuse ends the winner's tokens`, async () => {
    for (let round = 0; round < ROUNDS; round += 1) {
      const { code, verifier } = await authorizationCode();
      const { winners, losers, issuedDuring } = await race(redeem(code, verifier));
      expect(winners).toHaveLength(1);
      expect(losers).toHaveLength(RACERS - 1);
      for (const loser of losers) expect(loser).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
      // One access token (a JWT for the registered resource) and one refresh token: nothing for any loser.
      expect(issuedDuring).toBe(2);
      await expectFamilyEnded(winners[0].body as { access_token: string; refresh_token: string });
    }
  });

  it(`rotates a refresh token exactly once in ${ROUNDS} rounds of ${RACERS} concurrent requests, and the reuse ends the family`, async () => {
    for (let round = 0; round < ROUNDS; round += 1) {
      const { code, verifier } = await authorizationCode();
      const first = await redeem(code, verifier)(0);
      expect(first.status).toBe(200);
      const { refresh_token: refreshToken, access_token: firstAccessToken } = first.body as { refresh_token: string; access_token: string };
      const { winners, losers, issuedDuring } = await race((index) => post(index, '/token', {
        grant_type: 'refresh_token', refresh_token: refreshToken, client_id: app.clientMetadata().client_id,
      }));
      expect(winners).toHaveLength(1);
      for (const loser of losers) expect(loser).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
      // Exactly one validly signed access token and one refresh token came out of the race.
      expect(issuedDuring).toBe(2);
      expect(decodeJwt(winners[0].body.access_token as string).aud).toBe(API);
      await expectFamilyEnded(winners[0].body as { access_token: string; refresh_token: string });
      await expectFamilyEnded({ access_token: firstAccessToken });
    }
  });

  it(`accepts one DPoP proof once in ${ROUNDS} rounds of ${RACERS} concurrent requests; replays are invalid_dpop_proof`, async () => {
    const keys = await generateDpopKeyPair('ES256');
    for (let round = 0; round < ROUNDS; round += 1) {
      const proof = await generateProof(keys, `${server.issuer}/token`, 'POST');
      const { winners, losers, issuedDuring } = await race((index) => post(index, '/token', { grant_type: 'client_credentials' }, { authorization: ccClient.basic, dpop: proof }));
      expect(winners).toHaveLength(1);
      expect(winners[0].body.token_type).toBe('DPoP');
      for (const loser of losers) expect(loser).toMatchObject({ status: 400, body: { error: 'invalid_dpop_proof' } });
      expect(issuedDuring).toBe(1);
    }
  });

  it(`accepts one private_key_jwt assertion once in ${ROUNDS} rounds of ${RACERS} concurrent requests; replays are 401 invalid_client`, async () => {
    for (let round = 0; round < ROUNDS; round += 1) {
      const now = Math.floor(Date.now() / 1000);
      const assertion = await new SignJWT({})
        .setProtectedHeader({ alg: 'EdDSA' })
        .setIssuer(agent.id).setSubject(agent.id).setAudience(server.issuer).setJti(randomUUID()).setIssuedAt(now).setExpirationTime(now + 60)
        .sign(agent.key);
      const { winners, losers, issuedDuring } = await race((index) => post(index, '/token', {
        grant_type: 'client_credentials', scope: 'files:read',
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion,
      }));
      expect(winners).toHaveLength(1);
      for (const loser of losers) expect(loser).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
      expect(issuedDuring).toBe(1);
    }
  });
});
