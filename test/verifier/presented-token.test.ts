// Reading the Authorization header: schemes, token68 syntax, and duplicates in both header shapes.
import { describe, expect, it } from 'vitest';
import { InvalidRequest } from '../../packages/verifier/src/errors.ts';
import { presentedToken } from '../../packages/verifier/src/presented-token.ts';

describe('presentedToken', () => {
  it('finds Bearer and DPoP tokens, schemes case-insensitive', () => {
    expect(presentedToken({ authorization: 'Bearer abc.def-ghi_~+/=' })).toEqual({ scheme: 'Bearer', token: 'abc.def-ghi_~+/=' });
    expect(presentedToken(new Headers({ Authorization: 'dpop xyz' }))).toEqual({ scheme: 'DPoP', token: 'xyz' });
  });

  it('treats no header and other schemes as no credentials (RFC 6750 §3.1)', () => {
    expect(presentedToken({})).toBeUndefined();
    expect(presentedToken({ authorization: 'Basic dXNlcjpwYXNz' })).toBeUndefined();
  });

  it.each([
    ['two fields (Node headersDistinct)', { authorization: ['Bearer a', 'Bearer b'] }],
    ['two fields joined by fetch Headers', (() => { const headers = new Headers(); headers.append('authorization', 'Bearer a'); headers.append('authorization', 'DPoP a'); return headers; })()],
    ['a token that is not token68', { authorization: 'Bearer a b' }],
    ['a scheme without a token', { authorization: 'Bearer' }],
  ])('refuses %s with invalid_request', (_label, headers) => {
    expect(() => presentedToken(headers)).toThrow(InvalidRequest);
  });
});
