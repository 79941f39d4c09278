// Bad input at the agent admin API (server/routes/admin-agents.ts, validated by server/agent-input.ts) and at
// the audit query it feeds: every refusal is the documented JSON (400 naming the field, 401, 404, 413, 415),
// nothing is stored or rotated on the way, and no response ever echoes private key material an operator
// pasted by mistake.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { adminRequest, createResource, createUser } from '../support/admin.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

const FILES = 'https://files.example.test/';
const UNREGISTERED = 'https://unregistered.example.test/';

interface Keys {
  ed: JWK;
  otherEd: JWK;
  edPrivate: JWK;
  ec: JWK;
  ecPrivate: JWK;
  x25519: JWK;
  p384: JWK;
  rsa: JWK;
  rsaPrivate: JWK;
}

interface AgentJson {
  id: string;
  status: string;
  client_secret?: string;
  credentials: { kid?: string }[];
}

type Body = Record<string, unknown>;

let server: TestServer;
let ownerId: string;
let keys: Keys;
/** Every private key member generated here: none may ever appear in a response. */
let privateValues: string[];

beforeAll(async () => {
  server = await startTestServer('redis+postgres', 'admin-agents-input');
  ownerId = (await createUser(server, 'owner', 'correct horse battery staple')).id;
  await createResource(server, { identifier: FILES, scopes: ['files:read', 'files:write'] });
  const ed = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const otherEd = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const ec = await generateKeyPair('ES256', { extractable: true });
  const rsa = await generateKeyPair('RS256', { extractable: true });
  keys = {
    ed: await exportJWK(ed.publicKey),
    otherEd: await exportJWK(otherEd.publicKey),
    edPrivate: await exportJWK(ed.privateKey),
    ec: await exportJWK(ec.publicKey),
    ecPrivate: await exportJWK(ec.privateKey),
    x25519: await exportJWK((await generateKeyPair('ECDH-ES', { crv: 'X25519', extractable: true })).publicKey),
    p384: await exportJWK((await generateKeyPair('ES384', { extractable: true })).publicKey),
    rsa: await exportJWK(rsa.publicKey),
    rsaPrivate: await exportJWK(rsa.privateKey),
  };
  privateValues = [keys.edPrivate, keys.ecPrivate, keys.rsaPrivate].flatMap((jwk) => [jwk.d!, ...(jwk.p ? [jwk.p] : [])]);
});
afterAll(() => server?.stop());

/** A body the API accepts; each case breaks one thing in it. */
function validAgent(extra: Body = {}): Body {
  return { name: 'agent', owner: ownerId, scopes: ['files:**'], ...extra };
}

function without(body: Body, field: string): Body {
  const { [field]: _removed, ...rest } = body;
  return rest;
}

/** A P-256 key whose x no longer puts the point on the curve. */
function offCurve(jwk: JWK): JWK {
  const x = Buffer.from(jwk.x!, 'base64url');
  x[31] ^= 1;
  return { ...jwk, x: x.toString('base64url') };
}

// The encoding of y = 2 (sign bit clear): (y² - 1) / (d·y² + 1) has no square root mod 2^255 - 19, so no
// Ed25519 point has it and RFC 8032 §5.1.3 decoding fails. It has the right length; only a point check refuses it.
const NOT_AN_ED25519_POINT = Buffer.concat([Buffer.from([2]), Buffer.alloc(31)]).toString('base64url');

function base64urlJson(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

async function send(method: string, path: string, init: { body?: string | Blob; contentType?: string; authorization?: string | null } = {}): Promise<Response> {
  const authorization = init.authorization === undefined ? `Bearer ${server.adminToken}` : init.authorization;
  return fetch(`${server.url}${path}`, {
    method,
    headers: {
      ...(authorization === null ? {} : { authorization }),
      ...(init.contentType ? { 'content-type': init.contentType } : {}),
    },
    body: init.body,
  });
}

/** Checks the refusal's status and JSON shape, and that no private key material came back. */
async function expectRefused(response: Response, status: number, expected: Body): Promise<Body> {
  const text = await response.text();
  expect(response.status, text).toBe(status);
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  expect(text).not.toContain('"d":');
  for (const secret of privateValues) expect(text).not.toContain(secret);
  const body = JSON.parse(text) as Body;
  expect(body).toMatchObject({ error_description: expect.any(String), ...expected });
  return body;
}

const expectInvalidField = (response: Response, field: string) => expectRefused(response, 400, { error: 'invalid_request', field });
const expectNotFound = (response: Response) => expectRefused(response, 404, { error: 'not_found' });

/** A list filter that can match nothing may either say so (an empty page) or refuse it, naming the field. */
async function expectNoMatchOrInvalid(response: Response, field: string): Promise<void> {
  if (response.status === 400) {
    await expectInvalidField(response, field);
    return;
  }
  const text = await response.text();
  expect(response.status, text).toBe(200);
  expect((JSON.parse(text) as { items: unknown[] }).items).toEqual([]);
}

async function allPages<T>(path: string, limit: number): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | null = null;
  do {
    const separator = path.includes('?') ? '&' : '?';
    const response = await adminRequest(server, 'GET', `${path}${separator}limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`);
    expect(response.status).toBe(200);
    const page = (await response.json()) as { items: T[]; next_cursor: string | null };
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor);
  return items;
}

