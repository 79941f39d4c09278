// One info line per answered request. Its fields are identifiers and outcomes only: the path without its query
// (which can carry codes and state), never a body or a credential header. At debug the request's headers are
// added, with every credential header censored by the logger's redaction.
import type { Logger } from './logger.ts';
import type { RequestObserver } from './observe-requests.ts';

export function accessLog(logger: Logger): RequestObserver {
  return {
    end(ctx, answered) {
      if (!logger.isLevelEnabled('info')) return;
      const line = {
        method: ctx.method,
        path: ctx.path,
        route: answered.route,
        status: answered.status,
        duration_ms: Math.round(answered.milliseconds * 1000) / 1000,
        client_id: answered.clientId,
        grant_type: answered.grantType,
        // The OAuth error code of a refusal (never its description, which may quote the request).
        error: answered.status >= 400 ? errorCode(ctx.body) : undefined,
        headers: logger.isLevelEnabled('debug') ? ctx.headers : undefined,
      };
      logger.info(line, 'request');
    },
  };
}

function errorCode(body: unknown): string | undefined {
  const error = typeof body === 'object' && body !== null ? (body as { error?: unknown }).error : undefined;
  return typeof error === 'string' ? error : undefined;
}
