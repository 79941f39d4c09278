// grants/id-jag-issuance.ts on its own: this server as an enterprise IdP issuing ID-JAGs, as token exchange reaches
// it (requested_token_type id-jag), on a real oidc-provider token endpoint (test/support/token-endpoint.ts), with
// stand-ins for the presented-token verifier, the user store and the operator's list of audiences, and a real signer.
import { importJWK, jwtVerify, type CryptoKey, type JWK } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { IdJagAudience } from '../../adapters/id-jag-audience-store.ts';
import { grant, tokenExchangeHandler, type TokenExchangeDependencies } from '../../grants/token-exchange.ts';
import { generateSigningKey } from '../../keys/signing-keys.ts';
import { TokenSigner } from '../../keys/token-signer.ts';
import { TOKEN_TYPE } from '../../tokens/token-types.ts';
import { now, presentedTokens, userToken } from '../support/presented-tokens.ts';
import { ISSUER, confidentialClient, dpopKey, tokenEndpoint, type TokenEndpoint, singleOrganization } from '../support/token-endpoint.ts';

const PARTNER = 'https://as.partner.example';
const PARTNER_API = 'https://api.partner.example';

const audiences: Record<string, IdJagAudience> = {
  [PARTNER]: {
    issuer: PARTNER, name: 'Partner', resources: [PARTNER_API], clients: { app: 'partner-client-for-app' }, scopes: ['read', 'write'],
    createdAt: new Date(), updatedAt: new Date(),
  },
  'https://open.partner.example': {
    issuer: 'https://open.partner.example', name: null, resources: ['https://one.example', 'https://two.example'], clients: { app: 'app-there' }, scopes: undefined,
    createdAt: new Date(), updatedAt: new Date(),
  },
};
const users: Record<string, { id: string; email: string | null }> = { 'user-1': { id: 'user-1', email: 'ada@example.com' }, 'user-2': { id: 'user-2', email: null } };

const presented = presentedTokens();
const { active } = presented;
const idToken = (fields = {}) => userToken({ scopes: ['openid'], clientId: 'app', lineage: [], audiences: undefined, isIdToken: true, ...fields });
let publicKey: CryptoKey;

let endpoint: TokenEndpoint;
beforeAll(async () => {
  const { privateJwk } = await generateSigningKey('ES256');
  const { d: _private, ...publicJwk } = privateJwk as JWK;
  publicKey = await importJWK(publicJwk, 'ES256') as CryptoKey;
  const signer = new TokenSigner([privateJwk]);
  const deps = {
    issuer: ISSUER,
    agents: { get: vi.fn() },
    roles: { grantsOf: vi.fn() },
    presented,
    lineage: { record: vi.fn() },
    jwtRecords: { of: vi.fn() },
    delegationDefaults: { maxDepth: 3, humanRootRequired: false, impersonation: false },
    organizations: singleOrganization(),
    transactionTokens: { signer },
    idJag: {
      issuer: ISSUER, presented, signer, organizations: singleOrganization(),
      audiences: { get: vi.fn(async (issuer: string) => audiences[issuer]) },
      users: { findById: vi.fn(async (id: string) => users[id]) },
    },
  } as unknown as TokenExchangeDependencies;
  endpoint = await tokenEndpoint({
    grantType: grant.grantType,
    parameters: grant.parameters,
    allowedDuplicateParameters: grant.allowedDuplicateParameters,
    handler: () => tokenExchangeHandler(deps),
    clients: [
      confidentialClient('app', [grant.grantType]),
      confidentialClient('unmapped', [grant.grantType]),
      { client_id: 'public-app', token_endpoint_auth_method: 'none', grant_types: [grant.grantType], response_types: [], redirect_uris: [] },
    ],
  });
});
afterAll(() => endpoint.close());
beforeEach(() => {
  endpoint.writes.length = 0;
  presented.accept.mockClear();
  for (const value of Object.keys(active)) delete active[value];
  active['id-token'] = idToken();
});

