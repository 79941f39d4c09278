// An MCP server protected by agentauth: the MCP TypeScript SDK for the protocol, agentauth's verifier for the
// tokens. Every request needs `notes:read`; the `write_note` tool asks for `notes:write` too, through the SDK's
// per-tool scope challenge (an MCP client answers the 403 by stepping up). `pay_invoice` needs a person's
// approval: a DPoP-bound token whose approved `agent_action` names exactly this call, accepted once.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type Request, type Response } from 'express';
import { McpServer, requireScopes } from '@modelcontextprotocol/server';
import { NodeStreamableHTTPServerTransport } from '@modelcontextprotocol/node';
import { z } from 'zod';
import { VerifierError, createVerifier, expressAuth, mcpToolCall, type Verifier } from '../../packages/verifier/src/index.ts';

export interface ExampleOptions {
  /** The agentauth issuer, e.g. http://localhost:3000. */
  issuer: string;
  /** This server's resource identifier, registered at agentauth (`POST /admin/resources`). */
  resource: string;
  /** The resource's metadata URL (`resource_metadata_url` in the admin API's answer). */
  resourceMetadataUrl: string;
}

/** The notes the tools read and write; one list for the whole process, as a demo. */
const notes: string[] = ['welcome to the agentauth example'];

function mcpServer(): McpServer {
  const server = new McpServer({ name: 'agentauth-example', version: '1.0.0' });
  server.registerTool('read_notes', {
    description: 'Lists the notes',
    scopeChallenge: requireScopes('notes:read'),
  }, async () => ({ content: [{ type: 'text', text: notes.join('\n') }] }));
  server.registerTool('write_note', {
    description: 'Adds a note',
    inputSchema: z.object({ text: z.string().min(1).max(1000) }),
    // The complete set the call needs, so a client steps up once and keeps what it had (MCP step-up).
    scopeChallenge: requireScopes('notes:read', 'notes:write'),
  }, async ({ text }) => {
    notes.push(text);
    return { content: [{ type: 'text', text: `saved note ${notes.length}` }] };
  });
  // Its gate is at the HTTP layer (approvalGate), where the DPoP proof and the challenge live.
  server.registerTool(PAY_INVOICE, {
    description: 'Pays an invoice; needs the owner\'s approval of exactly this call (agentauth CIBA, agent_action)',
    inputSchema: z.object({ invoice: z.string().min(1).max(64), amount: z.string().regex(/^\d{1,9}\.\d{2}$/), creditor: z.string().min(1).max(128) }),
  }, async ({ invoice, amount, creditor }) => ({ content: [{ type: 'text', text: `paid invoice ${invoice}: ${amount} to ${creditor}` }] }));
  return server;
}

const PAY_INVOICE = 'pay_invoice';

/** The arguments of a `tools/call` of `pay_invoice` in this JSON-RPC body, or undefined when it is none. */
function payInvoiceCall(body: unknown): { arguments?: Record<string, unknown> } | undefined {
  const messages = Array.isArray(body) ? body : [body];
  const call = messages.find((message) => message?.method === 'tools/call' && message?.params?.name === PAY_INVOICE);
  return call ? (call.params as { arguments?: Record<string, unknown> }) : undefined;
}

export function exampleApp(options: ExampleOptions, verifier: Verifier = createVerifier(options)) {
  const app = express();
  // RFC 9728 §3.1: a client that knows only the resource looks for its metadata at the path-suffixed well-known URL
  // of the resource's own origin. agentauth publishes the document; this serves the same one here too.
  app.get(`/.well-known/oauth-protected-resource${new URL(options.resource).pathname}`, async (_req: Request, res: Response) => {
    const published = await fetch(options.resourceMetadataUrl).catch(() => undefined);
    if (!published?.ok) return void res.status(502).json({ error: 'temporarily_unavailable', error_description: 'the authorization server did not serve this resource\'s metadata' });
    res.set('cache-control', 'public, max-age=300').json(await published.json());
  });
  // Keep the raw bytes: a DPoP proof's content_digest is computed over them.
  app.use(express.json({ verify: (req, _res, buffer) => { (req as { rawBody?: Buffer }).rawBody = buffer; } }));
  const notesAuth = expressAuth(verifier, { scopes: ['notes:read'] });
  // pay_invoice calls go through verifyAction instead of the general check (which would spend the DPoP proof).
  const approvalGate = async (req: Request, res: Response, next: (error?: unknown) => void) => {
    const call = payInvoiceCall(req.body);
    if (!call) return notesAuth(req, res, next);
    // One approval covers one call: a batch cannot smuggle a second one under it.
    if (Array.isArray(req.body)) return void res.status(400).json({ error: 'invalid_request', error_description: 'pay_invoice cannot be called in a JSON-RPC batch' });
    const request = {
      method: req.method,
      url: new URL(req.originalUrl, new URL(options.resource).origin).href,
      headers: req.headersDistinct,
      body: (req as { rawBody?: Buffer }).rawBody,
    };
    try {
      (req as { auth?: unknown }).auth = await verifier.verifyAction(request, mcpToolCall(PAY_INVOICE, call.arguments), { scopes: ['notes:read'] });
    } catch (error) {
      if (!(error instanceof VerifierError)) return next(error);
      const challenge = verifier.challenge(error);
      return void res.status(challenge.status).set(challenge.headers).send(challenge.body);
    }
    next();
  };
  app.post('/mcp', approvalGate, async (req: Request, res: Response) => {
    // Stateless: a server and a transport per request.
    const server = mcpServer();
    const transport = new NodeStreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on('close', () => { void transport.close(); void server.close(); });
    await server.connect(transport);
    await transport.handleRequest(req, res, req.body);
  });
  return app;
}

/** Listens on `port` (0: any) on loopback; `configure` receives the bound URL and returns the options. */
export async function startExample(port: number, configure: (url: string) => Promise<ExampleOptions> | ExampleOptions): Promise<{ url: string; server: Server }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  server.on('request', exampleApp(await configure(url)));
  return { url, server };
}
