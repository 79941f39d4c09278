import { describe, expect, it } from 'vitest';
import { parseTrustedIssuers, TrustedIssuerConfigError } from '../../config/trusted-issuers.ts';

const minimal = { issuer: 'https://accounts.example.com', jwks_uri: 'https://accounts.example.com/jwks', audiences: ['https://auth.local'], subject_prefix: '' };

function problem(value: unknown): TrustedIssuerConfigError {
  try {
    parseTrustedIssuers(JSON.stringify(value));
  } catch (error) {
    expect(error).toBeInstanceOf(TrustedIssuerConfigError);
    return error as TrustedIssuerConfigError;
  }
  throw new Error(`expected ${JSON.stringify(value)} to be refused`);
}

describe('parseTrustedIssuers', () => {
  it('fills in the documented defaults', () => {
    expect(parseTrustedIssuers(JSON.stringify([minimal]))).toEqual([{
      issuer: 'https://accounts.example.com',
      jwksUri: 'https://accounts.example.com/jwks',
      audiences: ['https://auth.local'],
      subjectClaim: 'sub',
      subjectPrefix: '',
      algorithms: ['RS256', 'PS256', 'ES256', 'EdDSA', 'Ed25519'],
      maxTokenAgeSeconds: undefined,
      scopeClaim: 'scope',
    }]);
  });

  it('reads every member', () => {
    const [config] = parseTrustedIssuers(JSON.stringify([{
      ...minimal, subject_claim: 'oid', subject_prefix: 'example:', algorithms: ['ES384', 'PS512'], max_token_age_seconds: 300, scope_claim: 'permissions',
    }]));
    expect(config).toMatchObject({ subjectClaim: 'oid', subjectPrefix: 'example:', algorithms: ['ES384', 'PS512'], maxTokenAgeSeconds: 300, scopeClaim: 'permissions' });
  });

  it('reads id_jag, its users mapping defaulting to external', () => {
    const [defaulted] = parseTrustedIssuers(JSON.stringify([{ ...minimal, id_jag: { clients: ['*'] } }]));
    expect(defaulted.idJag).toEqual({ clients: ['*'], maxAgeSeconds: 300, users: 'external' });
    for (const users of ['email', 'just_in_time']) {
      const [config] = parseTrustedIssuers(JSON.stringify([{ ...minimal, id_jag: { clients: ['c1'], max_age_seconds: 60, users } }]));
      expect(config.idJag).toEqual({ clients: ['c1'], maxAgeSeconds: 60, users });
    }
  });

  it('reads several issuers, and a blank value as none', () => {
    expect(parseTrustedIssuers(JSON.stringify([minimal, { ...minimal, issuer: 'https://other.example.com' }]))).toHaveLength(2);
    expect(parseTrustedIssuers('[]')).toEqual([]);
    expect(parseTrustedIssuers('  ')).toEqual([]);
  });

  it.each(['http://127.0.0.1:8080/jwks', 'http://127.8.9.10/jwks', 'http://localhost:3000/jwks', 'http://[::1]:3000/jwks'])('accepts plain http on loopback: %s', (uri) => {
    expect(parseTrustedIssuers(JSON.stringify([{ ...minimal, jwks_uri: uri }]))[0].jwksUri).toBe(uri);
  });

  it.each([
    ['not JSON', undefined, /^is not valid JSON/],
    ['{"issuer":"x"}', '', /^must be a JSON array/],
    ['[42]', '[0]', /^\[0\]: must be an object$/],
  ])('refuses the value %s', (json, path, message) => {
    const error = (() => { try { parseTrustedIssuers(json); } catch (e) { return e; } })() as TrustedIssuerConfigError;
    expect(error).toBeInstanceOf(TrustedIssuerConfigError);
    if (path !== undefined) expect(error.path).toBe(path);
    expect(error.message).toMatch(message);
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['a missing issuer', { issuer: undefined }, '[0].issuer: is required'],
    ['an empty issuer', { issuer: '' }, '[0].issuer: must be a non-empty string'],
    ['a missing jwks_uri', { jwks_uri: undefined }, '[0].jwks_uri: is required'],
    ['a jwks_uri that is not a URL', { jwks_uri: 'keys' }, '[0].jwks_uri: must be an https URL (or http on loopback)'],
    ['plain http off loopback', { jwks_uri: 'http://accounts.example.com/jwks' }, '[0].jwks_uri: must be an https URL (or http on loopback)'],
    ['http on a host merely named like loopback', { jwks_uri: 'http://127.0.0.1.example.com/jwks' }, '[0].jwks_uri: must be an https URL (or http on loopback)'],
    ['another scheme', { jwks_uri: 'file:///etc/jwks.json' }, '[0].jwks_uri: must be an https URL (or http on loopback)'],
    ['credentials in jwks_uri', { jwks_uri: 'https://user:secret@accounts.example.com/jwks' }, '[0].jwks_uri: must not contain a username or password'],
    ['missing audiences', { audiences: undefined }, '[0].audiences: is required (unless the issuer is trusted for ID-JAGs only, with id_jag)'],
    ['an empty id_jag client list', { id_jag: { clients: [] } }, '[0].id_jag.clients: must name at least one client_id (or "*")'],
    ['an ID-JAG age over an hour', { id_jag: { clients: ['*'], max_age_seconds: 7200 } }, '[0].id_jag.max_age_seconds: must be at most 3600: ID-JAGs are short-lived'],
    ['an unknown id_jag member', { id_jag: { clients: ['*'], link: 'email' } }, '[0].id_jag.link: is not a known member'],
    ['an unknown user mapping', { id_jag: { clients: ['*'], users: 'jit' } }, '[0].id_jag.users: must be one of "external", "email", "just_in_time"'],
    ['a string audiences', { audiences: 'https://auth.local' }, '[0].audiences: must be an array of strings'],
    ['empty audiences', { audiences: [] }, '[0].audiences: must name at least one audience'],
    ['an empty audience', { audiences: ['https://auth.local', ''] }, '[0].audiences[1]: must be a non-empty string'],
    ['an empty subject_claim', { subject_claim: '' }, '[0].subject_claim: must be a non-empty string'],
    ['a numeric subject_prefix', { subject_prefix: 7 }, '[0].subject_prefix: must be a string'],
    ['no subject_prefix', { subject_prefix: undefined }, '[0].subject_prefix: is required (use "" only if this issuer shares your user ids)'],
    ['empty algorithms', { algorithms: [] }, '[0].algorithms: must name at least one algorithm'],
    ['an unknown algorithm', { algorithms: ['RS256', 'RS1'] }, '[0].algorithms[1]: must be one of RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA, Ed25519'],
    ['a fractional max_token_age_seconds', { max_token_age_seconds: 1.5 }, '[0].max_token_age_seconds: must be a positive integer (seconds)'],
    ['a zero max_token_age_seconds', { max_token_age_seconds: 0 }, '[0].max_token_age_seconds: must be a positive integer (seconds)'],
    ['a string max_token_age_seconds', { max_token_age_seconds: '60' }, '[0].max_token_age_seconds: must be a positive integer (seconds)'],
    ['an empty scope_claim', { scope_claim: '' }, '[0].scope_claim: must be a non-empty string'],
    ['a misspelt member', { audience: 'x' }, '[0].audience: is not a known member'],
  ])('names the member for %s', (_, change, message) => {
    const error = problem([{ ...minimal, ...change }]);
    expect(error.message).toBe(message);
    expect(error.message).not.toContain('\n');
  });

  it.each(['HS256', 'HS384', 'HS512'])('refuses the symmetric algorithm %s', (alg) => {
    expect(problem([{ ...minimal, algorithms: ['ES256', alg] }]).message).toBe(
      `[0].algorithms[1]: "${alg}" is symmetric; only algorithms verifiable with the issuer's public keys are allowed`,
    );
  });

  it('refuses "none"', () => {
    expect(problem([{ ...minimal, algorithms: ['none'] }]).message).toBe('[0].algorithms[0]: "none" is not allowed: tokens must be signed');
  });

  it('refuses an issuer configured twice, naming the second', () => {
    const error = problem([minimal, { ...minimal, issuer: 'https://other.example.com' }, { ...minimal, audiences: ['elsewhere'] }]);
    expect(error.path).toBe('[2].issuer');
    expect(error.message).toBe('[2].issuer: duplicates [0].issuer');
  });

  it('reads an organization for the issuer\'s subjects, which needs a prefix that is not another organization\'s', () => {
    expect(parseTrustedIssuers(JSON.stringify([{ ...minimal, subject_prefix: 'acme:', org_id: 'acme' }]))[0]).toMatchObject({ orgId: 'acme', subjectPrefix: 'acme:' });
    expect(problem([{ ...minimal, org_id: 'acme' }]).message).toBe('[0].org_id: needs a non-empty subject_prefix, by which its subjects are told apart');
    expect(problem([{ ...minimal, subject_prefix: 'x:', org_id: 'Not Valid' }]).message).toMatch(/^\[0\]\.org_id: must be 1–63 lower-case letters/);
    const twice = [{ ...minimal, subject_prefix: 'p:', org_id: 'acme' }, { ...minimal, issuer: 'https://b.example.com', subject_prefix: 'p:' }];
    expect(problem(twice).message).toBe('[1].org_id: [0] has the same subject_prefix with another organization');
    // The same prefix for one organization (or for none) is not ambiguous.
    expect(parseTrustedIssuers(JSON.stringify([twice[0], { ...twice[1], org_id: 'acme' }]))).toHaveLength(2);
  });

  it('names the element when a later one is bad', () => {
    expect(problem([minimal, { ...minimal, issuer: 'https://b.example.com', jwks_uri: 'http://b.example.com/jwks' }]).message)
      .toBe('[1].jwks_uri: must be an https URL (or http on loopback)');
  });
});
