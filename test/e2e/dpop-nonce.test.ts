// DPOP_REQUIRE_NONCE=true: RFC 9449 §8 server nonces, shared by every instance through the stored secret.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { generateKeyPair, generateProof } from 'dpop';
import { startTestServer, type TestServer } from '../support/server.ts';

describe('DPoP with required nonces', () => {
  let server: TestServer;
  beforeAll(async () => { server = await startTestServer('redis+postgres', 'dpop-nonce', { DPOP_REQUIRE_NONCE: 'true' }); });
  afterAll(() => server?.stop());

  it('answers a proof without a nonce with use_dpop_nonce and a DPoP-Nonce header; openid-client retries and succeeds', async () => {
    const registered = await oidc.dynamicClientRegistration(new URL(server.issuer), { grant_types: ['client_credentials'], response_types: [], redirect_uris: [] }, undefined, { execute: [oidc.allowInsecureRequests], initialAccessToken: server.adminToken });
    const metadata = registered.clientMetadata();
    const basic = `Basic ${Buffer.from(`${metadata.client_id}:${metadata.client_secret}`).toString('base64')}`;

    const keyPair = await generateKeyPair('ES256');
    const bare = await fetch(`${server.url}/token`, {
      method: 'POST', headers: { authorization: basic, dpop: await generateProof(keyPair, `${server.issuer}/token`, 'POST'), 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
    });
    expect(bare.status).toBe(400);
    expect((await bare.json() as any).error).toBe('use_dpop_nonce');
    const nonce = bare.headers.get('dpop-nonce');
    expect(nonce).toEqual(expect.any(String));

    const config = await oidc.discovery(new URL(server.issuer), metadata.client_id, metadata, oidc.ClientSecretBasic(metadata.client_secret as string), { execute: [oidc.allowInsecureRequests] });
    const tokens = await oidc.clientCredentialsGrant(config, {}, { DPoP: oidc.getDPoPHandle(config, await oidc.randomDPoPKeyPair('ES256')) });
    expect(tokens.token_type).toBe('dpop');
  });
});
