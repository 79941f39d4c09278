// Property: no input makes the server answer 5xx, issue a token, or store a record it should not, and every
// answer comes within a bound. fast-check generates the requests (random, truncated and oversized values, wrong
// types, duplicated parameters, unicode and NUL, deep JSON, JWTs with every header trick) for every endpoint that
// takes input; the verifier package gets the JWT tricks directly. The cases are drawn up front from one seed and
// sent several at a time (fast-check's own runner would send them one by one); a failure names the seed and the
// case's index, and FC_SEED=<seed> replays the run.
import { createHash, generateKeyPairSync } from 'node:crypto';
import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';
import fc from 'fast-check';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVerifier } from '../../packages/verifier/src/index.ts';
import { VerifierError } from '../../packages/verifier/src/errors.ts';
import { startTestServer, type StorageMode, type TestServer } from '../support/server.ts';

const SEED = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31);
const HTTP_CASES: Record<StorageMode, number> = { embedded: Number(process.env.FC_HTTP_CASES ?? 30_000), 'redis+postgres': Number(process.env.FC_REDIS_CASES ?? 20_000) };
const VERIFIER_CASES = Number(process.env.FC_VERIFIER_CASES ?? 50_000);
const CONCURRENCY = 12;
/** Each a password derivation (tens of ms of CPU): enough to cover the form, few enough to keep the run short. */
const INBOX_SIGN_INS = 150;
const ANSWER_BOUND_MS = 5_000;
const RESOURCE = 'https://api.fuzz.test/';
let total = 0;

// ---- values ----------------------------------------------------------------------------------------------------
const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
const nested = (depth: number): unknown => {
  let act: Record<string, unknown> = { sub: 'leaf' };
  for (let i = 0; i < depth; i += 1) act = { sub: `a${i}`, act };
  return act;
};

/** JWT-shaped strings: unsigned, HMAC'd with a public key, foreign kids, key-fetching headers pointing nowhere, huge act chains. */
function jwtArbitrary(issuer: string, publicPem: string): fc.Arbitrary<string> {
  const header = fc.oneof(
    fc.constant({ alg: 'none' }),
    fc.constant({ alg: 'HS256' }),
    fc.constant({ alg: 'RS256', kid: 'not-ours' }),
    fc.constant({ alg: 'ES256', jku: 'http://127.0.0.1:9/jwks' }),
    fc.constant({ alg: 'RS256', x5u: 'http://127.0.0.1:9/cert.pem' }),
    fc.constant({ alg: 'ES256', jwk: { kty: 'EC', crv: 'P-256', x: 'AAAA', y: 'AAAA' } }),
    fc.constant({ alg: 'RS256', typ: 'at+jwt', crit: ['exp'] }),
    fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
  );
  const payload = fc.oneof(
    fc.record({ iss: fc.constant(issuer), sub: fc.string({ maxLength: 20 }), aud: fc.constant(RESOURCE), exp: fc.integer(), client_id: fc.string({ maxLength: 20 }) }, { requiredKeys: [] }),
    fc.record({ iss: fc.constant(issuer), sub: fc.constant('x'), aud: fc.constant(RESOURCE), exp: fc.constant(4_102_444_800), act: fc.integer({ min: 1, max: 3000 }).map(nested) }),
    fc.jsonValue({ maxDepth: 3 }),
  );
  const signature = fc.oneof(fc.constant(''), fc.string({ maxLength: 40 }).map(b64), fc.constant('AAAA'));
  return fc.tuple(header, payload, signature).map(([h, p, s]) => {
    const head = `${b64(h)}.${b64(p)}`;
    // HS256 with our own public key as the secret: the classic algorithm-confusion attack.
    if ((h as { alg?: string }).alg === 'HS256') return `${head}.${createHash('sha256').update(publicPem).update(head).digest('base64url')}`;
    return `${head}.${s}`;
  });
}

