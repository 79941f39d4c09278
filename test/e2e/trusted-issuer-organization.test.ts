// Issue 18: a trusted issuer's subjects may belong to an organization (TRUSTED_ISSUERS `org_id`): a token exchanged
// for one of them is that organization's (`org_id`), only its clients (or those it allows to act) may exchange it,
// and only for its resources. A trusted issuer without one leaves its subjects to the client's organization. Over
// HTTP with openid-client, on both storage modes.
import * as oidc from 'openid-client';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminRequest, createResource, createUser } from '../support/admin.ts';
import { createKeyAgent, startExternalIssuer, type ExternalIssuer, type KeyAgent } from '../support/delegation.ts';
import { STORAGE_MODES, startTestServer, type TestServer } from '../support/server.ts';

const TE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const JWT = 'urn:ietf:params:oauth:token-type:jwt';
const ACME_IDP = 'https://idp.acme.test';
const OPEN_IDP = 'https://idp.open.test';
const AUDIENCE = 'https://as.example.test';
const ACME_FILES = 'https://files.acme.test/';
const DEFAULT_FILES = 'https://files.default.test/';

describe.each(STORAGE_MODES)('a trusted issuer\'s organization (%s)', (mode) => {
  let server: TestServer;
  let idp: ExternalIssuer;
  let acmeAgent: KeyAgent;
  let defaultAgent: KeyAgent;

  beforeAll(async () => {
    idp = await startExternalIssuer();
    server = await startTestServer(mode, `e2e-issuer-org-${mode}`, {
      TRUSTED_ISSUERS: JSON.stringify([
        { issuer: ACME_IDP, jwks_uri: idp.jwksUrl, audiences: [AUDIENCE], subject_prefix: 'acme-idp:', org_id: 'acme' },
        { issuer: OPEN_IDP, jwks_uri: idp.jwksUrl, audiences: [AUDIENCE], subject_prefix: 'open-idp:' },
      ]),
    });
    expect((await adminRequest(server, 'POST', '/admin/organizations', { id: 'acme', name: 'Acme' })).status).toBe(201);
    const acmeOwner = await (await adminRequest(server, 'POST', '/admin/users', { username: 'ada', password: 'correct horse battery staple', org_id: 'acme' })).json() as { id: string };
    const defaultOwner = await createUser(server, 'dora', 'correct horse battery staple');
    await createResource(server, { identifier: ACME_FILES, scopes: ['acme:read'], token_format: 'jwt', org_id: 'acme' });
    await createResource(server, { identifier: DEFAULT_FILES, scopes: ['files:read'], token_format: 'jwt' });
    acmeAgent = await createKeyAgent(server, acmeOwner.id, { name: 'acme-agent', scopes: ['acme:*', 'files:*'], default_scopes: [], org_id: 'acme' });
    defaultAgent = await createKeyAgent(server, defaultOwner.id, { name: 'default-agent', scopes: ['acme:*', 'files:*'], default_scopes: [] });
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
    idp?.close();
  });

  const subjectToken = (iss: string, scope: string) =>
    idp.sign({ iss, sub: 'bob', aud: AUDIENCE, scope, exp: Math.floor(Date.now() / 1000) + 300 });

  const exchange = async (agent: KeyAgent, token: string, resource: string) =>
    oidc.genericGrantRequest(agent.config, TE, { subject_token: token, subject_token_type: JWT, resource });

  async function refusal(promise: Promise<unknown>): Promise<{ error: string; description: string }> {
    const error = await promise.then(() => undefined, (caught: unknown) => caught as oidc.ResponseBodyError);
    expect(error, 'the exchange should have been refused').toBeInstanceOf(oidc.ResponseBodyError);
    return { error: error!.error, description: error!.error_description ?? '' };
  }

  it('issues a token for the issuer\'s subject under the issuer\'s organization, to a client of it', async () => {
    const exchanged = await exchange(acmeAgent, await subjectToken(ACME_IDP, 'acme:read'), ACME_FILES);
    expect(decodeJwt(exchanged.access_token)).toMatchObject({ sub: 'acme-idp:bob', aud: ACME_FILES, org_id: 'acme', act: { sub: acmeAgent.id } });
  });

  it('refuses a client of another organization (invalid_request) and another organization\'s resource (invalid_target), issuing nothing', async () => {
    const before = server.issuedCount();
    expect(await refusal(exchange(defaultAgent, await subjectToken(ACME_IDP, 'acme:read'), ACME_FILES))).toEqual({
      error: 'invalid_request',
      description: 'subject_token belongs to another organization: organization "default" may not act for principals of organization "acme" (the operator has not allowed it)',
    });
    expect(await refusal(exchange(acmeAgent, await subjectToken(ACME_IDP, 'files:read'), DEFAULT_FILES))).toEqual({
      error: 'invalid_target',
      description: `resource "${DEFAULT_FILES}" belongs to organization "default", and the token would be for organization "acme"`,
    });
    expect(server.issuedCount()).toBe(before);
  });

  it('leaves the subjects of an issuer without an organization to the client\'s', async () => {
    const forDefault = await exchange(defaultAgent, await subjectToken(OPEN_IDP, 'files:read'), DEFAULT_FILES);
    expect(decodeJwt(forDefault.access_token)).toMatchObject({ sub: 'open-idp:bob', org_id: 'default' });
    const forAcme = await exchange(acmeAgent, await subjectToken(OPEN_IDP, 'acme:read'), ACME_FILES);
    expect(decodeJwt(forAcme.access_token)).toMatchObject({ sub: 'open-idp:bob', org_id: 'acme' });
  });
});
