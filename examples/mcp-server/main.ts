// `node examples/mcp-server/main.ts`: see README.md beside this file.
import { startExample } from './server.ts';

const issuer = process.env.AGENTAUTH_ISSUER ?? 'http://localhost:3000';
const { url } = await startExample(Number(process.env.PORT ?? 3001), (base) => ({
  issuer,
  resource: process.env.MCP_RESOURCE ?? `${base}/mcp`,
  resourceMetadataUrl: process.env.MCP_RESOURCE_METADATA_URL ?? `${issuer}/.well-known/oauth-protected-resource`,
}));
console.log(`example MCP server on ${url}/mcp (authorization server ${issuer})`);
