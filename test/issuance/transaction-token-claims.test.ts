// The pure parts of transaction tokens: the request profile, the claims of a new and of a replacement Txn-Token,
// and the operator's per-workload policy.
import { describe, expect, it } from 'vitest';
import {
  acceptedSubjectTypes, disabledSelfAssertedType, filterTransactionDetails, transactionTokenPolicy, withinPolicyScopes,
} from '../../policy/transaction-token-policy.ts';
import {
  REQUESTING_WORKLOAD_CHAIN, mergeContext, parseTransactionTokenRequest, transactionTokenClaims, type TransactionTokenInput,
} from '../../issuance/transaction-token-claims.ts';
import { TOKEN_TYPE } from '../../tokens/token-types.ts';

const TRUST_DOMAIN = 'trust-domain.example';
const limits = { trustDomain: TRUST_DOMAIN, maxContextBytes: 256 };
const valid = { audience: TRUST_DOMAIN, scope: 'trade.stocks' };

function refusal(run: () => unknown): { error: string; description: string } {
  try {
    run();
  } catch (error) {
    const { error: code, error_description: description } = error as { error: string; error_description: string };
    return { error: code, description };
  }
  throw new Error('expected a refusal');
}

describe('Txn-Token request', () => {
  it('parses the profile\'s parameters', () => {
    expect(parseTransactionTokenRequest({
      ...valid, scope: 'trade.stocks trade.stocks audit', request_context: '{"req_ip":"69.151.72.123"}', request_details: '{"action":"BUY","quantity":"100"}',
    }, limits)).toEqual({
      scopes: ['trade.stocks', 'audit'],
      requestContext: { req_ip: '69.151.72.123' },
      requestDetails: { action: 'BUY', quantity: '100' },
    });
    expect(parseTransactionTokenRequest(valid, limits)).toEqual({ scopes: ['trade.stocks'], requestContext: undefined, requestDetails: undefined });
  });

  it('audience is required and must be the trust domain, alone (invalid_target otherwise)', () => {
    expect(refusal(() => parseTransactionTokenRequest({ scope: 'a' }, limits))).toMatchObject({ error: 'invalid_request', description: expect.stringContaining("'audience'") });
    expect(refusal(() => parseTransactionTokenRequest({ ...valid, audience: 'https://other.example' }, limits))).toMatchObject({
      error: 'invalid_target', description: `audience must be this trust domain, "${TRUST_DOMAIN}"`,
    });
    expect(refusal(() => parseTransactionTokenRequest({ ...valid, audience: [TRUST_DOMAIN, 'other'] }, limits)).error).toBe('invalid_target');
    expect(parseTransactionTokenRequest({ ...valid, audience: [TRUST_DOMAIN, TRUST_DOMAIN] }, limits).scopes).toEqual(['trade.stocks']);
    expect(refusal(() => parseTransactionTokenRequest({ ...valid, resource: 'https://api.example/' }, limits))).toMatchObject({
      error: 'invalid_target', description: expect.stringContaining('resource must not be sent'),
    });
  });

  it('scope is required; actor_token is not part of the profile', () => {
    expect(refusal(() => parseTransactionTokenRequest({ audience: TRUST_DOMAIN }, limits))).toMatchObject({ error: 'invalid_request', description: expect.stringContaining("'scope'") });
    expect(refusal(() => parseTransactionTokenRequest({ ...valid, scope: '   ' }, limits)).error).toBe('invalid_request');
    expect(refusal(() => parseTransactionTokenRequest({ ...valid, actor_token: 'x' }, limits)).description).toContain('actor_token');
  });

  it.each([
    ['not JSON', '{"action":', 'request_details is not valid JSON'],
    ['an array', '["BUY"]', 'request_details must be a JSON object'],
    ['null', 'null', 'request_details must be a JSON object'],
    ['a string', '"BUY"', 'request_details must be a JSON object'],
    ['oversized', JSON.stringify({ padding: 'x'.repeat(300) }), 'request_details is larger than 256 bytes'],
  ])('refuses request_details that is %s', (_label, value, description) => {
    expect(refusal(() => parseTransactionTokenRequest({ ...valid, request_details: value }, limits))).toEqual({ error: 'invalid_request', description });
  });

  it('counts bytes, not characters, and keeps the TTS\'s own rctx member out of request_context', () => {
    expect(refusal(() => parseTransactionTokenRequest({ ...valid, request_context: JSON.stringify({ name: 'é'.repeat(130) }) }, limits)).description)
      .toBe('request_context is larger than 256 bytes');
    expect(refusal(() => parseTransactionTokenRequest({ ...valid, request_context: JSON.stringify({ [REQUESTING_WORKLOAD_CHAIN]: ['forged'] }) }, limits)))
      .toMatchObject({ error: 'invalid_request', description: expect.stringContaining(REQUESTING_WORKLOAD_CHAIN) });
  });
});