function valueArbitrary(jwt: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.string({ maxLength: 40 }) },
    { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
    { weight: 1, arbitrary: fc.string({ maxLength: 20 }).map((text) => `${text}\u0000${text}`) },
    { weight: 1, arbitrary: fc.integer({ min: 1000, max: 70_000 }).map((length) => 'x'.repeat(length)) },
    { weight: 2, arbitrary: jwt },
    { weight: 1, arbitrary: fc.constantFrom('client_credentials', 'authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:token-exchange', 'urn:ietf:params:oauth:token-type:access_token', 'urn:ietf:params:oauth:token-type:txn_token', 'urn:ietf:params:oauth:token-type:jwt', 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', 'urn:openid:params:grant-type:ciba', 'owner', '[{"type":"agent_action","action":"x"}]', RESOURCE, 'openid offline_access', '%00', '') },
  );
}

const PARAMETERS = [
  'grant_type', 'client_id', 'client_secret', 'client_assertion', 'client_assertion_type', 'scope', 'resource', 'audience', 'code', 'code_verifier',
  'redirect_uri', 'refresh_token', 'subject_token', 'subject_token_type', 'actor_token', 'actor_token_type', 'requested_token_type', 'token',
  'token_type_hint', 'response_type', 'state', 'nonce', 'code_challenge', 'code_challenge_method', 'prompt', 'request', 'request_uri',
  'authorization_details', 'request_context', 'request_details', 'id_token_hint', 'post_logout_redirect_uri', 'login_hint', 'max_age',
  'binding_message', 'requested_expiry', 'client_notification_token', 'user_code', 'login_hint_token', 'auth_req_id',
];

interface Case { method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE'; path: string; headers: Record<string, string>; body?: string }

function formArbitrary(value: fc.Arbitrary<string>): fc.Arbitrary<string> {
  const pair = fc.tuple(fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...PARAMETERS) }, { weight: 1, arbitrary: fc.string({ maxLength: 10 }) }), value);
  // Duplicated parameters come from the same name drawn twice.
  return fc.array(pair, { maxLength: 8 }).chain((pairs) => fc.oneof(
    { weight: 9, arbitrary: fc.constant(new URLSearchParams(pairs).toString()) },
    // Truncated mid-escape, or bytes that are not form encoding at all.
    { weight: 1, arbitrary: fc.nat().map((cut) => { const text = new URLSearchParams(pairs).toString(); return text.slice(0, text.length ? cut % text.length : 0); }) },
  ));
}

function jsonArbitrary(value: fc.Arbitrary<string>): fc.Arbitrary<string> {
  const member = fc.constantFrom('redirect_uris', 'grant_types', 'response_types', 'token_endpoint_auth_method', 'client_name', 'jwks', 'jwks_uri', 'scope', 'contacts',
    'username', 'password', 'name', 'owner', 'scopes', 'resources', 'identifier', 'token_format', 'delegation_policy', 'may_act', 'access_token_ttl', 'email');
  const anyValue = fc.oneof(value, fc.jsonValue({ maxDepth: 4 }), fc.array(value, { maxLength: 4 }), fc.integer({ min: 100, max: 20_000 }).map((depth) => ({ __deep: depth })));
  return fc.oneof(
    { weight: 8, arbitrary: fc.dictionary(member, anyValue, { maxKeys: 6 }).map((object) => JSON.stringify(object).replace(/\{"__deep":(\d+)\}/g, (_m, depth: string) => `${'['.repeat(Number(depth))}${']'.repeat(Number(depth))}`)) },
    { weight: 1, arbitrary: fc.string({ maxLength: 60 }) },
    { weight: 1, arbitrary: fc.jsonValue().map((json) => JSON.stringify(json)) },
  );
}

/** A signed-in approvals inbox session (its cookie and CSRF token), so generated decisions reach past the checks. */
interface InboxSession { cookie: string; csrf: string }

