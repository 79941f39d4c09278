// The two servers bench/token-endpoint.ts and bench/profile.ts compare: ours and vanilla oidc-provider
// (bench/vanilla-provider.ts), each with the same resource and the same dynamically registered client.
import { randomBytes } from 'node:crypto';
import { basicAuth, startProcess, type Target } from './harness.ts';

export const RESOURCE = 'https://api.bench.test/';
const ADMIN_TOKEN = randomBytes(32).toString('base64url');
const adminHeaders = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };

/** `env`: more for the process (NODE_OPTIONS, say). */
export async function startOurs(mode: string, storageEnv: Record<string, string>, env: Record<string, string> = {}): Promise<Target> {
  // The per-client request limit (6000/60 by default) would throttle the one benchmark client within seconds and
  // measure 429s; vanilla has no such limit, so it is off here.
  const server = await startProcess('../server/main.ts', { PORT: '0', ADMIN_TOKEN, RATE_LIMIT_CLIENT_REQUESTS: 'off', ...storageEnv, ...env });
  await fetch(`${server.url}/admin/resources`, {
    method: 'POST', headers: adminHeaders, body: JSON.stringify({ identifier: RESOURCE, scopes: ['read', 'write'], token_format: 'jwt', access_token_ttl: 600 }),
  });
  return { name: `ours (${mode})`, url: server.url, pid: server.pid, basic: await registerClient(server.url), agentBasic: await createAgent(server.url), stop: server.stop };
}

export async function startVanilla(mode: string, storageEnv: Record<string, string>, env: Record<string, string> = {}): Promise<Target> {
  const server = await startProcess('./vanilla-provider.ts', { BENCH_STORAGE: mode, BENCH_ADMIN_TOKEN: ADMIN_TOKEN, BENCH_RESOURCE: RESOURCE, ...storageEnv, ...env });
  return { name: `vanilla (${mode})`, url: server.url, pid: server.pid, basic: await registerClient(server.url), stop: server.stop };
}

/** The same dynamic registration (RFC 7591, initial access token) at both servers, so they load the same client. */
async function registerClient(url: string): Promise<string> {
  const response = await fetch(`${url}/reg`, {
    method: 'POST', headers: adminHeaders, body: JSON.stringify({ grant_types: ['client_credentials'], response_types: [], redirect_uris: [] }),
  });
  if (response.status !== 201) throw new Error(`registration at ${url} failed: ${response.status} ${await response.text()}`);
  const { client_id: id, client_secret: secret } = await response.json() as { client_id: string; client_secret: string };
  return basicAuth(id, secret);
}

/** An agent with a client secret, its owner, scope patterns and the benchmark resource: the agent path of ours. */
async function createAgent(url: string): Promise<string> {
  const owner = await fetch(`${url}/admin/users`, { method: 'POST', headers: adminHeaders, body: JSON.stringify({ username: 'bench-owner', password: randomBytes(16).toString('base64url') }) });
  if (owner.status !== 201) throw new Error(`creating the agent's owner at ${url} failed: ${owner.status} ${await owner.text()}`);
  const { id: ownerId } = await owner.json() as { id: string };
  const agent = await fetch(`${url}/admin/agents`, {
    method: 'POST', headers: adminHeaders,
    body: JSON.stringify({ name: 'bench-agent', owner: ownerId, scopes: ['read', 'write'], default_scopes: ['read'], resources: [RESOURCE], token_endpoint_auth_method: 'client_secret_basic' }),
  });
  if (agent.status !== 201) throw new Error(`creating the agent at ${url} failed: ${agent.status} ${await agent.text()}`);
  const { id, client_secret: secret } = await agent.json() as { id: string; client_secret: string };
  return basicAuth(id, secret);
}
