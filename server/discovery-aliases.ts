// An issuer with a path (https://host/tenant) has its metadata at the path-inserted URLs RFC 8414 §3.1 defines,
// and MCP clients also try OpenID Connect Discovery's appended form. oidc-provider serves its discovery documents
// at /.well-known/…; these aliases lead every location a client tries to the same document.
import type { Context, Next } from 'koa';

const DOCUMENTS = ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration'];

/** Request paths that are aliases of the discovery documents, mapped to the document each names. */
export function discoveryAliases(issuer: string): Map<string, string> {
  const path = new URL(issuer).pathname.replace(/\/$/, '');
  const aliases = new Map<string, string>();
  if (!path) return aliases;
  for (const document of DOCUMENTS) {
    aliases.set(`${document}${path}`, document); // RFC 8414 §3.1 (and its OIDC equivalent): inserted
    aliases.set(`${path}${document}`, document); // OpenID Connect Discovery 1.0 §4: appended
  }
  return aliases;
}

export function serveDiscoveryAliases(issuer: string) {
  const aliases = discoveryAliases(issuer);
  return function discoveryAlias(ctx: Context, next: Next): Promise<void> {
    const document = aliases.size && ctx.method === 'GET' ? aliases.get(ctx.path) : undefined;
    if (document) ctx.path = document;
    return next();
  };
}
