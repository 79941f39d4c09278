import { describe, expect, it } from 'vitest';
import { anonymousRegistrationProblem, corsOriginAllowed, isOrigin, plainHttpRedirectProblem } from '../../server/client-policy.ts';

describe('anonymousRegistrationProblem', () => {
  const publicClient = { token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'refresh_token'], redirect_uris: ['http://127.0.0.1:3333/cb', 'http://localhost/cb', 'http://[::1]:9/cb', 'https://app.example/cb'] };

  it('accepts a public authorization-code client with loopback or https redirects', () => {
    expect(anonymousRegistrationProblem(publicClient)).toBeUndefined();
  });
  it.each([
    [{ ...publicClient, token_endpoint_auth_method: 'client_secret_basic' }, /public clients/],
    [{ ...publicClient, token_endpoint_auth_method: undefined }, /public clients/],
    [{ ...publicClient, grant_types: ['client_credentials'] }, /client_credentials/],
    [{ ...publicClient, redirect_uris: ['http://app.example/cb'] }, /https or be a loopback/],
    [{ ...publicClient, redirect_uris: ['com.example.app:/cb'] }, /https or be a loopback/],
    [{ ...publicClient, redirect_uris: ['not a url'] }, /https or be a loopback/],
  ])('refuses %j', (metadata, reason) => {
    expect(anonymousRegistrationProblem(metadata)).toMatch(reason);
  });
});

describe('CORS', () => {
  it('recognises origins', () => {
    expect(isOrigin('https://app.example')).toBe(true);
    expect(isOrigin('http://localhost:5173')).toBe(true);
    expect(isOrigin('https://app.example/')).toBe(false);
    expect(isOrigin('https://app.example/path')).toBe(false);
    expect(isOrigin(42)).toBe(false);
  });

  it('allows listed origins, and redirect origins for public clients only', () => {
    expect(corsOriginAllowed('https://a.example', { allowedCorsOrigins: ['https://a.example'], isPublic: false })).toBe(true);
    expect(corsOriginAllowed('https://spa.example', { redirectUris: ['https://spa.example/cb'], isPublic: true })).toBe(true);
    expect(corsOriginAllowed('https://spa.example', { redirectUris: ['https://spa.example/cb'], isPublic: false })).toBe(false);
    expect(corsOriginAllowed('https://evil.example', { redirectUris: ['https://spa.example/cb'], isPublic: true })).toBe(false);
  });
});

describe('plainHttpRedirectProblem (RFC 9700 §2.6)', () => {
  it('allows https, loopback http and private-use schemes', () => {
    expect(plainHttpRedirectProblem(['https://app.example/cb', 'http://127.0.0.1:9/cb', 'http://localhost/cb', 'http://[::1]/cb', 'com.example.app:/cb'])).toBeUndefined();
    expect(plainHttpRedirectProblem(undefined)).toBeUndefined();
    expect(plainHttpRedirectProblem('http://app.example/cb')).toBeUndefined(); // not a list: the schema refuses it
  });
  it('refuses any other plain-http redirect', () => {
    expect(plainHttpRedirectProblem(['https://app.example/cb', 'http://app.example/cb'])).toMatch(/"http:\/\/app\.example\/cb" uses plain http/);
    expect(plainHttpRedirectProblem(['http://127.0.0.1.evil.example/cb'])).toMatch(/plain http/);
  });
});
