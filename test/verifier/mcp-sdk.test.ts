// The verifier inside a real MCP server built with the MCP TypeScript SDK, called by the SDK's own client:
// Bearer tokens through the SDK's bearer-auth hook (`requireBearerAuth` + `mcpTokenVerifier`), DPoP-bound tokens
// through `expressAuth` in front of the SDK's Streamable HTTP transport, signed by the SDK client's `withDpop`.
// Imported through the package entry points (`@agentauth/verifier`, `@agentauth/verifier/mcp-sdk`), as MCP server
// authors will, which also checks the package.json exports map.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import express, { type RequestHandler } from 'express';
import * as oidc from 'openid-client';
import { McpServer } from '@modelcontextprotocol/server';
import { NodeStreamableHTTPServerTransport } from '@modelcontextprotocol/node';
import { requireBearerAuth } from '@modelcontextprotocol/express';
import { Client, DpopSession, StreamableHTTPClientTransport, generateDpopKeyPair, withDpop } from '@modelcontextprotocol/client';
import { createVerifier, expressAuth, type Verifier } from '@agentauth/verifier';
import { mcpTokenVerifier } from '@agentauth/verifier/mcp-sdk';
import { createResource } from '../support/admin.ts';
import { startAuthorizationServer, type Agent, type AuthorizationServer } from './authorization-server.ts';

/** A stateless MCP endpoint whose one tool answers with the AuthInfo the SDK handed it. */
const mcpEndpoint: RequestHandler = async (req, res) => {
  const server = new McpServer({ name: 'whoami', version: '1.0.0' });
  server.registerTool('whoami', { description: 'who is calling' }, (ctx) => ({
    content: [{ type: 'text', text: JSON.stringify(ctx.http?.authInfo ?? null) }],
  }));
  const transport = new NodeStreamableHTTPServerTransport({ sessionIdGenerator: undefined });
  await server.connect(transport);
  await transport.handleRequest(req, res, req.body);
};

/** Starts `app`, registers its /mcp URL as a resource at the authorization server, and builds its verifier. */
async function mcpServer(as: AuthorizationServer, app: (verifier: () => Verifier) => express.Express) {
  let verifier: Verifier | undefined;
  const server: Server = createServer(app(() => verifier!));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const resource = `${origin}/mcp`;
  const resourceMetadataUrl = `${origin}/.well-known/oauth-protected-resource/mcp`;
  await createResource(as.server, { identifier: resource, scopes: ['files:read'], token_format: 'jwt' });
  verifier = createVerifier({ issuer: as.issuer, resource, resourceMetadataUrl });
  return { server, resource, resourceMetadataUrl };
}

async function whoami(client: Client): Promise<Record<string, unknown>> {
  const result = await client.callTool({ name: 'whoami' });
  return JSON.parse((result.content as { type: 'text'; text: string }[])[0].text) as Record<string, unknown>;
}