async function signInToInbox(server: TestServer): Promise<InboxSession> {
  const username = 'fuzz-approver';
  const password = 'correct horse battery staple';
  const created = await fetch(`${server.url}/admin/users`, { method: 'POST', headers: { authorization: `Bearer ${server.adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });
  if (created.status !== 201) throw new Error(`creating the inbox user failed: ${created.status}`);
  const csrfOf = (html: string) => /name="csrf" value="([^"]+)"/.exec(html)![1];
  const form = await fetch(`${server.url}/approvals`);
  const nonce = form.headers.getSetCookie().map((line) => line.split(';')[0]).join('; ');
  const signedIn = await fetch(`${server.url}/approvals/sign-in`, {
    method: 'POST', redirect: 'manual', headers: { cookie: nonce, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ csrf: csrfOf(await form.text()), username, password }),
  });
  const cookie = signedIn.headers.getSetCookie().map((line) => line.split(';')[0]).find((pair) => pair.startsWith('approvals_session='))!;
  const page = await fetch(`${server.url}/approvals`, { headers: { cookie } });
  return { cookie, csrf: csrfOf(await page.text()) };
}

/**
 * The inbox with the session's cookie (or a hostile one) and its CSRF token (or not): decisions on hostile ids,
 * hostile forms, and hostile queries. Sign-in attempts (each a password derivation) are sampled apart, fewer.
 */
function inboxArbitrary(session: InboxSession, value: fc.Arbitrary<string>): fc.Arbitrary<Case> {
  const form = formArbitrary(value);
  const cookie = fc.oneof({ weight: 3, arbitrary: fc.constant(session.cookie) }, { weight: 1, arbitrary: value.map((text) => `approvals_session=${encodeURIComponent(text)}`) });
  const decisionForm = fc.tuple(form, fc.boolean(), fc.option(value, { nil: undefined })).map(([body, withCsrf, password]) => {
    const params = new URLSearchParams(body);
    if (withCsrf) params.set('csrf', session.csrf);
    if (password !== undefined) params.set('password', password);
    return params.toString();
  });
  return fc.oneof(
    fc.tuple(fc.oneof(value, fc.constant('apr_x')), fc.constantFrom('approve', 'deny', 'x', 'approve/more'), decisionForm, cookie).map(([id, decision, body, sent]): Case => ({
      method: 'POST', path: `/approvals/${encodeURIComponent(id)}/${decision}`, headers: { cookie: sent, 'content-type': 'application/x-www-form-urlencoded' }, body,
    })),
    fc.tuple(form, cookie).map(([query, sent]): Case => ({ method: 'GET', path: `/approvals?${query}`, headers: { cookie: sent } })),
    fc.tuple(decisionForm, cookie).map(([body, sent]): Case => ({ method: 'POST', path: '/approvals/sign-out', headers: { cookie: `${sent}x`, 'content-type': 'application/x-www-form-urlencoded' }, body })),
  );
}

function inboxSignInArbitrary(value: fc.Arbitrary<string>): fc.Arbitrary<Case> {
  return fc.tuple(formArbitrary(value), value, fc.option(value, { nil: undefined })).map(([body, username, cookie]): Case => {
    const params = new URLSearchParams(body);
    params.set('username', username);
    return { method: 'POST', path: '/approvals/sign-in', headers: { 'content-type': 'application/x-www-form-urlencoded', ...(cookie !== undefined ? { cookie: `approvals_sign_in=${encodeURIComponent(cookie)}` } : {}) }, body: params.toString() };
  });
}

function caseArbitrary(server: TestServer, jwt: fc.Arbitrary<string>, inbox: InboxSession): fc.Arbitrary<Case> {
  const value = valueArbitrary(jwt);
  const form = formArbitrary(value);
  const json = jsonArbitrary(value);
  const formCase = (path: string) => fc.tuple(form, fc.option(value, { nil: undefined }), fc.option(jwt, { nil: undefined })).map(([body, basic, dpop]): Case => ({
    method: 'POST', path,
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(basic !== undefined ? { authorization: `Basic ${Buffer.from(`${encodeURIComponent(basic)}:${encodeURIComponent(basic)}`).toString('base64')}` } : {}), ...(dpop ? { dpop } : {}) },
    body,
  }));
  const admin = { authorization: `Bearer ${server.adminToken}`, 'content-type': 'application/json' };
  return fc.oneof(
    { weight: 6, arbitrary: formCase('/token') },
    { weight: 2, arbitrary: formCase('/token/introspection') },
    { weight: 2, arbitrary: formCase('/token/revocation') },
    { weight: 2, arbitrary: formCase('/backchannel') },
    { weight: 2, arbitrary: inboxArbitrary(inbox, value) },
    { weight: 3, arbitrary: form.map((query): Case => ({ method: 'GET', path: `/auth?${query}`, headers: {} })) },
    { weight: 1, arbitrary: form.map((query): Case => ({ method: 'GET', path: `/session/end?${query}`, headers: {} })) },
    { weight: 2, arbitrary: json.map((body): Case => ({ method: 'POST', path: '/reg', headers: { 'content-type': 'application/json' }, body })) },
    { weight: 1, arbitrary: json.map((body): Case => ({ method: 'POST', path: '/reg', headers: { 'content-type': 'application/json', authorization: `Bearer ${server.adminToken}` }, body })) },
    { weight: 1, arbitrary: fc.tuple(value, fc.string({ maxLength: 20 })).map(([token, id]): Case => ({ method: 'GET', path: `/reg/${encodeURIComponent(id)}`, headers: { authorization: `Bearer ${encodeURIComponent(token)}` } })) },
    { weight: 2, arbitrary: fc.tuple(jwt, fc.constantFrom('GET', 'POST') as fc.Arbitrary<'GET' | 'POST'>).map(([token, method]): Case => ({ method, path: '/me', headers: { authorization: `Bearer ${token}` } })) },
    // The permission check (AuthZEN): bodies shaped like its requests with hostile members, or any JSON, from the
    // operator or with a forged token; the `access_token` in context is a hostile JWT too.
    {
      weight: 2,
      arbitrary: fc.tuple(
        fc.constantFrom('/access/v1/evaluation', '/access/v1/evaluations'),
        fc.oneof(json, authzenBodyArbitrary(value, jwt)),
        fc.option(jwt, { nil: undefined }),
      ).map(([path, body, token]): Case => ({ method: 'POST', path, headers: { ...admin, authorization: `Bearer ${token ?? server.adminToken}` }, body })),
    },
    {
      weight: 3,
      arbitrary: fc.tuple(fc.constantFrom('POST /admin/users', 'POST /admin/agents', 'POST /admin/resources', 'PATCH /admin/resources/x', 'PATCH /admin/agents/agent_x', 'PATCH /admin/users/x', 'POST /admin/agents/x/suspend', 'GET /admin/audit',
        'GET /admin/approvals', 'POST /admin/approvals/x/approve', 'POST /admin/approvals/x/deny', 'PUT /admin/approval-tiers/x',
        'GET /admin/clients', 'PATCH /admin/clients/x', 'POST /admin/clients/x/suspend', 'POST /admin/clients/x/rotate-credentials'), json, form)
        .map(([route, body, query]): Case => {
          const [method, path] = route.split(' ') as [Case['method'], string];
          return method === 'GET' ? { method, path: `${path}?${query}`, headers: admin } : { method, path, headers: admin, body };
        }),
    },
  );
}

/**
 * node:http with a keep-alive agent: a fraction of fetch's client-side cost, which shares these two cores with the
 * server. A request sent on a kept-alive socket just as the server closes it for idling (its keepAliveTimeout) is
 * reset before the server read a byte of it; Node's documentation says to retry exactly that case once, and so
 * does this, on a new connection.
 */
async function send(agent: Agent, base: string, sent: Case): Promise<{ status: number; text: string }> {
  try {
    return await sendOnce(agent, base, sent);
  } catch (error) {
    if ((error as { reusedSocket?: boolean }).reusedSocket && (error as NodeJS.ErrnoException).code === 'ECONNRESET') return sendOnce(false, base, sent);
    throw error;
  }
}

function sendOnce(agent: Agent | false, base: string, { method, path, headers, body }: Case): Promise<{ status: number; text: string }> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, method, path, agent, headers: body === undefined ? headers : { ...headers, 'content-length': Buffer.byteLength(body) }, timeout: ANSWER_BOUND_MS }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${ANSWER_BOUND_MS} ms`)));
    req.on('error', (error) => reject(Object.assign(error, { reusedSocket: req.reusedSocket })));
    req.end(body);
  });
}

