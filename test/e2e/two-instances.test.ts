// Two server processes behind one (imaginary) load balancer: the same Redis, the same PostgreSQL, the same
// public URL. Requests carry the load balancer's Host so DPoP `htu` is the same at both instances.
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair as generateDpopKeyPair, generateProof } from 'dpop';
import { createTestSchema, dropRedisPrefix, connectTestRedis, TEST_REDIS_URL, uniqueRedisPrefix, type TestSchema } from '../support/services.ts';
import { startServerProcess, type ServerProcess } from '../support/process.ts';

const PUBLIC_HOST = 'auth.example.test';
const ISSUER = `http://${PUBLIC_HOST}`;
const ADMIN_TOKEN = 'two-instances-admin-token-0123456789abcdef';

function post(instance: ServerProcess, path: string, body: Record<string, string> | object, headers: Record<string, string> = {}) {
  const json = !(body instanceof URLSearchParams) && headers['content-type'] === 'application/json';
  const payload = json ? JSON.stringify(body) : new URLSearchParams(body as Record<string, string>).toString();
  const url = new URL(path, instance.url);
  return new Promise<{ status: number; body: any }>((resolve, reject) => {
    const req = request({
      host: url.hostname, port: url.port, path: url.pathname, method: 'POST',
      headers: { host: PUBLIC_HOST, 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(payload), ...headers },
    }, (res) => {
      let text = '';
      res.on('data', (c) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode!, body: text ? JSON.parse(text) : undefined }));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

describe('two instances sharing Redis and PostgreSQL', () => {
  let schema: TestSchema;
  let prefix: string;
  let a: ServerProcess;
  let b: ServerProcess;
  let basic: string;

  beforeAll(async () => {
    schema = await createTestSchema('two-instances');
    prefix = uniqueRedisPrefix('two-instances');
    const env = { NODE_ENV: 'test', PORT: '0', ISSUER, REDIS_URL: TEST_REDIS_URL, DATABASE_URL: schema.url, ADMIN_TOKEN, REDIS_KEY_PREFIX: prefix };
    // Start one first so it creates the keys and secrets; the second must pick up the same ones.
    a = await startServerProcess(env);
    b = await startServerProcess(env);
    const registered = await post(a, '/reg', { grant_types: ['client_credentials'], response_types: [], redirect_uris: [] }, { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` });
    expect(registered.status).toBe(201);
    basic = `Basic ${Buffer.from(`${encodeURIComponent(registered.body.client_id)}:${encodeURIComponent(registered.body.client_secret)}`).toString('base64')}`;
  });
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    const redis = connectTestRedis();
    await dropRedisPrefix(redis, prefix);
    await redis.quit();
    await schema?.drop();
  });

  it('introspects at B a token issued by A, revokes it through B, and then both say inactive', async () => {
    const issued = await post(a, '/token', { grant_type: 'client_credentials' }, { authorization: basic });
    expect(issued.status).toBe(200);
    const token = issued.body.access_token;
    expect((await post(b, '/token/introspection', { token }, { authorization: basic })).body.active).toBe(true);
    expect((await post(b, '/token/revocation', { token }, { authorization: basic })).status).toBe(200);
    expect((await post(a, '/token/introspection', { token }, { authorization: basic })).body).toEqual({ active: false });
    expect((await post(b, '/token/introspection', { token }, { authorization: basic })).body).toEqual({ active: false });
  });

  it('refuses at B a DPoP proof already used at A', async () => {
    const proof = await generateProof(await generateDpopKeyPair('ES256'), `${ISSUER}/token`, 'POST');
    const first = await post(a, '/token', { grant_type: 'client_credentials' }, { authorization: basic, dpop: proof });
    expect(first.status).toBe(200);
    expect(first.body.token_type).toBe('DPoP');
    const replay = await post(b, '/token', { grant_type: 'client_credentials' }, { authorization: basic, dpop: proof });
    expect(replay.status).toBe(400);
    expect(replay.body.error).toBe('invalid_dpop_proof');
  });

  it('stops honouring a client at B the moment it is deleted through A (cached clients are invalidated)', async () => {
    const registered = await post(a, '/reg', { grant_types: ['client_credentials'], response_types: [], redirect_uris: [] }, { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` });
    const auth = `Basic ${Buffer.from(`${encodeURIComponent(registered.body.client_id)}:${encodeURIComponent(registered.body.client_secret)}`).toString('base64')}`;
    expect((await post(b, '/token', { grant_type: 'client_credentials' }, { authorization: auth })).status).toBe(200); // now cached at B
    const uri = new URL(registered.body.registration_client_uri);
    const deleted = await new Promise<number>((resolve, reject) => {
      const url = new URL(uri.pathname, a.url);
      const req = request({ host: url.hostname, port: url.port, path: url.pathname, method: 'DELETE', headers: { host: PUBLIC_HOST, authorization: `Bearer ${registered.body.registration_access_token}` } }, (res) => { res.resume(); resolve(res.statusCode!); });
      req.on('error', reject);
      req.end();
    });
    expect(deleted).toBe(204);
    const refused = await post(b, '/token', { grant_type: 'client_credentials' }, { authorization: auth });
    expect(refused.status).toBe(401);
    expect(refused.body.error).toBe('invalid_client');
  });

  it('ends a deleted client\'s tokens at once on every instance (RFC 7592 §2.3)', async () => {
    const json = { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` };
    const basicOf = (body: any) => `Basic ${Buffer.from(`${encodeURIComponent(body.client_id)}:${encodeURIComponent(body.client_secret)}`).toString('base64')}`;
    // An operator-registered auditor may introspect every token, so it can still ask once the holder is gone.
    const auditor = await post(a, '/reg', { grant_types: ['client_credentials'], response_types: [], redirect_uris: [], introspect_any_token: true }, json);
    expect(auditor.status).toBe(201);
    const holder = await post(a, '/reg', { grant_types: ['client_credentials'], response_types: [], redirect_uris: [] }, json);
    expect(holder.status).toBe(201);
    const issued = await post(a, '/token', { grant_type: 'client_credentials' }, { authorization: basicOf(holder.body) });
    expect(issued.status).toBe(200);
    const token = issued.body.access_token;
    expect((await post(b, '/token/introspection', { token }, { authorization: basicOf(auditor.body) })).body.active).toBe(true); // cached at B
    const url = new URL(new URL(holder.body.registration_client_uri).pathname, a.url);
    const deleted = await new Promise<number>((resolve, reject) => {
      const req = request({ host: url.hostname, port: url.port, path: url.pathname, method: 'DELETE', headers: { host: PUBLIC_HOST, authorization: `Bearer ${holder.body.registration_access_token}` } }, (res) => { res.resume(); resolve(res.statusCode!); });
      req.on('error', reject);
      req.end();
    });
    expect(deleted).toBe(204);
    expect((await post(b, '/token/introspection', { token }, { authorization: basicOf(auditor.body) })).body).toEqual({ active: false });
    expect((await post(a, '/token/introspection', { token }, { authorization: basicOf(auditor.body) })).body).toEqual({ active: false });
  });

  it('suspending a registered client through /admin/clients at A refuses it and ends its tokens at B at once; activating restores it', async () => {
    const json = { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` };
    const basicOf = (body: any) => `Basic ${Buffer.from(`${encodeURIComponent(body.client_id)}:${encodeURIComponent(body.client_secret)}`).toString('base64')}`;
    const auditor = await post(a, '/reg', { grant_types: ['client_credentials'], response_types: [], redirect_uris: [], introspect_any_token: true }, json);
    const holder = await post(a, '/reg', { grant_types: ['client_credentials'], response_types: [], redirect_uris: [] }, json);
    expect(holder.status).toBe(201);
    const issued = await post(b, '/token', { grant_type: 'client_credentials' }, { authorization: basicOf(holder.body) });
    expect(issued.status).toBe(200);
    const token = issued.body.access_token;
    expect((await post(b, '/token/introspection', { token }, { authorization: basicOf(auditor.body) })).body.active).toBe(true); // cached at B
    const suspended = await post(a, `/admin/clients/${encodeURIComponent(holder.body.client_id)}/suspend`, {}, json);
    expect(suspended.status).toBe(200);
    expect((await post(b, '/token/introspection', { token }, { authorization: basicOf(auditor.body) })).body).toEqual({ active: false });
    const refused = await post(b, '/token', { grant_type: 'client_credentials' }, { authorization: basicOf(holder.body) });
    expect(refused.status).toBe(401);
    expect(refused.body.error).toBe('invalid_client');
    expect((await post(a, `/admin/clients/${encodeURIComponent(holder.body.client_id)}/activate`, {}, json)).status).toBe(200);
    expect((await post(b, '/token', { grant_type: 'client_credentials' }, { authorization: basicOf(holder.body) })).status).toBe(200);
    expect((await post(b, '/token/introspection', { token }, { authorization: basicOf(auditor.body) })).body).toEqual({ active: false });
  });

  it('publishes the same signing keys at both instances', async () => {
    const jwks = async (instance: ServerProcess) => (await fetch(new URL('/jwks', instance.url))).json() as any;
    expect(await jwks(b)).toEqual(await jwks(a));
  });
});