describe('the MCP TypeScript SDK', () => {
  let as: AuthorizationServer;
  let agent: Agent;
  const servers: Server[] = [];

  beforeAll(async () => {
    as = await startAuthorizationServer('verifier-mcp-sdk', []);
    agent = await as.agent('mcp-client');
  });
  afterAll(async () => {
    for (const server of servers) server.close();
    await as?.stop();
  });

  describe('bearer-auth hook: requireBearerAuth({ verifier: mcpTokenVerifier(verifier) })', () => {
    let endpoint: Awaited<ReturnType<typeof mcpServer>>;

    beforeAll(async () => {
      endpoint = await mcpServer(as, (verifier) => {
        const app = express();
        app.post('/mcp', (req, res, next) => requireBearerAuth({
          verifier: mcpTokenVerifier(verifier()), resourceMetadataUrl: endpoint.resourceMetadataUrl, expectedResource: new URL(endpoint.resource),
        })(req, res, next), express.json(), mcpEndpoint);
        return app;
      });
      servers.push(endpoint.server);
    });

    it('hands the tool exactly the AuthInfo the SDK defines, with sub and act in extra', async () => {
      const token = await as.token(agent, { scope: 'files:read', resource: endpoint.resource });
      const client = new Client({ name: 'test', version: '1.0.0' });
      await client.connect(new StreamableHTTPClientTransport(new URL(endpoint.resource), { authProvider: { token: async () => token } }));
      try {
        const info = await whoami(client);
        expect(Object.keys(info).sort()).toEqual(['clientId', 'expiresAt', 'extra', 'resource', 'resourceMetadataUrl', 'scopes', 'token']);
        expect(info).toMatchObject({
          token, clientId: agent.id, scopes: ['files:read'], resource: endpoint.resource, resourceMetadataUrl: endpoint.resourceMetadataUrl,
          extra: { sub: agent.id, claims: { sub: agent.id, aud: [endpoint.resource] } },
        });
      } finally {
        await client.close();
      }
    });

    it('refuses a DPoP-bound token there: the hook sees no proof (RFC 9449 §7.2)', async () => {
      const keyPair = await generateDpopKeyPair();
      const bound = (await oidc.clientCredentialsGrant(agent.config, { scope: 'files:read', resource: endpoint.resource }, {
        DPoP: oidc.getDPoPHandle(agent.config, keyPair),
      })).access_token;
      const response = await fetch(endpoint.resource, {
        method: 'POST', headers: { authorization: `Bearer ${bound}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: '{}',
      });
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toContain('error="invalid_token", error_description="DPoP-bound access token presented with the Bearer scheme"');
      expect(response.headers.get('www-authenticate')).toContain(`resource_metadata="${endpoint.resourceMetadataUrl}"`);
    });
  });

  describe('DPoP: expressAuth in front of the SDK transport, the SDK client signing with withDpop', () => {
    let endpoint: Awaited<ReturnType<typeof mcpServer>>;

    beforeAll(async () => {
      endpoint = await mcpServer(as, (verifier) => {
        const app = express();
        app.post('/mcp', express.json({ verify: (req, _res, buf) => { (req as { rawBody?: Buffer }).rawBody = buf; } }),
          (req, res, next) => expressAuth(verifier(), { scopes: ['files:read'] })(req, res, next), mcpEndpoint);
        return app;
      });
      servers.push(endpoint.server);
    });

    it('the tool sees the DPoP-bound caller, its key thumbprint and its act chain', async () => {
      const keyPair = await generateDpopKeyPair();
      const session = await DpopSession.create({ keyPair });
      const subject = await as.token(agent, { scope: 'files:read', resource: endpoint.resource });
      const actor = await as.agent('actor');
      // The actor exchanges the agent's token for one bound to the session's key.
      const delegated = (await oidc.genericGrantRequest(actor.config, 'urn:ietf:params:oauth:grant-type:token-exchange', {
        subject_token: subject, subject_token_type: 'urn:ietf:params:oauth:token-type:access_token', resource: endpoint.resource,
      }, { DPoP: oidc.getDPoPHandle(actor.config, keyPair) })).access_token;

      const client = new Client({ name: 'test', version: '1.0.0' });
      await client.connect(new StreamableHTTPClientTransport(new URL(endpoint.resource), { fetch: withDpop(session, () => delegated)(fetch) }));
      try {
        const info = await whoami(client);
        expect(info).toMatchObject({
          clientId: actor.id, scopes: ['files:read'],
          extra: { sub: agent.id, act: { sub: actor.id }, dpopJkt: session.thumbprint },
        });
      } finally {
        await client.close();
      }
    });

    it('a client without credentials gets the challenge it needs to discover the authorization server', async () => {
      const client = new Client({ name: 'test', version: '1.0.0' });
      const failed = await client.connect(new StreamableHTTPClientTransport(new URL(endpoint.resource))).then(() => undefined, (error: unknown) => error);
      expect(failed).toBeDefined();
      const response = await fetch(endpoint.resource, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toBe(
        `Bearer scope="files:read", resource_metadata="${endpoint.resourceMetadataUrl}", DPoP scope="files:read", resource_metadata="${endpoint.resourceMetadataUrl}", `
        + 'algs="ES256 EdDSA Ed25519 PS256 RS256"',
      );
    });
  });
});
