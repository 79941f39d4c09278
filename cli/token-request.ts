// An agent at the token endpoint, authenticated with private_key_jwt (RFC 7523 §2.2 client assertion, RFC 7521
// §4.2 parameters) signed by the key in its key file: its own token (client_credentials), or a token exchange.
import { randomUUID } from 'node:crypto';
import { importJWK, SignJWT, type JWK } from 'jose';
import { CliError } from './cli-error.ts';
import { fetchJson } from './fetch-json.ts';

/** Who asks: the agent of a key file, at a server. */
export interface AgentCredentials {
  server: string;
  agentId: string;
  privateJwk: JWK;
}

export interface AgentTokenRequest extends AgentCredentials {
  scope?: string;
  resources?: string[];
}

export interface TokenResponse {
  access_token: string;
  token_type: string;
  expires_in?: number;
  scope?: string;
  [member: string]: unknown;
}

/** Short on purpose: the assertion is good for exactly this one request (RFC 7523 §3 wants an exp). */
const ASSERTION_LIFETIME_SECONDS = 60;

export async function requestAgentToken(request: AgentTokenRequest): Promise<TokenResponse> {
  const form = new URLSearchParams({ grant_type: 'client_credentials' });
  if (request.scope) form.set('scope', request.scope);
  for (const resource of request.resources ?? []) form.append('resource', resource); // RFC 8707 allows several
  return requestAsAgent(request, form);
}

/** Sends `grant` (a token request form) to the server's token endpoint, authenticated as the agent. */
export async function requestAsAgent(agent: AgentCredentials, grant: URLSearchParams): Promise<TokenResponse> {
  const response = await postAsAgent(agent, 'token_endpoint', grant) as Partial<TokenResponse>;
  if (typeof response?.access_token !== 'string') throw new CliError('the token endpoint answered without an access_token');
  return response as TokenResponse;
}

export type AgentEndpoint = 'token_endpoint' | 'introspection_endpoint' | 'revocation_endpoint';

/** POSTs `form` to one of the server's endpoints (RFC 8414 metadata), authenticated as the agent. */
export async function postAsAgent(agent: AgentCredentials, endpoint: AgentEndpoint, form: URLSearchParams): Promise<unknown> {
  const { issuer, [endpoint]: url } = await discoverEndpoints(agent.server, endpoint);
  const key = await importJWK(agent.privateJwk, 'EdDSA');
  const assertion = await new SignJWT({})
    .setProtectedHeader({ alg: 'EdDSA', kid: agent.privateJwk.kid })
    .setIssuer(agent.agentId)
    .setSubject(agent.agentId)
    .setAudience(issuer)
    .setJti(randomUUID()) // the server refuses a replayed jti
    .setIssuedAt()
    .setExpirationTime(`${ASSERTION_LIFETIME_SECONDS}s`)
    .sign(key);

  const authenticated = new URLSearchParams(form);
  authenticated.set('client_assertion_type', 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
  authenticated.set('client_assertion', assertion);
  return fetchJson(url, { method: 'POST', body: authenticated });
}

/** RFC 8414 metadata: where to send the request and which issuer the assertion's audience must name. */
async function discoverEndpoints(server: string, endpoint: AgentEndpoint): Promise<{ issuer: string } & Record<AgentEndpoint, string>> {
  const url = `${server}/.well-known/oauth-authorization-server`;
  const metadata = await fetchJson(url) as Record<string, unknown> | null;
  if (typeof metadata?.issuer !== 'string' || typeof metadata[endpoint] !== 'string') {
    throw new CliError(`${url} does not name an issuer and a ${endpoint}`);
  }
  return metadata as { issuer: string } & Record<AgentEndpoint, string>;
}