/** AuthZEN request bodies (§6.1, §7.1) whose members are anything: strings, wrong types, huge batches, deep JSON. */
function authzenBodyArbitrary(value: fc.Arbitrary<string>, jwt: fc.Arbitrary<string>): fc.Arbitrary<string> {
  const member = fc.oneof(value, fc.jsonValue({ maxDepth: 3 }));
  const entity = fc.oneof({ weight: 4, arbitrary: fc.record({ type: fc.oneof(fc.constantFrom('agent', 'client', 'user', 'files'), member), id: member, properties: fc.jsonValue({ maxDepth: 2 }) }, { requiredKeys: [] }) }, { weight: 1, arbitrary: member });
  const action = fc.oneof(fc.record({ name: member }, { requiredKeys: [] }), member);
  const context = fc.oneof(fc.record({ access_token: fc.oneof(jwt, member) }, { requiredKeys: [] }), member);
  const evaluation = fc.record({ subject: entity, action, resource: entity, context }, { requiredKeys: [] });
  return fc.record({
    subject: entity, action, resource: entity, context,
    evaluations: fc.oneof(fc.array(evaluation, { maxLength: 5 }), fc.integer({ min: 90, max: 400 }).map((length) => Array.from({ length }, () => ({}))), member),
    options: fc.oneof(fc.record({ evaluations_semantic: fc.oneof(fc.constantFrom('execute_all', 'deny_on_first_deny', 'permit_on_first_permit'), member) }, { requiredKeys: [] }), member),
  }, { requiredKeys: [] }).map((body) => JSON.stringify(body));
}

