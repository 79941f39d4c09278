// Two server processes on a 3-master Redis Cluster this file starts (REDIS_URL=redis+cluster://…) and one
// PostgreSQL schema: what the instances promise each other on one Redis holds on a Cluster too: DPoP replay,
// introspection, the kill switch through the change feed, and token-exchange lineage.
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cluster } from 'ioredis';
import * as oidc from 'openid-client';
import { generateKeyPair as generateDpopKeyPair, generateProof } from 'dpop';
import { connectRedis } from '../../adapters/redis-connection.ts';
import { parseRedisUrl } from '../../config/redis-url.ts';
import { adminRequest, createResource, createUser, type ServerUnderTest } from '../support/admin.ts';
import { createKeyAgent, registerIntrospector, type KeyAgent } from '../support/delegation.ts';
import { startServerProcess, type ServerProcess } from '../support/process.ts';
import { freePorts, startRedisCluster, type RedisClusterDeployment } from '../support/redis-servers.ts';
import { createTestSchema, scanKeys, uniqueRedisPrefix, type TestSchema } from '../support/services.ts';

const ADMIN_TOKEN = 'redis-cluster-admin-token-0123456789abcdef';
const FILES = 'https://files.example.test/';
const TE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';
const prefix = uniqueRedisPrefix('e2e-redis-cluster');

describe('two instances on a Redis Cluster', () => {
  let cluster: RedisClusterDeployment;
  let schema: TestSchema;
  let a: ServerProcess;
  let b: ServerProcess;
  // Both instances have A's URL as issuer: clients talk to A, and requests to B carry A's Host, as behind a
  // load balancer, so DPoP `htu` and client assertion audiences are the same at both.
  let issuer: string;
  let atA: ServerUnderTest;
  let introspectorBasic: string;
  let owner: string;

  beforeAll(async () => {
    cluster = await startRedisCluster();
    schema = await createTestSchema('e2e-redis-cluster');
    const [port] = await freePorts(1, false);
    issuer = `http://127.0.0.1:${port}`;
    const env = { NODE_ENV: 'test', ISSUER: issuer, REDIS_URL: cluster.url, DATABASE_URL: schema.url, ADMIN_TOKEN, REDIS_KEY_PREFIX: prefix };
    a = await startServerProcess({ ...env, PORT: String(port) });
    b = await startServerProcess({ ...env, PORT: '0' });
    atA = { url: a.url, issuer, adminToken: ADMIN_TOKEN };
    await createResource(atA, { identifier: FILES, scopes: ['files:read'], token_format: 'jwt' });
    introspectorBasic = (await registerIntrospector(atA)).basic;
    owner = (await createUser(atA, 'cluster-owner', 'correct horse battery staple')).id;
  });
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await cluster?.stop();
    await schema?.drop();
  });

  /** A form POST to an instance, with the issuer's Host. */
  function post(instance: ServerProcess, path: string, form: Record<string, string>, headers: Record<string, string> = {}) {
    const body = new URLSearchParams(form).toString();
    const url = new URL(path, instance.url);
    return new Promise<{ status: number; body: any }>((resolve, reject) => {
      const req = request({
        host: url.hostname, port: url.port, path: url.pathname, method: 'POST',
        headers: { host: new URL(issuer).host, 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body), ...headers },
      }, (res) => {
        let text = '';
        res.on('data', (chunk) => { text += chunk; });
        res.on('end', () => resolve({ status: res.statusCode!, body: text ? JSON.parse(text) : undefined }));
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  const introspectAtB = async (token: string) => (await post(b, '/token/introspection', { token }, { authorization: introspectorBasic })).body;
  const agent = (name: string): Promise<KeyAgent> => createKeyAgent(atA, owner, { name });

  it('runs on the Cluster', () => {
    for (const instance of [a, b]) expect(instance.output()).toContain('sessions in Redis');
  });

  it('issues a DPoP-bound token at A, refuses the same proof at A and at B, and B introspects the token', async () => {
    const proof = await generateProof(await generateDpopKeyPair('ES256'), `${issuer}/token`, 'POST');
    const issued = await post(a, '/token', { grant_type: 'client_credentials' }, { authorization: introspectorBasic, dpop: proof });
    expect(issued.status).toBe(200);
    expect(issued.body.token_type).toBe('DPoP');
    for (const instance of [a, b]) {
      const replay = await post(instance, '/token', { grant_type: 'client_credentials' }, { authorization: introspectorBasic, dpop: proof });
      expect(replay.status).toBe(400);
      expect(replay.body.error).toBe('invalid_dpop_proof');
    }
    expect(await introspectAtB(issued.body.access_token)).toMatchObject({ active: true, token_type: 'DPoP', cnf: { jkt: expect.any(String) } });
  });

  it('suspending an agent through A ends its token at B, which had it cached as active', async () => {
    const suspended = await agent('to-suspend');
    const token = (await oidc.clientCredentialsGrant(suspended.config, { scope: 'files:read' })).access_token;
    expect(await introspectAtB(token)).toMatchObject({ active: true, client_id: suspended.id });
    expect((await adminRequest(atA, 'POST', `/admin/agents/${suspended.id}/suspend`)).status).toBe(200);
    expect(await introspectAtB(token)).toEqual({ active: false });
  });

  it('checks token-exchange lineage at B: revoking the subject token at A ends the exchanged one', async () => {
    const [subjectAgent, actor] = [await agent('subject'), await agent('actor')];
    const subject = (await oidc.clientCredentialsGrant(subjectAgent.config, { scope: 'files:read' })).access_token;
    const exchanged = await oidc.genericGrantRequest(actor.config, TE, { subject_token: subject, subject_token_type: ACCESS_TOKEN, resource: FILES });
    expect(await introspectAtB(exchanged.access_token)).toMatchObject({ active: true, sub: subjectAgent.id, act: { sub: actor.id } });
    await oidc.tokenRevocation(subjectAgent.config, subject);
    expect(await introspectAtB(subject)).toEqual({ active: false });
    expect(await introspectAtB(exchanged.access_token)).toEqual({ active: false });
  });

  it('kept what it stored on every master of the Cluster', async () => {
    // Keys land on hash slots by their random ids: with the few the tests above leave (some already expired), a
    // master may hold none by chance. 30 more tokens, half issued at each instance, make that (2/3)^30 per master.
    // Issued at once, they share auto-pipelined batches with the audit relay's stream reads, which once failed
    // a batch on a Cluster (see server/start.ts).
    const issued = await Promise.all(Array.from({ length: 30 }, (_, i) =>
      post(i % 2 ? b : a, '/token', { grant_type: 'client_credentials' }, { authorization: introspectorBasic })));
    expect(issued.map((response) => response.status)).toEqual(Array(30).fill(200));
    const client = connectRedis(parseRedisUrl(cluster.url)) as Cluster;
    try {
      await client.ping();
      const perMaster = await Promise.all(client.nodes('master').map((node) => scanKeys(node, prefix)));
      expect(perMaster.map((keys) => keys.length > 0)).toEqual([true, true, true]);
    } finally {
      client.disconnect();
    }
  });
});
