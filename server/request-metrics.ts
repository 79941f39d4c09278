// Feeds ServerMetrics from the two places outcomes are known: each answered request (observeRequests) and the
// provider's grant events, which say what the token endpoint issued or why it refused.
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { IssuedTransactionToken } from '../grants/token-exchange.ts';
import type { ServerMetrics } from './metrics.ts';
import { grantTypeLabel, type RequestObserver } from './observe-requests.ts';

export function requestMetrics(metrics: ServerMetrics): RequestObserver {
  return {
    end(ctx, answered) {
      metrics.requestAnswered({ route: answered.route, method: ctx.method, status: answered.status, seconds: answered.milliseconds / 1000, grantType: answered.grantType });
    },
  };
}

type IssuedEntity = { format?: string } | undefined;

export function countTokenOutcomes(provider: Provider, metrics: ServerMetrics): void {
  provider.on('grant.success', (ctx: KoaContextWithOIDC) => {
    const grantType = ctx.oidc.params?.grant_type as string;
    const entities = ctx.oidc.entities as typeof ctx.oidc.entities & { TransactionToken?: IssuedTransactionToken };
    if (entities.TransactionToken) {
      metrics.tokenIssued({ grantType, tokenType: 'txn_token', format: 'jwt' });
      return;
    }
    const access = (entities.AccessToken ?? entities.ClientCredentials) as IssuedEntity;
    if (access) metrics.tokenIssued({ grantType, tokenType: 'access_token', format: access.format === 'jwt' ? 'jwt' : 'opaque' });
    const body = (typeof ctx.body === 'object' && ctx.body) || {};
    if ('refresh_token' in body) metrics.tokenIssued({ grantType, tokenType: 'refresh_token', format: 'opaque' });
    if ('id_token' in body) metrics.tokenIssued({ grantType, tokenType: 'id_token', format: 'jwt' });
  });
  provider.on('grant.error', (ctx: KoaContextWithOIDC, error: { error?: string }) => {
    metrics.tokenRefused(grantTypeLabel(ctx.oidc), error.error);
  });
}