describe('Txn-Token claims', () => {
  const base: TransactionTokenInput = {
    issuer: 'https://as.example',
    trustDomain: TRUST_DOMAIN,
    workload: 'api-gateway',
    subject: { subject: 'alice', act: { sub: 'agent-b', act: { sub: 'agent-a' } } },
    scopes: ['trade.stocks'],
    orgId: 'acme',
    requestContext: { req_ip: '69.151.72.123' },
    transactionDetails: { action: 'BUY' },
    issuedAt: 1_000,
    expiresAt: 1_300,
    maxContextBytes: 256,
  };

  it('has exactly the draft\'s claims and the subject\'s organization, the subject\'s act chain, and a fresh txn each time', () => {
    const claims = transactionTokenClaims(base);
    expect(Object.keys(claims).sort()).toEqual(['act', 'aud', 'exp', 'iat', 'iss', 'org_id', 'rctx', 'req_wl', 'scope', 'sub', 'tctx', 'txn']);
    expect(claims).toMatchObject({
      iss: 'https://as.example', iat: 1_000, exp: 1_300, aud: TRUST_DOMAIN, sub: 'alice', scope: 'trade.stocks', req_wl: 'api-gateway', org_id: 'acme',
      rctx: { req_ip: '69.151.72.123' }, tctx: { action: 'BUY' }, act: { sub: 'agent-b', act: { sub: 'agent-a' } },
    });
    expect(claims.txn).toMatch(/^[0-9a-f-]{36}$/);
    expect(transactionTokenClaims(base).txn).not.toBe(claims.txn);
  });

  it('leaves out empty and absent context and act', () => {
    const claims = transactionTokenClaims({ ...base, subject: { subject: 'alice', act: undefined }, requestContext: undefined, transactionDetails: {} });
    expect(Object.keys(claims).sort()).toEqual(['aud', 'exp', 'iat', 'iss', 'org_id', 'req_wl', 'scope', 'sub', 'txn']);
  });

  it('a replacement keeps txn, sub and act, adds context, and records the call chain', () => {
    const transaction = { txn: 'txn-1', requestingWorkload: 'api-gateway', rctx: { req_ip: '69.151.72.123' }, tctx: { action: 'BUY' } };
    const replacement = transactionTokenClaims({
      ...base,
      workload: 'orders',
      subject: { subject: 'alice', act: { sub: 'agent-a' }, transaction },
      requestContext: { req_ip: '69.151.72.123', region: 'eu' },
      transactionDetails: { quantity: '100' },
    });
    expect(replacement).toMatchObject({
      txn: 'txn-1', sub: 'alice', aud: TRUST_DOMAIN, req_wl: 'orders', act: { sub: 'agent-a' },
      rctx: { req_ip: '69.151.72.123', region: 'eu', [REQUESTING_WORKLOAD_CHAIN]: ['api-gateway', 'orders'] },
      tctx: { action: 'BUY', quantity: '100' },
    });
    const again = transactionTokenClaims({ ...base, workload: 'billing', subject: { subject: 'alice', act: undefined, transaction: { ...transaction, txn: 'txn-1', requestingWorkload: 'orders', rctx: replacement.rctx } } });
    expect(again.rctx?.[REQUESTING_WORKLOAD_CHAIN]).toEqual(['api-gateway', 'orders', 'billing']);
  });

  it('a replacement may not change what the replaced token asserted', () => {
    const transaction = { txn: 'txn-1', requestingWorkload: 'gw', rctx: undefined, tctx: { action: 'BUY' } };
    expect(refusal(() => transactionTokenClaims({ ...base, subject: { subject: 'alice', act: undefined, transaction }, transactionDetails: { action: 'SELL' } })))
      .toEqual({ error: 'invalid_request', description: 'request_details may not change "action", which the Txn-Token being replaced asserts in tctx' });
  });

  it('refuses context that would grow beyond the cap', () => {
    const transaction = { txn: 'txn-1', requestingWorkload: 'gw', rctx: undefined, tctx: { a: 'x'.repeat(200) } };
    expect(refusal(() => transactionTokenClaims({ ...base, subject: { subject: 'alice', act: undefined, transaction }, transactionDetails: { b: 'y'.repeat(100) } })))
      .toEqual({ error: 'invalid_request', description: 'the Txn-Token\'s tctx would be larger than 256 bytes' });
  });

  it('mergeContext: the original wins, equal values may be repeated, __proto__ stays a plain member', () => {
    expect(mergeContext('request_details', 'tctx', undefined, { a: 1 })).toEqual({ a: 1 });
    expect(mergeContext('request_details', 'tctx', { a: 1 }, undefined)).toEqual({ a: 1 });
    expect(mergeContext('request_details', 'tctx', { a: { b: [1] } }, { a: { b: [1] }, c: 2 })).toEqual({ a: { b: [1] }, c: 2 });
    const merged = mergeContext('request_details', 'tctx', { a: 1 }, JSON.parse('{"__proto__":{"polluted":true}}'))!;
    expect(Object.getPrototypeOf(merged)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('transaction token policy', () => {
  it('validates the stored shape', () => {
    expect(transactionTokenPolicy.safeParse({}).success).toBe(true);
    expect(transactionTokenPolicy.safeParse({ subject_token_types: ['self_signed'], tctx_members: ['action'], allowed_scopes: ['trade.*:read', 'audit'] }).success).toBe(true);
    expect(transactionTokenPolicy.safeParse({ subject_token_types: ['refresh_token'] }).success).toBe(false);
    expect(transactionTokenPolicy.safeParse({ allowed_scopes: ['a:b:c'] }).success).toBe(false);
    expect(transactionTokenPolicy.safeParse({ bogus: true }).success).toBe(false);
  });

  it('self-asserted subject token types only where enabled; never ID or refresh tokens', () => {
    expect(acceptedSubjectTypes({})).toEqual([TOKEN_TYPE.accessToken, TOKEN_TYPE.jwt, TOKEN_TYPE.txnToken]);
    expect(acceptedSubjectTypes({ subject_token_types: ['unsigned_json'] })).toContain(TOKEN_TYPE.unsignedJson);
    expect(disabledSelfAssertedType({}, TOKEN_TYPE.selfSigned)).toBe('self_signed');
    expect(disabledSelfAssertedType({ subject_token_types: ['self_signed'] }, TOKEN_TYPE.selfSigned)).toBeUndefined();
    expect(disabledSelfAssertedType({}, TOKEN_TYPE.accessToken)).toBeUndefined();
  });

  it('filters request_details into tctx and bounds scopes', () => {
    expect(filterTransactionDetails({}, { action: 'BUY', card: '4111' })).toEqual({ action: 'BUY', card: '4111' });
    expect(filterTransactionDetails({ tctx_members: ['action'] }, { action: 'BUY', card: '4111' })).toEqual({ action: 'BUY' });
    expect(withinPolicyScopes({}, ['a', 'b'])).toEqual(['a', 'b']);
    expect(withinPolicyScopes({ allowed_scopes: ['trade:*'] }, ['trade:buy', 'admin:all'])).toEqual(['trade:buy']);
  });
});
