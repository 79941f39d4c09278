// A client that hangs up mid-request (a closed laptop, a load balancer's idle timeout, a scanner) is an
// everyday event, not a bug: it gets one log line, never a stack trace that buries real failures.
import type { Context } from 'koa';

/** Error codes Node gives a request or response whose connection the client closed. */
const DISCONNECT_CODES = new Set(['ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ERR_STREAM_PREMATURE_CLOSE', 'ERR_STREAM_DESTROYED']);

/** True when `error` means the client went away, not that the server failed. */
export function isClientDisconnect(error: unknown, ctx?: Pick<Context, 'req'>): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (typeof code === 'string' && DISCONNECT_CODES.has(code)) return true;
  if (message === 'aborted' || message === 'request aborted') return true;
  // The request stream was torn down underneath whatever was reading it.
  return ctx?.req?.destroyed === true && ctx.req.readableAborted === true;
}

/**
 * Logs the one line for a disconnect. The same hang-up surfaces twice (in the middleware reading the body, and
 * in Koa's `error` event when the response cannot finish), so it is logged once per request.
 */
export function logDisconnect(log: (line: string) => void, ctx: Pick<Context, 'method' | 'path' | 'state'> | undefined, error: unknown): void {
  const code = (error as { code?: unknown } | undefined)?.code;
  const reason = `client disconnected${typeof code === 'string' ? ` (${code})` : ''}`;
  if (!ctx) return log(reason);
  if (ctx.state?.disconnectLogged) return;
  if (ctx.state) ctx.state.disconnectLogged = true;
  log(`request ${ctx.state?.requestId ?? '-'} ${ctx.method} ${ctx.path}: ${reason}`);
}

/**
 * Koa's `error` event (errors after the response started, or a client gone before it finished): a disconnect
 * is one line; anything else keeps its stack, through our log rather than Koa's console default.
 */
export function logAppErrors(log: (line: string) => void) {
  return function onAppError(error: Error, ctx?: Context): void {
    if (isClientDisconnect(error, ctx)) return logDisconnect(log, ctx, error);
    if ((error as { status?: number }).status === 404 || (error as { expose?: boolean }).expose) return;
    log(`request ${ctx?.state?.requestId ?? '-'} ${ctx?.method ?? ''} ${ctx?.path ?? ''} failed after responding: ${error.stack ?? error.message}`);
  };
}
