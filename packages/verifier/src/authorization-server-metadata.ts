// The authorization server's RFC 8414 metadata, fetched once and kept: where its signing keys (`jwks_uri`) and
// its introspection endpoint are, when the resource server was not told.
import { AuthorizationServerUnavailable } from './errors.ts';

export interface AuthorizationServerMetadata {
  issuer: string;
  jwks_uri?: string;
  introspection_endpoint?: string;
}

/** RFC 8414 §3.1: the well-known suffix goes between the host and any path of the issuer. */
export function metadataUrl(issuer: string): string {
  const url = new URL(issuer);
  const path = url.pathname === '/' ? '' : url.pathname;
  return `${url.origin}/.well-known/oauth-authorization-server${path}`;
}

/**
 * A loader that fetches the metadata on first use and then answers from memory. A failure is not kept, so the
 * next request tries again instead of failing until restart.
 */
export function authorizationServerMetadata(issuer: string, timeoutMs: number): () => Promise<AuthorizationServerMetadata> {
  let pending: Promise<AuthorizationServerMetadata> | undefined;
  return () => {
    pending ??= fetchMetadata(issuer, timeoutMs).catch((error: unknown) => {
      pending = undefined;
      throw error;
    });
    return pending;
  };
}

async function fetchMetadata(issuer: string, timeoutMs: number): Promise<AuthorizationServerMetadata> {
  const url = metadataUrl(issuer);
  let body: unknown;
  try {
    const response = await fetch(url, { headers: { accept: 'application/json' }, redirect: 'error', signal: AbortSignal.timeout(timeoutMs) });
    if (response.status !== 200) throw new Error(`HTTP ${response.status}`);
    body = await response.json();
  } catch (cause) {
    throw new AuthorizationServerUnavailable(`could not load the authorization server metadata from ${url}`, { cause });
  }
  const metadata = body as Partial<AuthorizationServerMetadata> | null;
  // RFC 8414 §3.3: the issuer in the document MUST be identical to the one the URL was built from, or an attacker
  // who can serve that document could point us at keys of its own.
  if (typeof metadata !== 'object' || metadata === null || metadata.issuer !== issuer) {
    throw new AuthorizationServerUnavailable(`the metadata at ${url} is not for issuer ${issuer}`);
  }
  return metadata as AuthorizationServerMetadata;
}
