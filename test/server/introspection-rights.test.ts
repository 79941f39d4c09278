import { describe, expect, it } from 'vitest';
import { introspectionRight, introspectionRightsProblem } from '../../server/introspection-rights.ts';

const API = 'https://api.example.test/';

describe('introspectionRight (RFC 7662 §4)', () => {
  const accessToken = { kind: 'AccessToken', clientId: 'app', aud: API };

  it('names the right that applies, in order: issued to the client, operator grant, served audience', () => {
    expect(introspectionRight({ clientId: 'app' }, accessToken)).toBe('issued_to_client');
    expect(introspectionRight({ clientId: 'gw', introspect_any_token: true }, accessToken)).toBe('introspects_any');
    expect(introspectionRight({ clientId: 'rs', served_resources: [API] }, accessToken)).toBe('serves_audience');
    expect(introspectionRight({ clientId: 'rs', served_resources: [API] }, { ...accessToken, aud: ['https://x.test/', API] })).toBe('serves_audience');
  });

  it('grants nothing otherwise', () => {
    expect(introspectionRight({ clientId: 'machine' }, accessToken)).toBeUndefined();
    expect(introspectionRight({ clientId: 'rs', served_resources: ['https://other.test/'] }, accessToken)).toBeUndefined();
    expect(introspectionRight({ clientId: 'rs', served_resources: [API] }, { kind: 'ClientCredentials', clientId: 'x' })).toBeUndefined();
    // Only the boolean true counts, and a refresh token is never a resource server's business.
    expect(introspectionRight({ clientId: 'gw', introspect_any_token: 'true' }, accessToken)).toBeUndefined();
    expect(introspectionRight({ clientId: 'rs', served_resources: [API] }, { ...accessToken, kind: 'RefreshToken' })).toBeUndefined();
    expect(introspectionRight({ clientId: 'rs', served_resources: API }, accessToken)).toBeUndefined();
  });

  it('checks the metadata types', () => {
    expect(introspectionRightsProblem('served_resources', [API])).toBeUndefined();
    expect(introspectionRightsProblem('introspect_any_token', false)).toBeUndefined();
    expect(introspectionRightsProblem('served_resources', API)).toMatch(/served_resources/);
    expect(introspectionRightsProblem('served_resources', ['relative'])).toMatch(/served_resources/);
    expect(introspectionRightsProblem('introspect_any_token', 1)).toMatch(/introspect_any_token/);
    expect(introspectionRightsProblem('allowed_cors_origins', 'anything')).toBeUndefined();
  });
});
