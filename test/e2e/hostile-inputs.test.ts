// The inputs that used to end in a 500 (a NUL byte reaching PostgreSQL, metadata of the wrong type reaching the
// registration policy, deeply nested JSON overflowing the stack of the NUL check), each answered with the OAuth
// error the RFCs name, on both storage modes, with nothing stored and nothing issued.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STORAGE_MODES, startTestServer, type TestServer } from '../support/server.ts';

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const JSON_BODY = { 'content-type': 'application/json' };
const DEEP = `${'['.repeat(25_000)}${']'.repeat(25_000)}`;

function assertion(issuer: string, iss: string): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'RS256' })}.${part({ iss, sub: iss, aud: issuer, exp: Math.floor(Date.now() / 1000) + 60, jti: 'x' })}.AAAA`;
}

describe.each(STORAGE_MODES)('hostile inputs (%s)', (mode) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(mode, 'hostile-inputs');
  });
  afterAll(async () => {
    await server?.stop();
  });

  async function send(path: string, init: RequestInit = {}): Promise<{ status: number; type: string; body: any }> {
    const response = await fetch(new URL(path, server.url), { redirect: 'manual', ...init });
    const type = response.headers.get('content-type') ?? '';
    const text = await response.text();
    return { status: response.status, type, body: type.includes('json') ? JSON.parse(text) : text };
  }

  const clientCount = async () => Number((await server.db.selectFrom('clients').select(server.db.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);

  it.each([
    ['/token', 'grant_type=client_credentials&client_id=%00&client_secret=x'],
    ['/token/introspection', 'token=x&client_id=%00&client_secret=x'],
    ['/token/revocation', 'token=x&client_id=%00&client_secret=x'],
  ])('a NUL in client_id at %s is 401 invalid_client', async (path, body) => {
    const issuedBefore = server.issuedCount();
    const answer = await send(path, { method: 'POST', headers: FORM, body });
    expect(answer.status).toBe(401);
    expect(answer.body.error).toBe('invalid_client');
    expect(server.issuedCount()).toBe(issuedBefore);
  });

  it('a NUL in a client assertion\'s iss is 401 invalid_client', async () => {
    const body = new URLSearchParams({
      grant_type: 'client_credentials',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion(server.issuer, '\u0000'),
    });
    const answer = await send('/token', { method: 'POST', headers: FORM, body });
    expect(answer.status).toBe(401);
    expect(answer.body.error).toBe('invalid_client');
  });

  it('/auth?client_id=%00 is the 400 error page, /session/end?client_id=%00 a 400 invalid_client', async () => {
    const auth = await send('/auth?client_id=%00&response_type=code&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcb');
    expect(auth.status).toBe(400);
    expect(auth.type).toMatch(/text\/html/);
    const end = await send('/session/end?client_id=%00');
    expect(end.status).toBe(400);
    expect(end.body.error).toBe('invalid_client');
  });

  it.each([
    ['a NUL in client_name', JSON.stringify({ redirect_uris: ['http://127.0.0.1/cb'], client_name: 'a\u0000b', token_endpoint_auth_method: 'none' }), 'invalid_client_metadata', /client_name must not contain NUL/],
    ['an unpaired surrogate in client_name', '{"redirect_uris":["http://127.0.0.1/cb"],"client_name":"\\ud800","token_endpoint_auth_method":"none"}', 'invalid_client_metadata', /client_name must not contain/],
    ['grant_types as a string', JSON.stringify({ redirect_uris: ['http://127.0.0.1/cb'], grant_types: 'authorization_code', token_endpoint_auth_method: 'none' }), 'invalid_client_metadata', /grant_types must be an array of strings/],
    ['redirect_uris as a string', JSON.stringify({ redirect_uris: 'http://127.0.0.1/cb', token_endpoint_auth_method: 'none' }), 'invalid_redirect_uri', /redirect_uris must be an array of strings/],
    ['25,000-deep JSON', `{"redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none","client_name":"x","jwks":{"keys":${DEEP}}}`, undefined, undefined],
  ])('anonymous /reg with %s is a 400 and registers nothing', async (_name, body, error, description) => {
    const before = await clientCount();
    const answer = await send('/reg', { method: 'POST', headers: JSON_BODY, body });
    expect(answer.status).toBe(400);
    if (error) expect(answer.body).toMatchObject({ error, error_description: expect.stringMatching(description!) });
    expect(await clientCount()).toBe(before);
  });

  it.each([
    ['POST', '/admin/users', `{"username":${DEEP}}`, 'username'],
    ['POST', '/admin/agents', `{"name":"x","scopes":${DEEP}}`, 'scopes'],
    ['PATCH', '/admin/resources/https%3A%2F%2Fapi.example.com%2F', `{"scopes":${DEEP}}`, 'scopes'],
  ])('%s %s with 25,000-deep JSON is 400 naming the field', async (method, path, body, field) => {
    const answer = await send(path, { method, headers: { ...JSON_BODY, authorization: `Bearer ${server.adminToken}` }, body });
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject({ error: 'invalid_request', field, error_description: expect.stringMatching(/nested more than 64 levels/) });
  });

  it('an admin body with a NUL or an unpaired surrogate is 400 naming the field', async () => {
    for (const body of ['{"username":"a\\u0000b","password":"correct horse battery staple"}', '{"username":"a\\udc00","password":"correct horse battery staple"}']) {
      const answer = await send('/admin/users', { method: 'POST', headers: { ...JSON_BODY, authorization: `Bearer ${server.adminToken}` }, body });
      expect(answer.status).toBe(400);
      expect(answer.body).toMatchObject({ error: 'invalid_request', field: 'username' });
    }
  });
});