async function runCases(server: TestServer, cases: Case[], mode: StorageMode): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const clientCount = async () => Number((await server.db.selectFrom('clients').select(server.db.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
  const issuedBefore = server.issuedCount();
  const clientsBefore = await clientCount();
  let registered = 0;
  let next = 0;
  const failures: string[] = [];
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < cases.length && failures.length === 0) {
      const index = next++;
      const { method, path, headers, body } = cases[index];
      const started = performance.now();
      try {
        const { status, text } = await send(agent, server.url, { method, path, headers, body });
        if (status === 201 && path === '/reg') registered += 1;
        if (status >= 500) failures.push(`case ${index}: ${method} ${path.slice(0, 200)} answered ${status}: ${text.slice(0, 300)}`);
      } catch (error) {
        // Node's HTTP parser answers a head over its 16 KiB limit with 431 and closes the socket at once, which a
        // client still writing sees as a reset: the server's refusal, not a failure. The head counted as the
        // parser does: request line, every field line with its CRLF, and those Node's client adds itself.
        const sent = { ...headers, host: new URL(server.url).host, connection: 'keep-alive', ...(body === undefined ? {} : { 'content-length': String(Buffer.byteLength(body)) }) };
        const headBytes = `${method} ${path} HTTP/1.1\r\n`.length + Object.entries(sent).reduce((sum, [name, field]) => sum + name.length + 2 + Buffer.byteLength(field) + 2, 0) + 2;
        if ((error as NodeJS.ErrnoException).code === 'ECONNRESET' && headBytes > 16 * 1024) continue;
        // Likewise a body over the 56 KiB every endpoint reads: the answer (413/400) is written and the socket closed
        // while the client may still be sending the rest, which it then sees as a reset.
        if ((error as NodeJS.ErrnoException).code === 'ECONNRESET' && Buffer.byteLength(body ?? '') > 56 * 1024) continue;
        failures.push(`case ${index}: ${method} ${path.slice(0, 200)} (${body?.length ?? 0} bytes) failed: ${(error as Error).message}`);
        continue;
      }
      const took = performance.now() - started;
      if (took > ANSWER_BOUND_MS) failures.push(`case ${index}: ${method} ${path.slice(0, 200)} took ${Math.round(took)} ms`);
    }
  }));
  agent.destroy();
  expect(failures, `FC_SEED=${SEED} (${mode})`).toEqual([]);
  // Nothing generated carries a credential, so nothing is issued; a registration that succeeded was a valid
  // public client's metadata, and is the only kind of record that may appear.
  expect(server.issuedCount() - issuedBefore).toBe(0);
  expect(await clientCount()).toBe(clientsBefore + registered);
  total += cases.length;
}

