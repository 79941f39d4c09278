// The scope rule of policy/scope-resolution.ts as a table: which resource a request naming scopes but no
// `resource` is for (RFC 9068 §3), and what a token response says of its scope (RFC 6749 §3.3, §5.1).
import { describe, expect, it } from 'vitest';
import { apiScopes, defaultResourceFor, namedResourceRefusal, responseScope, type ScopedResource } from '../../policy/scope-resolution.ts';

const FILES: ScopedResource = { identifier: 'https://files.example.test/', scopes: ['files:read', 'files:write', 'read'] };
const MAIL: ScopedResource = { identifier: 'https://mail.example.test/', scopes: ['mail:send', 'read'] };
const OIDC = ['openid', 'offline_access', 'profile', 'email'];

describe('apiScopes', () => {
  it('leaves out OpenID Connect scopes, empty strings and repeats, keeping request order', () => {
    expect(apiScopes(['openid', 'files:write', '', 'profile', 'files:read', 'files:write', 'offline_access'], OIDC)).toEqual(['files:write', 'files:read']);
  });

  it('is empty for an OpenID Connect request', () => {
    expect(apiScopes(['openid', 'email'], OIDC)).toEqual([]);
  });
});

describe('defaultResourceFor', () => {
  it.each([
    ['one resource defines every scope', ['files:read', 'files:write'], [FILES, MAIL], FILES.identifier],
    ['one resource defines the only scope', ['mail:send'], [FILES, MAIL], MAIL.identifier],
    ['candidates defining none of the scopes change nothing', ['mail:send'], [MAIL, { identifier: 'https://x.test/', scopes: ['x'] }], MAIL.identifier],
    ['no API scope: nothing to infer', [], [FILES, MAIL], undefined],
  ])('%s', (_label, scopes, candidates, expected) => {
    expect(defaultResourceFor(scopes, candidates)).toEqual({ resource: expected });
  });

  it('refuses a scope no registered resource defines with invalid_scope naming it', () => {
    expect(defaultResourceFor(['files:read', 'calendar:read'], [FILES, MAIL])).toEqual({
      refusal: {
        error: 'invalid_scope', rule: 'unknown_scope', scope: 'calendar:read',
        description: 'scope "calendar:read" is not defined by any registered resource',
      },
    });
    expect(defaultResourceFor(['anything'], [])).toMatchObject({ refusal: { rule: 'unknown_scope', scope: 'anything' } });
  });

  it('refuses scopes spread over two resources, naming both (RFC 9068 §3: invalid_scope)', () => {
    const decided = defaultResourceFor(['files:read', 'mail:send'], [MAIL, FILES]);
    expect(decided).toEqual({
      refusal: {
        error: 'invalid_scope', rule: 'ambiguous_resource',
        description: 'the requested scopes refer to more than one resource ("https://files.example.test/", "https://mail.example.test/"): send the resource parameter (RFC 8707) to say which',
      },
    });
  });

  it('refuses a scope two resources both define, naming only those', () => {
    const decided = defaultResourceFor(['read'], [FILES, MAIL, { identifier: 'https://x.test/', scopes: ['x'] }]);
    expect(decided).toMatchObject({ refusal: { rule: 'ambiguous_resource' } });
    expect((decided as { refusal: { description: string } }).refusal.description).toContain('("https://files.example.test/", "https://mail.example.test/")');
  });

  it('picks the one resource defining all scopes even when another defines some of them', () => {
    expect(defaultResourceFor(['read', 'files:read'], [FILES, MAIL])).toEqual({ resource: FILES.identifier });
  });
});

describe('namedResourceRefusal', () => {
  it('lets a request through when the named resource defines one of its scopes, or when it has no API scope', () => {
    expect(namedResourceRefusal(['files:read', 'mail:send'], FILES)).toBeUndefined();
    expect(namedResourceRefusal([], FILES)).toBeUndefined();
  });

  it('refuses a request whose API scopes the named resource defines none of', () => {
    expect(namedResourceRefusal(['mail:send', 'calendar:read'], FILES)).toEqual({
      error: 'invalid_scope', rule: 'unknown_scope', scope: 'mail:send calendar:read',
      description: 'resource "https://files.example.test/" defines none of the requested scopes (mail:send calendar:read)',
    });
  });
});

describe('responseScope', () => {
  it.each([
    ['the granted scope when it equals the request', ['a', 'b'], ['a', 'b'], 'a b'],
    ['the granted scope when narrower', ['a', 'b'], ['a'], 'a'],
    ['the granted scope when the request named none (defaults)', [], ['a'], 'a'],
    ['no scope when none was asked or granted', [], [], undefined],
  ])('is %s', (_label, requested, granted, expected) => {
    expect(responseScope(requested, granted)).toEqual({ scope: expected });
  });

  it('refuses a request for scopes that would get a token with none', () => {
    expect(responseScope(['openid'], [])).toEqual({ refusal: 'none of the requested scopes (openid) can be granted for this request' });
  });
});
