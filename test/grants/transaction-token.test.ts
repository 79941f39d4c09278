// grants/transaction-token.ts on its own: the Transaction Token Service as token exchange reaches it
// (requested_token_type txn_token), on a real oidc-provider token endpoint (test/support/token-endpoint.ts), with
// a stand-in presented-token verifier and a real signer. The request's profile and the claims are pure functions
// with tests of their own (test/issuance/transaction-token-claims.test.ts); here, what the service decides.
import { decodeProtectedHeader, importJWK, jwtVerify, type CryptoKey, type JWK } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { grant, tokenExchangeHandler, type TokenExchangeDependencies } from '../../grants/token-exchange.ts';
import { generateSigningKey } from '../../keys/signing-keys.ts';
import { TokenSigner } from '../../keys/token-signer.ts';
import { TOKEN_TYPE } from '../../tokens/token-types.ts';
import { now, presentedTokens, userToken } from '../support/presented-tokens.ts';
import { ISSUER, confidentialClient, dpopKey, tokenEndpoint, type TokenEndpoint, singleOrganization } from '../support/token-endpoint.ts';

const TRUST_DOMAIN = 'trust.example';
const LIFETIME = 60;

const presented = presentedTokens();
const { active } = presented;
let publicKey: CryptoKey;

let endpoint: TokenEndpoint;
beforeAll(async () => {
  const { privateJwk } = await generateSigningKey('ES256');
  const { d: _private, ...publicJwk } = privateJwk as JWK;
  publicKey = await importJWK(publicJwk, 'ES256') as CryptoKey;
  const deps = {
    issuer: ISSUER,
    agents: { get: vi.fn(async () => undefined) },
    roles: { grantsOf: vi.fn() },
    presented,
    lineage: { record: vi.fn() },
    jwtRecords: { of: vi.fn() },
    delegationDefaults: { maxDepth: 3, humanRootRequired: false, impersonation: false },
    organizations: singleOrganization(),
    transactionTokens: { trustDomain: TRUST_DOMAIN, signer: new TokenSigner([privateJwk]), lifetime: LIFETIME, maxContextBytes: 256 },
    idJag: {},
  } as unknown as TokenExchangeDependencies;
  endpoint = await tokenEndpoint({
    grantType: grant.grantType,
    parameters: grant.parameters,
    allowedDuplicateParameters: grant.allowedDuplicateParameters,
    handler: () => tokenExchangeHandler(deps),
    clients: [
      confidentialClient('workload', [grant.grantType], { txn_token_policy: {} }),
      confidentialClient('gateway', [grant.grantType], {
        txn_token_policy: { subject_token_types: ['unsigned_json'], tctx_members: ['action'], allowed_scopes: ['trade:*'] },
      }),
      confidentialClient('not-a-workload', [grant.grantType]),
    ],
    resources: [{ identifier: 'https://trade.example', scopes: ['trade:stocks', 'trade:bonds'] }],
  });
});
afterAll(() => endpoint.close());
beforeEach(() => {
  endpoint.writes.length = 0;
  presented.accept.mockClear();
  for (const value of Object.keys(active)) delete active[value];
  active['user-token'] = userToken({ scopes: ['trade:stocks', 'trade:bonds', 'audit:read'], audiences: ['https://trade.example'] });
});

function txnRequest(clientId: string, params: Record<string, string | string[]> = {}, headers?: Record<string, string>) {
  return endpoint.token({
    client_id: clientId, subject_token: 'user-token', subject_token_type: TOKEN_TYPE.accessToken, requested_token_type: TOKEN_TYPE.txnToken,
    audience: TRUST_DOMAIN, scope: 'trade:stocks', ...params,
  }, headers);
}

async function txnClaims(token: unknown) {
  return (await jwtVerify(token as string, publicKey, { issuer: ISSUER, audience: TRUST_DOMAIN, typ: 'txntoken+jwt' })).payload;
}

/** A refusal: the status, the exact error and description, and nothing written anywhere. */
async function expectRefusal(response: Promise<{ status: number; body: Record<string, unknown> }>, error: string, description: string) {
  const { status, body } = await response;
  expect({ status, error: body.error, error_description: body.error_description }).toEqual({ status: 400, error, error_description: description });
  expect(endpoint.writes).toEqual([]);
  return body;
}