/** What a refused request must leave untouched: the listed agents, the rows behind them, the audit trail. */
async function storedState() {
  const listed = await allPages<AgentJson>('/admin/agents', 200);
  const agentRows = await server.db.selectFrom('agents').select(server.db.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
  const credentialRows = await server.db.selectFrom('agent_credentials').select(server.db.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
  const audited = await allPages<{ event: string }>('/admin/audit', 500);
  return {
    listedIds: listed.map((agent) => agent.id),
    agentRows: Number(agentRows.n),
    credentialRows: Number(credentialRows.n),
    agentEvents: audited.filter((item) => item.event.startsWith('agent.')).length,
  };
}

/** An agent as the API shows it, and its rows as stored: the API reads through a cache a write could miss. */
async function agentState(id: string) {
  const response = await adminRequest(server, 'GET', `/admin/agents/${id}`);
  expect(response.status).toBe(200);
  const row = await server.db.selectFrom('agents').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
  const credentials = await server.db.selectFrom('agent_credentials').selectAll().where('agent_id', '=', id).orderBy('id').execute();
  return { shown: (await response.json()) as AgentJson, row, credentials };
}

async function createAgent(extra: Body = {}): Promise<AgentJson> {
  const response = await adminRequest(server, 'POST', '/admin/agents', validAgent(extra));
  expect(response.status, await response.clone().text()).toBe(201);
  return (await response.json()) as AgentJson;
}

const keyAgent = () => createAgent({ jwks: { keys: [keys.ed] } });
const secretAgent = () => createAgent({ default_scopes: ['files:read'], resources: [FILES] });

/** Whether `secret` still authenticates the agent at the token endpoint (client_secret_basic). */
async function secretWorks(id: string, secret: string): Promise<boolean> {
  const metadata = (await (await fetch(`${server.issuer}/.well-known/openid-configuration`)).json()) as { token_endpoint: string };
  const response = await fetch(metadata.token_endpoint, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'files:read' }),
  });
  return response.status === 200;
}

