// What the delegation suites (token exchange, transaction tokens) set up the same way: a trusted external issuer
// on loopback, a public app a user signs in to, a resource server that introspects, and agents with their keys.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as oidc from 'openid-client';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWTPayload } from 'jose';
import { adminRequest, type ServerUnderTest } from './admin.ts';
import { signInAndConsent } from './browser.ts';

export const insecure = { execute: [oidc.allowInsecureRequests] };

export interface ExternalIssuer {
  jwksUrl: string;
  /** Signs claims as the issuer (ES256, kid `partner-1`). */
  sign(claims: JWTPayload): Promise<string>;
  close(): void;
}

/** A trusted external issuer: its JWKS served on loopback, for TRUSTED_ISSUERS. */
export async function startExternalIssuer(): Promise<ExternalIssuer> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: 'partner-1', alg: 'ES256' };
  const server: Server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    jwksUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`,
    sign: (claims) => new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: 'partner-1' }).setIssuedAt().sign(privateKey),
    close: () => server.close(),
  };
}

/** A public client (anonymous registration) that users sign in to with authorization code + PKCE. */
export async function registerPublicApp(server: ServerUnderTest, redirectUri: string): Promise<oidc.Configuration> {
  const issuer = new URL(server.issuer);
  const registered = await oidc.dynamicClientRegistration(issuer, {
    redirect_uris: [redirectUri], token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'],
  }, oidc.None(), insecure);
  return oidc.discovery(issuer, registered.clientMetadata().client_id, registered.clientMetadata(), oidc.None(), insecure);
}

/** A resource server that introspects tokens: a confidential client the operator registered. */
export async function registerIntrospector(server: ServerUnderTest): Promise<{ config: oidc.Configuration; basic: string }> {
  const issuer = new URL(server.issuer);
  const rs = await oidc.dynamicClientRegistration(issuer, { grant_types: ['client_credentials'], response_types: [], redirect_uris: [], introspect_any_token: true }, undefined, {
    ...insecure, initialAccessToken: server.adminToken,
  });
  const { client_id: id, client_secret: secret } = rs.clientMetadata() as { client_id: string; client_secret: string };
  return {
    config: await oidc.discovery(issuer, id, undefined, oidc.ClientSecretBasic(secret), insecure),
    basic: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`,
  };
}

export interface KeyAgent {
  id: string;
  key: CryptoKey;
  config: oidc.Configuration;
}

/** An agent with an Ed25519 key (private_key_jwt), owned by `owner`; `body` adds or overrides admin API fields. */
export async function createKeyAgent(server: ServerUnderTest, owner: string, body: Record<string, unknown>): Promise<KeyAgent> {
  const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const response = await adminRequest(server, 'POST', '/admin/agents', {
    owner, scopes: ['files:**'], default_scopes: ['files:read'], jwks: { keys: [await exportJWK(publicKey)] }, ...body,
  });
  if (response.status !== 201) throw new Error(`creating an agent failed: ${response.status} ${await response.text()}`);
  const { id } = (await response.json()) as { id: string };
  return { id, key: privateKey, config: await oidc.discovery(new URL(server.issuer), id, undefined, oidc.PrivateKeyJwt(privateKey), insecure) };
}

/** A user's access token for `resource`, through the login and consent pages (authorization code + PKCE). */
export async function userAccessToken(
  app: oidc.Configuration, redirectUri: string, user: { username: string; password: string }, resource: string, scope: string,
): Promise<string> {
  const verifier = oidc.randomPKCECodeVerifier();
  const url = oidc.buildAuthorizationUrl(app, {
    redirect_uri: redirectUri, scope: `openid ${scope}`, resource, code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
  });
  const callback = await signInAndConsent(url, redirectUri, user);
  return (await oidc.authorizationCodeGrant(app, callback, { pkceCodeVerifier: verifier }, { resource })).access_token;
}
