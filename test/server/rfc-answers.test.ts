import { describe, expect, it } from 'vitest';
import { basicChallenge, correctedAnswer, type RefusalFacts } from '../../server/rfc-answers.ts';

const facts = (overrides: Partial<RefusalFacts>): RefusalFacts => ({
  status: 400, error: 'invalid_request', description: undefined, grantType: undefined, grantTypeAllowed: undefined, triedHeader: false, hasChallenge: false, ...overrides,
});

describe('correctedAnswer', () => {
  it('no client authentication is 401 invalid_client with a challenge carrying no error', () => {
    expect(correctedAnswer(facts({ description: 'no client authentication mechanism provided' })))
      .toMatchObject({ status: 401, error: 'invalid_client', challenge: {} });
  });

  it('a malformed Basic header is 401 invalid_client with the error in the challenge, only when the header was tried', () => {
    const description = 'invalid authorization header value format';
    expect(correctedAnswer(facts({ description, triedHeader: true })))
      .toMatchObject({ status: 401, error: 'invalid_client', challenge: { error: 'invalid_client' } });
    expect(correctedAnswer(facts({ description }))).toBeUndefined();
  });

  it('a grant type the authenticated client is not registered for is unauthorized_client', () => {
    expect(correctedAnswer(facts({ grantType: 'client_credentials', grantTypeAllowed: false })))
      .toEqual({ status: 400, error: 'unauthorized_client', description: 'this client is not registered for the grant type client_credentials' });
    expect(correctedAnswer(facts({ grantType: 'client_credentials', grantTypeAllowed: true }))).toBeUndefined();
    // Not authenticated: nothing is known about its grant types.
    expect(correctedAnswer(facts({ grantType: 'client_credentials' }))).toBeUndefined();
  });

  it('a 401 without a challenge gets one; one with a challenge, and other invalid_request answers, are left alone', () => {
    expect(correctedAnswer(facts({ status: 401, error: 'invalid_client', description: 'client authentication failed' })))
      .toMatchObject({ status: 401, error: 'invalid_client', challenge: { error: 'invalid_client', description: 'client authentication failed' } });
    expect(correctedAnswer(facts({ status: 401, error: 'invalid_client', hasChallenge: true }))).toBeUndefined();
    expect(correctedAnswer(facts({ description: 'client authentication must only be provided using one mechanism', triedHeader: true }))).toBeUndefined();
  });
});

describe('basicChallenge', () => {
  it('quotes the parameters (RFC 9110 §11.2)', () => {
    expect(basicChallenge('http://as.example', {})).toBe('Basic realm="http://as.example"');
    expect(basicChallenge('http://as.example', { error: 'invalid_client', description: 'a "quoted" \\ thing' }))
      .toBe('Basic realm="http://as.example", error="invalid_client", error_description="a \\"quoted\\" \\\\ thing"');
  });
});