describe('POST /admin/agents', () => {
  const refused: [label: string, field: string, body: (k: Keys) => unknown][] = [
    // Missing and empty fields.
    ['a body without name', 'name', () => without(validAgent(), 'name')],
    ['a body without owner', 'owner', () => without(validAgent(), 'owner')],
    ['a body without scopes', 'scopes', () => without(validAgent(), 'scopes')],
    ['an empty name', 'name', () => validAgent({ name: '' })],
    ['a name of spaces only', 'name', () => validAgent({ name: '   ' })],
    ['a 201-character name', 'name', () => validAgent({ name: 'n'.repeat(201) })],
    ['an empty owner', 'owner', () => validAgent({ owner: '' })],
    // Wrong types and ranges.
    ['a numeric name', 'name', () => validAgent({ name: 42 })],
    ['scopes as a string', 'scopes', () => validAgent({ scopes: 'files:read' })],
    ['a numeric scope', 'scopes.0', () => validAgent({ scopes: [42] })],
    ['a numeric description', 'description', () => validAgent({ description: 42 })],
    ['access_token_ttl as a string', 'access_token_ttl', () => validAgent({ access_token_ttl: '60' })],
    ['a negative access_token_ttl', 'access_token_ttl', () => validAgent({ access_token_ttl: -1 })],
    ['a zero access_token_ttl', 'access_token_ttl', () => validAgent({ access_token_ttl: 0 })],
    ['an access_token_ttl over a day', 'access_token_ttl', () => validAgent({ access_token_ttl: 86_401 })],
    ['a fractional access_token_ttl', 'access_token_ttl', () => validAgent({ access_token_ttl: 1.5 })],
    ['default_scopes as a string', 'default_scopes', () => validAgent({ default_scopes: 'files:read' })],
    ['resources as a string', 'resources', () => validAgent({ resources: FILES })],
    ['an empty resource', 'resources.0', () => validAgent({ resources: [''] })],
    ['an unsupported auth method', 'token_endpoint_auth_method', () => validAgent({ token_endpoint_auth_method: 'none' })],
    ['client_secret_jwt', 'token_endpoint_auth_method', () => validAgent({ token_endpoint_auth_method: 'client_secret_jwt' })],
    // Unknown properties: a caller must not be able to choose the status, id or secret of a new agent. The
    // strict schema reports them on the object itself, which for the top level is `body`.
    ['an extra status property', 'body', () => validAgent({ status: 'suspended' })],
    ['an extra client_secret property', 'body', () => validAgent({ client_secret: 'chosen-by-the-caller' })],
    ['an extra id property', 'body', () => validAgent({ id: 'agent_chosen' })],
    ['a JSON array', 'body', () => [validAgent()]],
    ['JSON null', 'body', () => null],
    ['a JSON string', 'body', () => 'agent'],
    // The owner must be a user of this server.
    ['an unknown owner', 'owner', () => validAgent({ owner: 'no-such-user' })],
    // Malformed JWKS.
    ['jwks without keys', 'jwks.keys', () => validAgent({ jwks: {} })],
    ['jwks with no key', 'jwks.keys', () => validAgent({ jwks: { keys: [] } })],
    ['jwks with eleven keys', 'jwks.keys', (k) => validAgent({ jwks: { keys: Array.from({ length: 11 }, (_, i) => ({ ...k.ed, kid: `k${i}` })) } })],
    ['jwks as an array', 'jwks', (k) => validAgent({ jwks: [k.ed] })],
    ['jwks with an extra member', 'jwks', (k) => validAgent({ jwks: { keys: [k.ed], extra: true } })],
    ['an RSA key', 'jwks.keys.0.kty', (k) => validAgent({ jwks: { keys: [k.rsa] } })],
    ['an OKP key on X25519', 'jwks.keys.0.crv', (k) => validAgent({ jwks: { keys: [k.x25519] } })],
    ['an EC key on P-384', 'jwks.keys.0.crv', (k) => validAgent({ jwks: { keys: [k.p384] } })],
    ['an EC key without y', 'jwks.keys.0.y', (k) => validAgent({ jwks: { keys: [without(k.ec as Body, 'y')] } })],
    ['a key without x', 'jwks.keys.0.x', (k) => validAgent({ jwks: { keys: [without(k.ed as Body, 'x')] } })],
    ['an x that is not base64url', 'jwks.keys.0.x', (k) => validAgent({ jwks: { keys: [{ ...k.ed, x: 'ab+/cd==' }] } })],
    ['an encryption key (use enc)', 'jwks.keys.0.use', (k) => validAgent({ jwks: { keys: [{ ...k.ed, use: 'enc' }] } })],
    ['an Ed25519 key labelled RS256', 'jwks.keys.0.alg', (k) => validAgent({ jwks: { keys: [{ ...k.ed, alg: 'RS256' }] } })],
    ['a P-256 x that is not on the curve', 'jwks.keys.0', (k) => validAgent({ jwks: { keys: [offCurve(k.ec)] } })],
    ['an Ed25519 x that is not a curve point', 'jwks.keys.0', (k) => validAgent({ jwks: { keys: [{ ...k.ed, x: NOT_AN_ED25519_POINT }] } })],
    ['an Ed25519 x of 16 bytes', 'jwks.keys.0', (k) => validAgent({ jwks: { keys: [{ ...k.ed, x: Buffer.alloc(16, 7).toString('base64url') }] } })],
    ['two keys with the same kid', 'jwks.keys.1.kid', (k) => validAgent({ jwks: { keys: [{ ...k.ed, kid: 'k1' }, { ...k.otherEd, kid: 'k1' }] } })],
    ['the same key twice (same thumbprint kid)', 'jwks.keys.1.kid', (k) => validAgent({ jwks: { keys: [k.ed, k.ed] } })],
    // Private keys pasted where public keys belong.
    ['an Ed25519 private key', 'jwks.keys.0.d', (k) => validAgent({ jwks: { keys: [k.edPrivate] } })],
    ['an EC private key', 'jwks.keys.0.d', (k) => validAgent({ jwks: { keys: [k.ecPrivate] } })],
    ['a private key after a public one', 'jwks.keys.1.d', (k) => validAgent({ jwks: { keys: [k.otherEd, k.ecPrivate] } })],
    ['an RSA private key', 'jwks.keys.0.kty', (k) => validAgent({ jwks: { keys: [k.rsaPrivate] } })],
    ['a symmetric key', 'jwks.keys.0.kty', () => validAgent({ jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0LXNlY3JldC1zZWNyZXQ' }] } })],
    // Malformed scope patterns.
    ['the scope "files:"', 'scopes.0', () => validAgent({ scopes: ['files:'] })],
    ['the scope "a..b:read"', 'scopes.1', () => validAgent({ scopes: ['files:read', 'a..b:read'] })],
    ['the scope "x.**.y:read"', 'scopes.0', () => validAgent({ scopes: ['x.**.y:read'] })],
    ['the scope ":read"', 'scopes.0', () => validAgent({ scopes: [':read'] })],
    ['the scope "files:read:write"', 'scopes.0', () => validAgent({ scopes: ['files:read:write'] })],
    ['a scope with a space', 'scopes.0', () => validAgent({ scopes: ['files read'] })],
    ['an empty scope', 'scopes.0', () => validAgent({ scopes: [''] })],
    ['101 scopes', 'scopes', () => validAgent({ scopes: Array.from({ length: 101 }, (_, i) => `s${i}:read`) })],
    // Default scopes must be concrete and inside the patterns.
    ['a default scope outside the patterns', 'default_scopes', () => validAgent({ default_scopes: ['secrets:read'] })],
    ['a wildcard default scope', 'default_scopes.0', () => validAgent({ default_scopes: ['files:*'] })],
    ['a subtree default scope', 'default_scopes.1', () => validAgent({ default_scopes: ['files:read', 'files.**:read'] })],
    // Resources must be registered.
    ['an unregistered resource', 'resources.0', () => validAgent({ resources: [UNREGISTERED] })],
    ['an unregistered resource after a registered one', 'resources.1', () => validAgent({ resources: [FILES, UNREGISTERED] })],
    // Keys and secrets do not mix.
    ['jwks with client_secret_basic', 'jwks', (k) => validAgent({ jwks: { keys: [k.ed] }, token_endpoint_auth_method: 'client_secret_basic' })],
    ['jwks with client_secret_post', 'jwks', (k) => validAgent({ jwks: { keys: [k.ed] }, token_endpoint_auth_method: 'client_secret_post' })],
    ['private_key_jwt without jwks', 'jwks', () => validAgent({ token_endpoint_auth_method: 'private_key_jwt' })],
    // PostgreSQL text cannot hold NUL: the API must refuse it as bad input, not fail on it.
    ['a name with a NUL character', 'name', () => validAgent({ name: 'a\u0000b' })],
    ['a description with a NUL character', 'description', () => validAgent({ description: 'a\u0000b' })],
    ['an owner with a NUL character', 'owner', () => validAgent({ owner: 'a\u0000b' })],
    ['a resource with a NUL character', 'resources.0', () => validAgent({ resources: [`${FILES}\u0000`] })],
  ];

  it.each(refused)('refuses %s, naming %s, and stores nothing', async (_label, field, body) => {
    const before = await storedState();
    await expectInvalidField(await adminRequest(server, 'POST', '/admin/agents', body(keys)), field);
    expect(await storedState()).toEqual(before);
  });

  it.each([
    ['a truncated object', '{"name":'],
    ['an empty body', ''],
    ['single quotes', "{'name':'agent'}"],
    ['a trailing comma', '{"name":"agent",}'],
    ['NaN', 'NaN'],
  ])('refuses malformed JSON (%s) as a 400 on the body, storing nothing', async (_label, text) => {
    const before = await storedState();
    await expectInvalidField(await send('POST', '/admin/agents', { body: text, contentType: 'application/json' }), 'body');
    expect(await storedState()).toEqual(before);
  });

  it.each([
    ['no content type', undefined],
    ['text/plain', 'text/plain'],
    ['a form', 'application/x-www-form-urlencoded'],
    ['multipart', 'multipart/form-data; boundary=x'],
  ])('refuses a valid agent sent with %s (415), storing nothing', async (_label, contentType) => {
    const before = await storedState();
    // Without an explicit content type fetch labels a string body text/plain; a Blob without a type sends none.
    const body = contentType ? JSON.stringify(validAgent()) : new Blob([JSON.stringify(validAgent())]);
    await expectRefused(await send('POST', '/admin/agents', { body, contentType }), 415, { error: 'invalid_request' });
    expect(await storedState()).toEqual(before);
  });

  it('refuses bodies over 56 KiB (413), declared, multi-byte or streamed without a length, storing nothing', async () => {
    const before = await storedState();
    const ascii = JSON.stringify(validAgent({ description: 'x'.repeat(57 * 1024) }));
    await expectRefused(await send('POST', '/admin/agents', { body: ascii, contentType: 'application/json' }), 413, { error: 'invalid_request' });
    // 29,000 two-byte characters: under the limit counted in characters, over it in bytes.
    const multiByte = JSON.stringify(validAgent({ description: 'é'.repeat(29_000) }));
    expect(multiByte.length).toBeLessThan(56 * 1024);
    await expectRefused(await send('POST', '/admin/agents', { body: multiByte, contentType: 'application/json' }), 413, { error: 'invalid_request' });
    // Chunked: no Content-Length to refuse up front, so the cap applies while reading.
    const chunks = [`{"name":"agent","owner":"${ownerId}","scopes":["files:**"],"description":"${'x'.repeat(40 * 1024)}`, `${'x'.repeat(20 * 1024)}"}`];
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        const next = chunks.shift();
        if (next === undefined) controller.close();
        else controller.enqueue(new TextEncoder().encode(next));
      },
    });
    const streamed = await fetch(`${server.url}/admin/agents`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.adminToken}`, 'content-type': 'application/json' },
      body: stream,
      duplex: 'half',
    } as RequestInit);
    await expectRefused(streamed, 413, { error: 'invalid_request' });
    expect(await storedState()).toEqual(before);
  });
});

describe('PATCH /admin/agents/:id', () => {
  const refused: [label: string, field: string, body: (k: Keys) => unknown][] = [
    ['a numeric name', 'name', () => ({ name: 42 })],
    ['an empty name', 'name', () => ({ name: '' })],
    ['a numeric description', 'description', () => ({ description: 42 })],
    ['an unknown owner', 'owner', () => ({ owner: 'no-such-user' })],
    ['an empty owner', 'owner', () => ({ owner: '' })],
    ['scopes as a string', 'scopes', () => ({ scopes: 'files:read' })],
    ['the scope "files:"', 'scopes.0', () => ({ scopes: ['files:'] })],
    ['the scope "x.**.y:read"', 'scopes.0', () => ({ scopes: ['x.**.y:read'] })],
    // The stored default (files:read) would fall outside the new patterns.
    ['scopes that exclude the stored defaults', 'default_scopes', () => ({ scopes: ['projects:*'] })],
    ['a default scope outside the stored patterns', 'default_scopes', () => ({ default_scopes: ['secrets:read'] })],
    ['a wildcard default scope', 'default_scopes.0', () => ({ default_scopes: ['files:*'] })],
    ['an unregistered resource', 'resources.0', () => ({ resources: [UNREGISTERED] })],
    ['access_token_ttl as a string', 'access_token_ttl', () => ({ access_token_ttl: '60' })],
    ['a zero access_token_ttl', 'access_token_ttl', () => ({ access_token_ttl: 0 })],
    // Status, credentials and the auth method have their own routes; PATCH must not be a way around them.
    ['a status', 'body', () => ({ status: 'active' })],
    ['jwks', 'body', (k) => ({ jwks: { keys: [k.ed] } })],
    ['a private key as jwks', 'body', (k) => ({ jwks: { keys: [k.edPrivate] } })],
    ['a token_endpoint_auth_method', 'body', () => ({ token_endpoint_auth_method: 'private_key_jwt' })],
    ['a JSON array', 'body', () => []],
    ['a name with a NUL character', 'name', () => ({ name: 'a\u0000b' })],
  ];

  it.each(refused)('refuses %s, naming %s, and changes nothing', async (_label, field, body) => {
    const agent = await secretAgent();
    const before = await agentState(agent.id);
    await expectInvalidField(await adminRequest(server, 'PATCH', `/admin/agents/${agent.id}`, body(keys)), field);
    expect(await agentState(agent.id)).toEqual(before);
  });

  it('refuses malformed JSON (400), a non-JSON body (415) and an oversized body (413), changing nothing', async () => {
    const agent = await secretAgent();
    const before = await agentState(agent.id);
    const path = `/admin/agents/${agent.id}`;
    await expectInvalidField(await send('PATCH', path, { body: '{"name":', contentType: 'application/json' }), 'body');
    await expectRefused(await send('PATCH', path, { body: 'name=renamed', contentType: 'application/x-www-form-urlencoded' }), 415, { error: 'invalid_request' });
    await expectRefused(await send('PATCH', path, { body: JSON.stringify({ description: 'x'.repeat(57 * 1024) }), contentType: 'application/json' }), 413, { error: 'invalid_request' });
    expect(await agentState(agent.id)).toEqual(before);
  });
});

describe('status transitions', () => {
  it('refuses to activate or suspend a revoked agent (400 on status); it stays revoked', async () => {
    const agent = await secretAgent();
    expect((await adminRequest(server, 'POST', `/admin/agents/${agent.id}/revoke`)).status).toBe(200);
    const before = await agentState(agent.id);
    const eventsBefore = await storedState();
    await expectInvalidField(await adminRequest(server, 'POST', `/admin/agents/${agent.id}/activate`), 'status');
    await expectInvalidField(await adminRequest(server, 'POST', `/admin/agents/${agent.id}/suspend`), 'status');
    expect(await agentState(agent.id)).toEqual(before);
    expect(before.shown.status).toBe('revoked');
    expect(await storedState()).toEqual(eventsBefore);
  });
});

describe('POST /admin/agents/:id/rotate-credentials', () => {
  async function expectRotateRefused(agent: AgentJson, body: unknown, field: string): Promise<void> {
    const before = await agentState(agent.id);
    const response = await adminRequest(server, 'POST', `/admin/agents/${agent.id}/rotate-credentials`, body);
    const refusal = await expectInvalidField(response, field);
    expect(refusal).not.toHaveProperty('client_secret');
    expect(await agentState(agent.id)).toEqual(before);
  }

  it.each([
    ['no jwks', 'jwks', () => ({})],
    ['only a grace period', 'jwks', () => ({ grace_period_seconds: 60 })],
    ['an Ed25519 private key', 'jwks.keys.0.d', (k: Keys) => ({ jwks: { keys: [k.edPrivate] } })],
    ['an EC private key', 'jwks.keys.0.d', (k: Keys) => ({ jwks: { keys: [k.ecPrivate] } })],
    ['an RSA key', 'jwks.keys.0.kty', (k: Keys) => ({ jwks: { keys: [k.rsa] } })],
    ['an OKP key on X25519', 'jwks.keys.0.crv', (k: Keys) => ({ jwks: { keys: [k.x25519] } })],
    ['empty keys', 'jwks.keys', () => ({ jwks: { keys: [] } })],
    ['a P-256 x that is not on the curve', 'jwks.keys.0', (k: Keys) => ({ jwks: { keys: [offCurve(k.ec)] } })],
    ['an Ed25519 x that is not a curve point', 'jwks.keys.0', (k: Keys) => ({ jwks: { keys: [{ ...k.otherEd, x: NOT_AN_ED25519_POINT }] } })],
    // The agent's current key has its thumbprint as kid: a second copy would be ambiguous during the grace period.
    ['the key it already has', 'jwks.keys.0.kid', (k: Keys) => ({ jwks: { keys: [k.ed] } })],
    ['a new key reusing the current kid', 'jwks.keys.0.kid', (k: Keys, currentKid: string) => ({ jwks: { keys: [{ ...k.otherEd, kid: currentKid }] } })],
    ['grace_period_seconds -1', 'grace_period_seconds', (k: Keys) => ({ jwks: { keys: [k.otherEd] }, grace_period_seconds: -1 })],
    ['grace_period_seconds 99999999', 'grace_period_seconds', (k: Keys) => ({ jwks: { keys: [k.otherEd] }, grace_period_seconds: 99_999_999 })],
    ['grace_period_seconds 1.5', 'grace_period_seconds', (k: Keys) => ({ jwks: { keys: [k.otherEd] }, grace_period_seconds: 1.5 })],
    ['an extra property', 'body', (k: Keys) => ({ jwks: { keys: [k.otherEd] }, client_secret: 'chosen' })],
  ])('refuses to rotate a key agent with %s, naming %s, keeping its credentials', async (_label, field, body) => {
    const agent = await keyAgent();
    // The current key's kid as the server stored it: its RFC 7638 thumbprint, since none was given.
    await expectRotateRefused(agent, body(keys, agent.credentials[0].kid!), field);
  });

  it.each([
    ['jwks', 'jwks', (k: Keys) => ({ jwks: { keys: [k.ed] } })],
    ['grace_period_seconds -1', 'grace_period_seconds', () => ({ grace_period_seconds: -1 })],
    ['grace_period_seconds 99999999', 'grace_period_seconds', () => ({ grace_period_seconds: 99_999_999 })],
    ['grace_period_seconds 1.5', 'grace_period_seconds', () => ({ grace_period_seconds: 1.5 })],
    ['grace_period_seconds as a string', 'grace_period_seconds', () => ({ grace_period_seconds: '60' })],
    ['grace_period_seconds null', 'grace_period_seconds', () => ({ grace_period_seconds: null })],
    ['a JSON array', 'body', () => []],
  ])('refuses to rotate a secret agent with %s, naming %s; the old secret still works', async (_label, field, body) => {
    const agent = await secretAgent();
    await expectRotateRefused(agent, body(keys), field);
    expect(await secretWorks(agent.id, agent.client_secret!)).toBe(true);
  });

  it('refuses to rotate a revoked agent (400 on status), keys or secret', async () => {
    const keyed = await keyAgent();
    const secret = await secretAgent();
    for (const agent of [keyed, secret]) expect((await adminRequest(server, 'POST', `/admin/agents/${agent.id}/revoke`)).status).toBe(200);
    await expectRotateRefused(keyed, { jwks: { keys: [keys.otherEd] } }, 'status');
    await expectRotateRefused(secret, {}, 'status');
  });

  it('refuses malformed JSON (400), a non-JSON body (415) and an oversized body (413), keeping the secret', async () => {
    const agent = await secretAgent();
    const before = await agentState(agent.id);
    const path = `/admin/agents/${agent.id}/rotate-credentials`;
    await expectInvalidField(await send('POST', path, { body: '{"grace_period_seconds":', contentType: 'application/json' }), 'body');
    await expectRefused(await send('POST', path, { body: 'grace_period_seconds=0', contentType: 'application/x-www-form-urlencoded' }), 415, { error: 'invalid_request' });
    await expectRefused(await send('POST', path, { body: JSON.stringify({ pad: 'x'.repeat(57 * 1024) }), contentType: 'application/json' }), 413, { error: 'invalid_request' });
    expect(await agentState(agent.id)).toEqual(before);
    expect(await secretWorks(agent.id, agent.client_secret!)).toBe(true);
  });
});

describe('unknown agent ids', () => {
  const routes: [method: string, suffix: string, body: Body | undefined][] = [
    ['GET', '', undefined],
    ['PATCH', '', { name: 'renamed' }],
    ['POST', '/suspend', undefined],
    ['POST', '/activate', undefined],
    ['POST', '/revoke', undefined],
    ['POST', '/rotate-credentials', {}],
    ['DELETE', '', undefined],
  ];

  it.each(routes)('%s /admin/agents/:id%s answers 404 not_found for a never-issued, a deleted and a malformed id', async (method, suffix, body) => {
    const deleted = await secretAgent();
    expect((await adminRequest(server, 'DELETE', `/admin/agents/${deleted.id}`)).status).toBe(204);
    const before = await storedState();
    for (const id of ['agent_doesnotexist', deleted.id, 'not-an-agent-id', encodeURIComponent('agent_\u00e9\u{1F600}'), 'x'.repeat(4000)]) {
      await expectNotFound(await adminRequest(server, method, `/admin/agents/${id}${suffix}`, body));
    }
    expect(await storedState()).toEqual(before);
  });

  it.each(routes)('%s /admin/agents/:id%s answers 404 for an id with a NUL character, not a server error', async (method, suffix, body) => {
    await expectNotFound(await adminRequest(server, method, `/admin/agents/agent_%00${suffix}`, body));
  });
});

describe('the admin token', () => {
  it('is required on every agent route (401 without it, with a wrong one, or in another scheme), and nothing changes', async () => {
    const agent = await secretAgent();
    const id = agent.id;
    const routes: [method: string, path: string, body: unknown][] = [
      ['POST', '/admin/agents', validAgent()],
      ['GET', '/admin/agents', undefined],
      ['GET', `/admin/agents/${id}`, undefined],
      ['PATCH', `/admin/agents/${id}`, { name: 'renamed' }],
      ['POST', `/admin/agents/${id}/suspend`, undefined],
      ['POST', `/admin/agents/${id}/activate`, undefined],
      ['POST', `/admin/agents/${id}/revoke`, undefined],
      ['POST', `/admin/agents/${id}/rotate-credentials`, {}],
      ['DELETE', `/admin/agents/${id}`, undefined],
      ['GET', '/admin/audit', undefined],
    ];
    const before = await storedState();
    const agentBefore = await agentState(id);
    const credentials: [authorization: string | null, error: string][] = [
      [null, 'invalid_request'],
      [`Bearer ${server.adminToken}x`, 'invalid_token'],
      [`Bearer ${server.adminToken.slice(0, -1)}`, 'invalid_token'],
      [`Bearer ${server.adminToken.toUpperCase()}`, 'invalid_token'],
      [`Basic ${server.adminToken}`, 'invalid_request'],
      ['Bearer', 'invalid_request'],
    ];
    for (const [method, path, body] of routes) {
      for (const [authorization, error] of credentials) {
        const response = await send(method, path, {
          authorization,
          ...(body === undefined ? {} : { body: JSON.stringify(body), contentType: 'application/json' }),
        });
        expect(response.headers.get('www-authenticate')).toMatch(/^Bearer realm="admin"/);
        await expectRefused(response, 401, { error });
      }
    }
    expect(await storedState()).toEqual(before);
    expect(await agentState(id)).toEqual(agentBefore);
  });
});

describe('GET /admin/agents query', () => {
  it.each([
    ['status=bogus', 'status', 'status=bogus'],
    ['an empty status', 'status', 'status='],
    ['limit=0', 'limit', 'limit=0'],
    ['an empty limit', 'limit', 'limit='],
    ['limit=201', 'limit', 'limit=201'],
    ['limit=-5', 'limit', 'limit=-5'],
    ['limit=1.5', 'limit', 'limit=1.5'],
    ['limit=ten', 'limit', 'limit=ten'],
    ['a repeated owner', 'owner', 'owner=a&owner=b'],
    ['a repeated status', 'status', 'status=active&status=revoked'],
    ['a cursor that is not base64url JSON', 'cursor', 'cursor=not%20base64%20json!'],
    ['a forged cursor holding a number', 'cursor', `cursor=${base64urlJson(42)}`],
    ['a forged cursor holding an object', 'cursor', `cursor=${base64urlJson({ id: 'agent_x' })}`],
    ['a forged cursor in the audit log\'s shape', 'cursor', `cursor=${base64urlJson([0, '1'])}`],
    ['a 513-character cursor', 'cursor', `cursor=${'A'.repeat(513)}`],
  ])('refuses %s, naming %s', async (_label, field, query) => {
    await expectInvalidField(await adminRequest(server, 'GET', `/admin/agents?${query}`), field);
  });

  // PostgreSQL text cannot hold NUL; such a filter matches nothing, such a cursor was never issued.
  it.each([
    ['an owner with a NUL character', 'owner', 'owner=a%00b'],
    ['a forged cursor with a NUL character', 'cursor', `cursor=${base64urlJson('agent_\u0000')}`],
  ])('answers %s with no match or a 400 naming %s, never a server error', async (_label, field, query) => {
    await expectNoMatchOrInvalid(await adminRequest(server, 'GET', `/admin/agents?${query}`), field);
  });
});

describe('GET /admin/audit query', () => {
  it.each([
    ['from=not-a-date', 'from', 'from=not-a-date'],
    ['a from without a time', 'from', 'from=2024-01-01'],
    ['month 13 in to', 'to', 'to=2024-13-45T00:00:00Z'],
    ['to=yesterday', 'to', 'to=yesterday'],
    ['limit=0', 'limit', 'limit=0'],
    ['limit=501', 'limit', 'limit=501'],
    ['a repeated event', 'event', 'event=a&event=b'],
    ['a cursor that is not base64url JSON', 'cursor', 'cursor=not%20base64%20json!'],
    ['a forged cursor holding a string', 'cursor', `cursor=${base64urlJson('x')}`],
    ['a forged cursor with a non-numeric id', 'cursor', `cursor=${base64urlJson([Date.now(), 'x'])}`],
    ['a forged cursor with a numeric id', 'cursor', `cursor=${base64urlJson([Date.now(), 1])}`],
    ['a forged cursor with a fractional instant', 'cursor', `cursor=${base64urlJson([1.5, '1'])}`],
    ['a forged cursor with three members', 'cursor', `cursor=${base64urlJson([Date.now(), '1', 'extra'])}`],
    // Well-formed to the shape check, but no row could have produced them.
    ['a forged cursor past the end of the Date range', 'cursor', `cursor=${base64urlJson([Number.MAX_SAFE_INTEGER, '1'])}`],
    ['a forged cursor with an id beyond bigint', 'cursor', `cursor=${base64urlJson([Date.now(), '99999999999999999999999'])}`],
  ])('refuses %s, naming %s', async (_label, field, query) => {
    await expectInvalidField(await adminRequest(server, 'GET', `/admin/audit?${query}`), field);
  });

  it.each([
    ['a client_id with a NUL character', 'client_id', 'client_id=a%00b'],
    ['an event with a NUL character', 'event', 'event=a%00b'],
  ])('answers %s with no match or a 400 naming %s, never a server error', async (_label, field, query) => {
    await expectNoMatchOrInvalid(await adminRequest(server, 'GET', `/admin/audit?${query}`), field);
  });
});
