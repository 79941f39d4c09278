// The admin API as an operator's script would call it.
import type { TestServer } from './server.ts';

/** What these helpers need of a server: an in-process test server or a server process a test started. */
export type ServerUnderTest = Pick<TestServer, 'url' | 'issuer' | 'adminToken'>;

export async function adminRequest(server: ServerUnderTest, method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${server.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${server.adminToken}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

export async function createUser(server: ServerUnderTest, username: string, password: string): Promise<{ id: string; username: string }> {
  const response = await adminRequest(server, 'POST', '/admin/users', { username, password, email: `${username}@example.com`, name: username });
  if (response.status !== 201) throw new Error(`creating user failed: ${response.status} ${await response.text()}`);
  return response.json() as Promise<{ id: string; username: string }>;
}

export async function createResource(server: ServerUnderTest, resource: { identifier: string; scopes: string[]; token_format?: 'jwt' | 'opaque'; access_token_ttl?: number; signing_alg?: string; org_id?: string }): Promise<void> {
  const response = await adminRequest(server, 'POST', '/admin/resources', resource);
  if (response.status !== 201) throw new Error(`creating resource failed: ${response.status} ${await response.text()}`);
}
