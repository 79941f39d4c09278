// The outermost middleware: gives each request its id (X-Request-Id, and the log context every line written
// while handling it carries), times it, and once it is answered hands the same few facts to each observer
// (access log, metrics, tracing). Observers are plain objects rather than middleware of their own: one
// promise per request instead of one per concern.
import { randomUUID } from 'node:crypto';
import type { Context, Next } from 'koa';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { acceptedRequestId, requestContext, type RequestContext } from './request-context.ts';

export interface AnsweredRequest {
  /** The route template the router matched (`/reg/:clientId`), `unmatched` for a 404 nobody routed, else `other`. */
  route: string;
  status: number;
  milliseconds: number;
  /** On token endpoint requests: the grant type if the client may use it (so it is a supported one), else `other`. */
  grantType?: string;
  clientId?: string;
}

export interface RequestObserver {
  begin?(ctx: Context, request: RequestContext): void;
  end(ctx: Context, answered: AnsweredRequest, request: RequestContext): void;
}

export function observeRequests(observers: RequestObserver[]) {
  const beginners = observers.filter((observer) => observer.begin);
  return function observed(ctx: Context, next: Next): Promise<void> {
    const started = performance.now();
    const request: RequestContext = { requestId: acceptedRequestId(ctx.get('x-request-id')) ?? randomUUID() };
    ctx.state.requestId = request.requestId;
    ctx.set('X-Request-Id', request.requestId);
    for (const observer of beginners) observer.begin!(ctx, request);
    const answered = (status: number) => {
      const facts = answeredRequest(ctx, status, performance.now() - started);
      for (const observer of observers) observer.end(ctx, facts, request);
    };
    return requestContext.run(request, () => next().then(
      () => answered(ctx.status),
      (error: unknown) => {
        // Only reached if the error renderer itself failed: Koa answers 500.
        answered(500);
        throw error;
      },
    ));
  };
}

function answeredRequest(ctx: Context, status: number, milliseconds: number): AnsweredRequest {
  const matched = (ctx as { _matchedRoute?: string | RegExp })._matchedRoute;
  const route = matched !== undefined ? String(matched) : status === 404 ? 'unmatched' : 'other';
  // ctx.oidc exists on oidc-provider's routes only.
  const oidc = (ctx as Partial<KoaContextWithOIDC>).oidc;
  if (!oidc) return { route, status, milliseconds };
  const client = oidc.client;
  return { route, status, milliseconds, clientId: client?.clientId, grantType: oidc.route === 'token' ? grantTypeLabel(oidc) : undefined };
}

/** A token request's grant type, as a label of bounded cardinality. */
export function grantTypeLabel(oidc: KoaContextWithOIDC['oidc'] | undefined): string {
  const requested = oidc?.params?.grant_type;
  if (typeof requested !== 'string') return 'none';
  // A client can only be registered for supported grant types, so this bounds the label to those.
  return oidc!.client?.grantTypeAllowed(requested) ? requested : 'other';
}
