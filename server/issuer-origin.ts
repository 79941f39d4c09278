// Every absolute URL the server writes (discovery metadata, redirects to the login page and back, the logout
// form, DPoP `htu` and client-assertion audiences it expects) comes from ISSUER, never from the request.
//
// oidc-provider builds URLs from Koa's `ctx.href`, which Koa builds from the Host header (or, with
// `app.proxy`, X-Forwarded-Host and X-Forwarded-Proto), or takes whole from an absolute-form request target
// (`GET http://evil.example/… HTTP/1.1`). A client that sends `Host: evil.example` would otherwise read
// endpoints on evil.example in the metadata and be redirected there after signing in (RFC 9700 §4.1 and §4.11
// on open redirection; a cached metadata document would poison every later client). Koa documents
// `app.request` as the prototype every `ctx.request` is made from, to be extended; we pin the request's
// origin there. The issuer's origin is the one URL that is true for every instance behind any load balancer,
// so forwarded host and protocol values are used only in as far as they match it: in effect never, because
// the issuer already says what they would. With TRUST_PROXY, X-Forwarded-For still names the client address.
import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';

/** Makes the request's host, protocol and URL those of `issuer`, for every request `app` serves. */
export function pinRequestOrigin(app: Provider, issuer: string): void {
  const origin = new URL(issuer);
  const protocol = origin.protocol.slice(0, -1);
  const onIssuer = (originalUrl: string | undefined): URL => {
    // An absolute-form target keeps only its path and query: its scheme and authority are the client's word.
    const target = new URL(originalUrl || '/', 'http://target.invalid');
    return new URL(`${target.pathname}${target.search}`, origin);
  };
  Object.defineProperties(app.request, {
    host: { configurable: true, get: () => origin.host },
    hostname: { configurable: true, get: () => origin.hostname },
    protocol: { configurable: true, get: () => protocol },
    href: { configurable: true, get(this: { originalUrl: string }) { return onIssuer(this.originalUrl).href; } },
    URL: { configurable: true, get(this: { originalUrl: string }) { return onIssuer(this.originalUrl); } },
  });
}

/**
 * How long clients and caches may keep what the server publishes, in seconds. Metadata changes only with the
 * configuration (a new resource, a feature switched on), so five minutes costs little. The JWKS is kept for
 * one minute: a key is published before anything is signed with it (`agentauth keys rotate` stages it), so
 * a short cache is never needed to see a new key, but a pruned key should leave caches soon after its removal;
 * verifiers that meet an unknown `kid` refetch at once regardless.
 */
export const publishedDocumentMaxAge = { metadata: 300, jwks: 60 } as const;

/** Sets Cache-Control on successful GETs of the discovery documents (and their aliases) and of the JWKS. */
export function publishedDocumentCaching(paths: { metadata: (path: string) => boolean; jwks: string }) {
  const metadata = `public, max-age=${publishedDocumentMaxAge.metadata}`;
  const jwks = `public, max-age=${publishedDocumentMaxAge.jwks}`;
  return function cachePublishedDocuments(ctx: Context, next: Next): Promise<void> {
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return next();
    const value = ctx.path === paths.jwks ? jwks : paths.metadata(ctx.path) ? metadata : undefined;
    if (!value) return next();
    return next().then(() => {
      if (ctx.status === 200) ctx.set('Cache-Control', value);
    });
  };
}
