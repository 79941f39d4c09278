// What the provider does, written to the audit table: tokens issued and refused, clients registered and
// removed. Events are recorded without blocking the request (AuditLog buffers); no token, secret or assertion
// is ever passed along, only identifiers and outcomes.
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { AuditEvent, AuditLog } from '../adapters/audit-log.ts';

type OidcError = Error & { error?: string; error_description?: string };

function requestFacts(ctx: KoaContextWithOIDC): Pick<AuditEvent, 'requestId' | 'sourceIp' | 'clientId'> {
  return { requestId: ctx.state?.requestId, sourceIp: ctx.ip, clientId: ctx.oidc?.client?.clientId };
}

export function auditProviderEvents(provider: Provider, audit: AuditLog): void {
  provider.on('grant.success', (ctx: KoaContextWithOIDC) => {
    const token = ctx.oidc.entities.AccessToken ?? ctx.oidc.entities.ClientCredentials;
    audit.record({
      ...requestFacts(ctx),
      event: 'token.issued',
      outcome: 'success',
      subject: (token as { accountId?: string } | undefined)?.accountId ?? ctx.oidc.client?.clientId,
      details: { grant_type: ctx.oidc.params?.grant_type as string, scope: token?.scope, audience: token?.aud },
    });
  });
  provider.on('grant.error', (ctx: KoaContextWithOIDC, error: OidcError) => {
    audit.record({
      ...requestFacts(ctx),
      event: 'token.refused',
      outcome: 'failure',
      reason: `${error.error ?? 'error'}: ${error.error_description ?? error.message}`,
      details: { grant_type: ctx.oidc?.params?.grant_type as string | undefined },
    });
  });
  provider.on('registration_create.success', (ctx: KoaContextWithOIDC, client: { clientId: string }) => {
    audit.record({ ...requestFacts(ctx), clientId: client.clientId, event: 'client.registered', outcome: 'success' });
  });
  provider.on('registration_delete.success', (ctx: KoaContextWithOIDC, client: { clientId: string }) => {
    audit.record({ ...requestFacts(ctx), clientId: client.clientId, event: 'client.deleted', outcome: 'success' });
  });
}