function idJagRequest(clientId: string, params: Record<string, string | string[]> = {}, headers?: Record<string, string>) {
  return endpoint.token({
    client_id: clientId, subject_token: 'id-token', subject_token_type: TOKEN_TYPE.idToken, requested_token_type: TOKEN_TYPE.idJag, audience: PARTNER, ...params,
  }, headers);
}

async function idJagClaims(token: unknown) {
  return (await jwtVerify(token as string, publicKey, { issuer: ISSUER, typ: 'oauth-id-jag+jwt' })).payload;
}

/** A refusal: the status, the exact error and description, and nothing written anywhere. */
async function expectRefusal(response: Promise<{ status: number; body: Record<string, unknown> }>, error: string, description: string) {
  const { status, body } = await response;
  expect({ status, error: body.error, error_description: body.error_description }).toEqual({ status: 400, error, error_description: description });
  expect(endpoint.writes).toEqual([]);
  return body;
}

describe('ID-JAG issuance', () => {
  it('signs an ID-JAG for the user, for the audience\'s one resource, with the client id it knows, the audience\'s scopes and the email', async () => {
    const { status, body } = await idJagRequest('app');
    expect(status).toBe(200);
    // No scope requested: the response states what the ID-JAG carries.
    expect(body).toEqual({ access_token: expect.any(String), token_type: 'N_A', expires_in: 300, scope: 'read write', issued_token_type: TOKEN_TYPE.idJag });
    const claims = await idJagClaims(body.access_token);
    expect(claims).toEqual({
      iss: ISSUER, sub: 'user-1', aud: PARTNER, client_id: 'partner-client-for-app', jti: expect.any(String), iat: expect.any(Number),
      exp: (claims.iat as number) + 300, resource: PARTNER_API, scope: 'read write', email: 'ada@example.com', org_id: 'default',
    });
    expect(presented.accept.mock.calls[0].slice(1)).toEqual(['id-token', TOKEN_TYPE.idToken, 'subject_token', [TOKEN_TYPE.idToken]]);
    expect(endpoint.writes).toEqual([]);
  });

  it('narrows the requested scope to the audience\'s and says so; a scope granted as asked is not repeated', async () => {
    const narrowed = await idJagRequest('app', { scope: 'read admin' });
    expect(narrowed.body.scope).toBe('read');
    expect((await idJagClaims(narrowed.body.access_token)).scope).toBe('read');
    const asked = await idJagRequest('app', { scope: 'write' });
    expect(asked.body).not.toHaveProperty('scope');
    expect((await idJagClaims(asked.body.access_token)).scope).toBe('write');
  });

  // RFC 6749 §3.3: scope is a set; the ID-JAG names each scope once, as the Txn-Token service does.
  it('carries each requested scope once', async () => {
    const { body } = await idJagRequest('app', { scope: 'read read' });
    expect((await idJagClaims(body.access_token)).scope).toBe('read');
  });

  it('names no resource when the audience has several and none is requested, and the requested one otherwise; any scope where the audience lists none', async () => {
    active['id-token'] = idToken({ subject: 'user-2' });
    const open = 'https://open.partner.example';
    const unnamed = await idJagClaims((await idJagRequest('app', { audience: open, scope: 'anything' })).body.access_token);
    expect(unnamed).not.toHaveProperty('resource');
    expect(unnamed).not.toHaveProperty('email');
    expect(unnamed.scope).toBe('anything');
    expect((await idJagClaims((await idJagRequest('app', { audience: open, resource: 'https://two.example' })).body.access_token)).resource).toBe('https://two.example');
  });

  it('lives no longer than the ID token it was exchanged for', async () => {
    active['id-token'] = idToken({ expiresAt: now() + 100 });
    const { body } = await idJagRequest('app');
    expect(body.expires_in).toBeGreaterThanOrEqual(99);
    expect(body.expires_in).toBeLessThanOrEqual(100);
  });

  it('binds the ID-JAG to a DPoP proof\'s key (cnf.jkt), claiming the proof once', async () => {
    const key = await dpopKey();
    const { status, body } = await idJagRequest('app', {}, { dpop: await key.proof(endpoint.url) });
    expect(status).toBe(200);
    expect((await idJagClaims(body.access_token)).cnf).toEqual({ jkt: key.thumbprint });
    expect(endpoint.writes.map((write) => write.model)).toEqual(['ReplayDetection']);
  });
});