describe('no server errors for any input', () => {
  const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const publicPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const servers: TestServer[] = [];
  beforeAll(() => {
    console.info(`fast-check seed ${SEED} (replay with FC_SEED=${SEED})`);
  });
  afterAll(async () => {
    for (const server of servers) await server.stop();
    console.info(`fast-check: ${total} generated cases, seed ${SEED}`);
  });

  it.each(['embedded', 'redis+postgres'] as const)('over HTTP (%s)', async (mode) => {
    const server = await startTestServer(mode, 'fuzz');
    servers.push(server);
    const jwt = jwtArbitrary(server.issuer, publicPem);
    const inbox = await signInToInbox(server);
    const cases = [
      ...fc.sample(caseArbitrary(server, jwt, inbox), { numRuns: HTTP_CASES[mode], seed: SEED }),
      ...fc.sample(inboxSignInArbitrary(valueArbitrary(jwt)), { numRuns: INBOX_SIGN_INS, seed: SEED }),
    ];
    await runCases(server, cases, mode);
  }, 240_000);

  it('in the verifier', async () => {
    const server = servers[0];
    // Signed properly, but by a key that is not the server's, with a kid it never published.
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    // A resource server for RESOURCE that knows where the server's keys are.
    const verifier = createVerifier({ issuer: server.issuer, resource: RESOURCE, resourceMetadataUrl: `${RESOURCE}.well-known/oauth-protected-resource`, jwksUri: `${server.url}/jwks` });
    const signed = await new SignJWT({ scope: 'x', act: nested(200) as never }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer(server.issuer).setAudience(RESOURCE).setExpirationTime('1h').sign(privateKey);
    const header = fc.oneof(
      { weight: 6, arbitrary: jwtArbitrary(server.issuer, publicPem).map((token) => `Bearer ${token}`) },
      { weight: 2, arbitrary: valueArbitrary(jwtArbitrary(server.issuer, publicPem)) },
      { weight: 1, arbitrary: fc.constantFrom(`Bearer ${signed}`, `DPoP ${signed}`, 'Bearer', 'Basic abc', `Bearer ${signed} ${signed}`) },
    );
    const cases = fc.sample(fc.tuple(header, fc.option(jwtArbitrary(server.issuer, publicPem), { nil: undefined })), { numRuns: VERIFIER_CASES, seed: SEED });
    const failures: string[] = [];
    for (const [index, [authorization, dpop]] of cases.entries()) {
      try {
        await verifier.verify({ method: 'GET', url: `${RESOURCE}tool`, headers: { authorization, ...(dpop ? { dpop } : {}) } });
        failures.push(`case ${index}: accepted`);
      } catch (error) {
        if (!(error instanceof VerifierError)) failures.push(`case ${index}: ${(error as Error)?.constructor?.name}: ${(error as Error)?.message} (${String((error as Error)?.cause)}) ${authorization.slice(0, 300)}`);
      }
      if (failures.length > 0) break;
    }
    expect(failures, `FC_SEED=${SEED}`).toEqual([]);
    total += cases.length;
  }, 120_000);
});
