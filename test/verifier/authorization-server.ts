// A real agentauth authorization server for the verifier's tests, and the real tokens it issues: agents'
// client-credentials tokens (JWT or opaque, Bearer or DPoP-bound) and token-exchange chains with `act`.
import * as oidc from 'openid-client';
import { exportJWK, generateKeyPair } from 'jose';
import { generateKeyPair as generateDpopKeyPair, type KeyPair } from 'dpop';
import { adminRequest, createResource, createUser } from '../support/admin.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

const insecure = { execute: [oidc.allowInsecureRequests] };
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';

export interface Agent {
  id: string;
  config: oidc.Configuration;
}

export interface AuthorizationServer {
  server: TestServer;
  issuer: string;
  /** A resource server's own client credentials, for introspection. */
  resourceServerClient: { clientId: string; clientSecret: string };
  agent(name: string): Promise<Agent>;
  /** A client-credentials access token; DPoP-bound to `dpopKey` when given. */
  token(agent: Agent, params: { scope?: string; resource?: string }, dpopKey?: KeyPair): Promise<string>;
  /** `agent` exchanges `subjectToken` for a token for `resource`, becoming the current actor (RFC 8693). */
  exchange(agent: Agent, subjectToken: string, resource: string): Promise<string>;
  stop(): Promise<void>;
}

export type ResourceSpec = Parameters<typeof createResource>[1];

export async function startAuthorizationServer(label: string, resources: ResourceSpec[]): Promise<AuthorizationServer> {
  const server = await startTestServer('redis+postgres', label);
  const issuer = server.issuer;
  const owner = (await createUser(server, 'owner', 'correct horse battery staple')).id;
  for (const resource of resources) await createResource(server, resource);
  const registered = await oidc.dynamicClientRegistration(new URL(issuer), {
    grant_types: ['client_credentials'], response_types: [], redirect_uris: [], served_resources: resources.map((resource) => resource.identifier),
  }, undefined, {
    ...insecure, initialAccessToken: server.adminToken,
  });
  const { client_id: clientId, client_secret: clientSecret } = registered.clientMetadata();

  return {
    server,
    issuer,
    resourceServerClient: { clientId, clientSecret: clientSecret as string },
    async agent(name) {
      const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
      const response = await adminRequest(server, 'POST', '/admin/agents', { name, owner, scopes: ['files:**'], jwks: { keys: [await exportJWK(publicKey)] } });
      if (response.status !== 201) throw new Error(`creating agent failed: ${response.status} ${await response.text()}`);
      const { id } = (await response.json()) as { id: string };
      return { id, config: await oidc.discovery(new URL(issuer), id, undefined, oidc.PrivateKeyJwt(privateKey), insecure) };
    },
    async token(agent, params, dpopKey) {
      const options = dpopKey ? { DPoP: oidc.getDPoPHandle(agent.config, dpopKey) } : undefined;
      return (await oidc.clientCredentialsGrant(agent.config, params, options)).access_token;
    },
    async exchange(agent, subjectToken, resource) {
      const response = await oidc.genericGrantRequest(agent.config, TOKEN_EXCHANGE, { subject_token: subjectToken, subject_token_type: ACCESS_TOKEN, resource });
      return response.access_token;
    },
    stop: () => server.stop(),
  };
}

/** A DPoP key pair the `dpop` package signs proofs with (its public key must be extractable for the `jwk`). */
export function dpopKeyPair(): Promise<KeyPair> {
  return generateDpopKeyPair('ES256');
}