describe('Txn-Token issuance', () => {
  it('answers a signed Txn-Token that is not an access token, for the subject, requested by the workload, stored nowhere', async () => {
    active['user-token'] = { ...active['user-token'], act: { sub: 'agent_y' } };
    const { status, body } = await txnRequest('workload', { request_context: '{"req_ip":"192.0.2.1"}', request_details: '{"action":"BUY","quantity":"100"}' });
    expect(status).toBe(200);
    // The scope is as requested, so the response leaves it out.
    expect(body).toEqual({ access_token: expect.any(String), token_type: 'N_A', expires_in: LIFETIME, issued_token_type: TOKEN_TYPE.txnToken });
    expect(decodeProtectedHeader(body.access_token as string)).toMatchObject({ alg: 'ES256', typ: 'txntoken+jwt' });
    const claims = await txnClaims(body.access_token);
    expect(claims).toEqual({
      iss: ISSUER, aud: TRUST_DOMAIN, sub: 'user-1', scope: 'trade:stocks', req_wl: 'workload', txn: expect.any(String),
      iat: expect.any(Number), exp: (claims.iat as number) + LIFETIME,
      rctx: { req_ip: '192.0.2.1' }, tctx: { action: 'BUY', quantity: '100' }, act: { sub: 'agent_y' }, org_id: 'default',
    });
    expect(endpoint.writes).toEqual([]);
  });

  it('states the scope when it is not the request\'s as sent', async () => {
    const { body } = await txnRequest('workload', { scope: 'trade:stocks trade:stocks' });
    expect(body.scope).toBe('trade:stocks');
  });

  it('lives no longer than the subject token has left', async () => {
    active['user-token'] = { ...active['user-token'], expiresAt: now() + 20 };
    const { body } = await txnRequest('workload');
    expect(body.expires_in).toBeGreaterThanOrEqual(19);
    expect(body.expires_in).toBeLessThanOrEqual(20);
    const claims = await txnClaims(body.access_token);
    expect((claims.exp as number) - (claims.iat as number)).toBe(body.expires_in);
  });

  it('accepts the self-asserted types the workload\'s policy enables, and copies into tctx only the members it lets in', async () => {
    active.asserted = userToken({ issuer: 'gateway', clientId: 'gateway', scopes: ['trade:stocks'], rootIsPerson: false, lineage: [], audiences: undefined });
    const { status, body } = await txnRequest('gateway', { subject_token: 'asserted', subject_token_type: TOKEN_TYPE.unsignedJson, request_details: '{"action":"SELL","card":"4111"}' });
    expect(status).toBe(200);
    expect(presented.accept.mock.calls[0].slice(2)).toEqual([
      TOKEN_TYPE.unsignedJson, 'subject_token', [TOKEN_TYPE.accessToken, TOKEN_TYPE.jwt, TOKEN_TYPE.txnToken, TOKEN_TYPE.unsignedJson],
    ]);
    expect((await txnClaims(body.access_token)).tctx).toEqual({ action: 'SELL' });
  });

  it('replaces a Txn-Token: the same txn, the requesting workloads kept in rctx', async () => {
    active.txn = userToken({
      rootIsPerson: false, scopes: ['trade:stocks'], clientId: 'frontend', lineage: [], audiences: undefined,
      transaction: { txn: 'txn-1', requestingWorkload: 'frontend', rctx: { req_ip: '192.0.2.1' }, tctx: { action: 'BUY' } },
    });
    const { status, body } = await txnRequest('workload', { subject_token: 'txn', subject_token_type: TOKEN_TYPE.txnToken });
    expect(status).toBe(200);
    expect(await txnClaims(body.access_token)).toMatchObject({
      txn: 'txn-1', sub: 'user-1', req_wl: 'workload', rctx: { req_ip: '192.0.2.1', req_wl_chain: ['frontend', 'workload'] }, tctx: { action: 'BUY' },
    });
  });

  it('binds nothing to a DPoP proof sent along (the draft defines no proof of possession for Txn-Tokens)', async () => {
    const key = await dpopKey();
    const { status, body } = await txnRequest('workload', {}, { dpop: await key.proof(endpoint.url) });
    expect(status).toBe(200);
    expect(body.token_type).toBe('N_A');
    expect(await txnClaims(body.access_token)).not.toHaveProperty('cnf');
  });
});

describe('Txn-Token refusals', () => {
  it('refuses a client the operator has not made a workload with unauthorized_client, before reading the request', async () => {
    await expectRefusal(txnRequest('not-a-workload', { audience: 'elsewhere' }), 'unauthorized_client', 'this client is not a workload the operator allows to request Txn-Tokens (txn_token_policy)');
    expect(presented.accept).not.toHaveBeenCalled();
  });

  it('refuses a request outside the profile before looking at the subject token', async () => {
    await expectRefusal(txnRequest('workload', { audience: 'https://trade.example' }), 'invalid_target', `audience must be this trust domain, "${TRUST_DOMAIN}"`);
    expect(presented.accept).not.toHaveBeenCalled();
  });

  it('refuses a self-asserted subject token type the workload\'s policy does not enable', async () => {
    await expectRefusal(
      txnRequest('workload', { subject_token_type: TOKEN_TYPE.selfSigned }), 'invalid_request',
      `subject_token_type ${TOKEN_TYPE.selfSigned} is not enabled for this workload (txn_token_policy.subject_token_types)`,
    );
    expect(presented.accept).not.toHaveBeenCalled();
  });

  it('refuses a subject token the verifier does not accept with its reason', async () => {
    await expectRefusal(txnRequest('workload', { subject_token: 'unknown' }), 'invalid_request', 'subject_token is not active (unknown, expired or revoked)');
  });

  it('refuses a subject token that states no scope', async () => {
    active['user-token'] = { ...active['user-token'], scopes: undefined };
    await expectRefusal(txnRequest('workload'), 'invalid_request', 'the subject_token states no scope, so the Txn-Token\'s scope cannot be kept within it');
  });

  it('refuses a scope beyond the subject token\'s, or beyond the workload\'s allowed_scopes, with invalid_scope', async () => {
    const body = await expectRefusal(txnRequest('workload', { scope: 'trade:options' }), 'invalid_scope', 'scope "trade:options" is not within the subject token\'s scope and what this client may have');
    expect(body.scope).toBe('trade:options');
    await expectRefusal(txnRequest('gateway', { scope: 'audit:read' }), 'invalid_scope', 'scope "audit:read" is not within the subject token\'s scope and what this client may have');
  });

  it('refuses an expired subject token', async () => {
    active['user-token'] = { ...active['user-token'], expiresAt: now() - 1 };
    await expectRefusal(txnRequest('workload'), 'invalid_request', 'subject_token has expired');
  });
});
