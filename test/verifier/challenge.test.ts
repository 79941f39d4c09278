// The WWW-Authenticate grammar on its own: which challenge carries the error, parameter order, omitted empty
// parameters, RFC 9110 quoted-string escaping and RFC 6750's error_description character set.
import { describe, expect, it } from 'vitest';
import { buildChallenge, quotedString, rfc6750Text } from '../../packages/verifier/src/challenge.ts';
import { InsufficientScope, InvalidRequest, InvalidToken, MissingToken } from '../../packages/verifier/src/errors.ts';

const options = { resourceMetadataUrl: 'https://rs.example/.well-known/oauth-protected-resource', dpopAlgorithms: ['ES256', 'EdDSA'], bearer: true };
const M = 'resource_metadata="https://rs.example/.well-known/oauth-protected-resource"';

describe('buildChallenge', () => {
  it('no credentials: both challenges, scope but no error, empty body', () => {
    expect(buildChallenge(new MissingToken('no access token'), ['a', 'b', 'a'], options)).toEqual({
      status: 401,
      headers: { 'WWW-Authenticate': `Bearer scope="a b", ${M}, DPoP scope="a b", ${M}, algs="ES256 EdDSA"`, 'Cache-Control': 'no-store' },
      body: '',
    });
  });

  it('puts the error on the scheme the client used, or on every challenge when that is unknown', () => {
    const bearer = buildChallenge(new InvalidToken('expired', { scheme: 'Bearer' }), [], options);
    expect(bearer.headers['WWW-Authenticate']).toBe(`Bearer error="invalid_token", error_description="expired", ${M}, DPoP ${M}, algs="ES256 EdDSA"`);
    const dpop = buildChallenge(new InvalidToken('expired', { scheme: 'DPoP' }), [], options);
    expect(dpop.headers['WWW-Authenticate']).toBe(`Bearer ${M}, DPoP error="invalid_token", error_description="expired", ${M}, algs="ES256 EdDSA"`);
    const unknown = buildChallenge(new InvalidRequest('two headers'), [], options);
    expect(unknown.status).toBe(400);
    expect(unknown.headers['WWW-Authenticate']).toBe(
      `Bearer error="invalid_request", error_description="two headers", ${M}, DPoP error="invalid_request", error_description="two headers", ${M}, algs="ES256 EdDSA"`,
    );
  });

  it('offers only DPoP when Bearer is not accepted, and carries the error there', () => {
    const challenge = buildChallenge(new InvalidToken('DPoP only', { scheme: 'Bearer' }), ['x'], { ...options, bearer: false });
    expect(challenge.headers['WWW-Authenticate']).toBe(`DPoP error="invalid_token", error_description="DPoP only", scope="x", ${M}, algs="ES256 EdDSA"`);
  });

  it('insufficient_scope is a 403 with a JSON error body', () => {
    const challenge = buildChallenge(new InsufficientScope('more please', ['x'], { scheme: 'Bearer' }), ['x'], options);
    expect(challenge.status).toBe(403);
    expect(challenge.headers['Content-Type']).toBe('application/json');
    expect(JSON.parse(challenge.body)).toEqual({ error: 'insufficient_scope', error_description: 'more please' });
  });

  it('keeps error_description inside RFC 6750\'s character set, so the header can neither break nor need escapes', () => {
    const challenge = buildChallenge(new InvalidToken('say "hi"\\\r\nInjected: yes ✓', { scheme: 'Bearer' }), [], options);
    expect(challenge.headers['WWW-Authenticate']).toContain(`error_description="say 'hi'/??Injected: yes ?"`);
  });
});

describe('quoted-string and RFC 6750 text', () => {
  it('escapes quotes and backslashes (RFC 9110 §5.6.4)', () => {
    expect(quotedString('a"b\\c')).toBe('"a\\"b\\\\c"');
  });
  it('maps characters outside %x20-21 / %x23-5B / %x5D-7E', () => {
    expect(rfc6750Text('tab\there "q" back\\slash é')).toBe("tab?here 'q' back/slash ?");
  });
});