describe('ID-JAG refusals', () => {
  it('refuses a client that does not authenticate with unauthorized_client', async () => {
    await expectRefusal(idJagRequest('public-app'), 'unauthorized_client', 'ID-JAGs are issued only to clients that authenticate');
    expect(presented.accept).not.toHaveBeenCalled();
  });

  it('refuses a subject token that is not an ID token', async () => {
    await expectRefusal(
      idJagRequest('app', { subject_token_type: TOKEN_TYPE.accessToken }), 'invalid_request',
      `an ID-JAG is issued for an ID token this server issued to the client (subject_token_type ${TOKEN_TYPE.idToken})`,
    );
  });

  it('refuses an actor_token', async () => {
    await expectRefusal(idJagRequest('app', { actor_token: 'x', actor_token_type: TOKEN_TYPE.idToken }), 'invalid_request', 'actor_token is not supported for ID-JAG requests');
  });

  it('refuses an ID token the verifier does not accept, or whose user is gone', async () => {
    await expectRefusal(idJagRequest('app', { subject_token: 'forged' }), 'invalid_request', 'subject_token is not active (unknown, expired or revoked)');
    active['id-token'] = idToken({ subject: 'user-deleted' });
    await expectRefusal(idJagRequest('app'), 'invalid_request', 'subject_token names a user that no longer exists');
  });

  it('refuses a missing or repeated audience with invalid_request', async () => {
    await expectRefusal(idJagRequest('app', { audience: '' }), 'invalid_request', 'audience is required: the issuer of the authorization server the ID-JAG is for');
    await expectRefusal(idJagRequest('app', { audience: [PARTNER, PARTNER] }), 'invalid_request', 'audience must not be repeated for an ID-JAG request');
  });

  it('refuses a repeated resource with invalid_request', async () => {
    await expectRefusal(idJagRequest('app', { resource: [PARTNER_API, PARTNER_API] }), 'invalid_request', 'resource must not be repeated for an ID-JAG request');
  });

  it('refuses an authorization server the operator did not list, quoting it printably', async () => {
    await expectRefusal(
      idJagRequest('app', { audience: 'https://as.unknown.example/"x' }), 'invalid_target',
      '"https://as.unknown.example/?x" is not an authorization server this server issues ID-JAGs for',
    );
  });

  it('refuses a client the audience has no client id for', async () => {
    await expectRefusal(idJagRequest('unmapped'), 'invalid_target', `this client may not get ID-JAGs for "${PARTNER}"`);
  });

  it('refuses a resource that is not the audience\'s', async () => {
    await expectRefusal(
      idJagRequest('app', { resource: 'https://api.elsewhere.example' }), 'invalid_target',
      `"https://api.elsewhere.example" is not a resource of "${PARTNER}" this server issues ID-JAGs for`,
    );
  });

  it('refuses requested scopes none of which the audience allows with invalid_scope', async () => {
    const body = await expectRefusal(idJagRequest('app', { scope: 'admin delete' }), 'invalid_scope', `none of the requested scopes may be granted at "${PARTNER}"`);
    expect(body.scope).toBe('admin');
  });

  it('refuses an expired ID token', async () => {
    active['id-token'] = idToken({ expiresAt: now() - 1 });
    await expectRefusal(idJagRequest('app'), 'invalid_request', 'subject_token has expired');
  });
});
