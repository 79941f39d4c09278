// What oidc-provider reports about the requests it refuses or fails, in our log: a server error at error level
// (the request's 500), a refusal at debug with the detail the client is not told (why a grant is invalid).
// Both are emitted while the request is handled, so each line carries its request id.
import type Provider from 'oidc-provider';
import { isClientDisconnect, logDisconnect } from './client-disconnect.ts';
import { lineLogger, type Logger } from './logger.ts';

// oidc-provider's `<route>.error` events of the endpoints we enable.
const REFUSALS = [
  'authorization.error', 'grant.error', 'introspection.error', 'revocation.error', 'userinfo.error', 'jwks.error', 'discovery.error',
  'registration_create.error', 'registration_read.error', 'registration_update.error', 'registration_delete.error',
  'end_session.error', 'end_session_confirm.error', 'end_session_success.error',
];

type ProviderError = Error & { error?: string; error_description?: string; error_detail?: string };

export function logProviderErrors(provider: Provider, logger: Logger): void {
  provider.on('server_error', (ctx: Parameters<typeof logDisconnect>[1], error: Error) => {
    // A client that hung up is one line, not a server failure with a stack.
    if (isClientDisconnect(error, ctx as never)) return logDisconnect(lineLogger(logger, 'info'), ctx, error);
    logger.error({ err: error }, 'request failed inside oidc-provider');
  });
  for (const event of REFUSALS) {
    provider.on(event as never, (_ctx: unknown, error: ProviderError) => {
      if (!logger.isLevelEnabled('debug')) return;
      logger.debug({ event, error: error.error, error_description: error.error_description, error_detail: error.error_detail }, 'request refused');
    });
  }
}
