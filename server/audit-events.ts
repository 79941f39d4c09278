// What the provider does, written to the audit table: tokens issued and refused, clients registered and
// removed. An issued token's event is recorded durably: the token endpoint answers only once it is (see
// `awaitIssuedTokenAudit`). The others are recorded without blocking the request. No token, secret or assertion
// is ever passed along, only identifiers and outcomes.
import { decodeJwt } from 'jose';
import type { Next } from 'koa';
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { AuditEvent, AuditLog } from '../adapters/audit-log.ts';
import type { AuditTrail } from '../adapters/audit-stream.ts';
import type { JsonObject } from '../adapters/database.ts';
import type { IssuedTransactionToken } from '../grants/token-exchange.ts';
import type { RedeemedIdentityAssertion } from '../grants/jwt-bearer.ts';
import type { IssuedIdJag } from '../grants/id-jag-issuance.ts';
import { clientRecordOf } from '../policy/client-record.ts';

type OidcError = Error & { error?: string; error_description?: string };

function requestFacts(ctx: KoaContextWithOIDC): Pick<AuditEvent, 'requestId' | 'sourceIp' | 'clientId'> {
  return { requestId: ctx.state?.requestId, sourceIp: ctx.ip, clientId: ctx.oidc?.client?.clientId };
}

export function auditProviderEvents(provider: Provider, audit: AuditTrail): void {
  provider.on('grant.success', (ctx: KoaContextWithOIDC) => {
    const transaction = (ctx.oidc.entities as { TransactionToken?: IssuedTransactionToken }).TransactionToken;
    if (transaction) {
      issuedTokenAudit(ctx, audit.recordDurably(transactionTokenIssued(ctx, transaction)));
      return;
    }
    const idJag = (ctx.oidc.entities as { IssuedIdJag?: IssuedIdJag }).IssuedIdJag;
    if (idJag) {
      issuedTokenAudit(ctx, audit.recordDurably(idJagIssued(ctx, idJag)));
      return;
    }
    const token = ctx.oidc.entities.AccessToken ?? ctx.oidc.entities.ClientCredentials;
    const extra = (token as { extra?: { act?: AuditEvent['actor']; org_id?: string } } | undefined)?.extra;
    const act = extra?.act;
    const assertion = (ctx.oidc.entities as { IdentityAssertion?: RedeemedIdentityAssertion }).IdentityAssertion;
    issuedTokenAudit(ctx, audit.recordDurably({
      ...requestFacts(ctx),
      event: 'token.issued',
      outcome: 'success',
      // The organization the token was issued under (issuance/token-organization.ts).
      ...(extra?.org_id ? { orgId: extra.org_id } : {}),
      subject: (token as { accountId?: string } | undefined)?.accountId ?? ctx.oidc.client?.clientId,
      // The delegation chain of an exchanged token (RFC 8693 act): who acts for the subject, newest first.
      ...(act ? { actor: act } : {}),
      details: {
        grant_type: ctx.oidc.params?.grant_type as string, scope: token?.scope, audience: token?.aud,
        // The enterprise IdP whose ID-JAG was redeemed, and which one.
        ...(assertion ? { id_jag_issuer: assertion.issuer, id_jag_jti: assertion.jti } : {}),
        // The IdP's subject the local user was linked from, and whether that user was created just now.
        ...(assertion?.linkedFrom ? { id_jag_subject: assertion.linkedFrom } : {}),
        ...(assertion?.userCreated ? { user_created: true } : {}),
      },
    }));
  });
  provider.on('grant.error', (ctx: KoaContextWithOIDC, error: OidcError) => {
    audit.record({
      ...requestFacts(ctx),
      event: 'token.refused',
      outcome: 'failure',
      // The organization of the client refused, once it is known (not for a client that failed to authenticate).
      ...(ctx.oidc?.client ? { orgId: clientRecordOf(ctx.oidc.client).orgId } : {}),
      reason: `${error.error ?? 'error'}: ${error.error_description ?? error.message}`,
      details: {
        grant_type: ctx.oidc?.params?.grant_type as string | undefined,
        // Tells a refused Txn-Token request apart from a refused token exchange.
        ...(typeof ctx.oidc?.params?.requested_token_type === 'string' ? { requested_token_type: ctx.oidc.params.requested_token_type } : {}),
      },
    });
  });
  provider.on('registration_create.success', (ctx: KoaContextWithOIDC, client: { clientId: string }) => {
    audit.record({ ...requestFacts(ctx), clientId: client.clientId, event: 'client.registered', outcome: 'success' });
  });
  provider.on('registration_delete.success', (ctx: KoaContextWithOIDC, client: { clientId: string }) => {
    audit.record({ ...requestFacts(ctx), clientId: client.clientId, event: 'client.deleted', outcome: 'success' });
  });
}

const AUDIT_WRITE = Symbol('issued token audit write');

function issuedTokenAudit(ctx: KoaContextWithOIDC, written: Promise<void>): void {
  // Handled here so a failure is never an unhandled rejection; the token endpoint reads the outcome.
  (ctx.state as Record<symbol, Promise<boolean>>)[AUDIT_WRITE] = written.then(() => true, () => false);
}

type IssuedEntities = { AccessToken?: { destroy(): Promise<void> }; ClientCredentials?: { destroy(): Promise<void> }; RefreshToken?: { destroy(): Promise<void> } };

/**
 * Middleware for the token endpoint: the response waits until the issued token's audit event is durable. If it
 * cannot be made durable (Redis and PostgreSQL both refusing), the token is destroyed and the client told to come
 * back: a token nobody can account for is never handed out.
 */
export async function awaitIssuedTokenAudit(ctx: KoaContextWithOIDC, next: () => Promise<void>): Promise<void> {
  await next();
  const written = (ctx.state as Record<symbol, Promise<boolean> | undefined>)[AUDIT_WRITE];
  if (written === undefined || (await written)) return;
  const entities = (ctx.oidc?.entities ?? {}) as IssuedEntities;
  await Promise.allSettled([entities.AccessToken, entities.ClientCredentials, entities.RefreshToken].map((token) => token?.destroy()));
  ctx.status = 503;
  ctx.set('Retry-After', '1');
  ctx.remove('Pragma');
  ctx.body = { error: 'temporarily_unavailable', error_description: 'the token could not be recorded on the audit trail; try again' };
}

/** An ID-JAG we issued as an enterprise IdP: for whom, to which authorization server and resource; never the JWT. */
function idJagIssued(ctx: KoaContextWithOIDC, { claims }: IssuedIdJag): AuditEvent {
  return {
    ...requestFacts(ctx),
    event: 'id_jag.issued',
    outcome: 'success',
    subject: claims.sub,
    details: { jti: claims.jti, audience: claims.aud, audience_client_id: claims.client_id, resource: claims.resource ?? null, scope: claims.scope ?? null, expires_at: claims.exp },
  };
}

/**
 * A Txn-Token, by its transaction id and what it says, never the token: the draft ("Logging") forbids logging
 * Txn-Tokens verbatim. Rows sharing a `txn` are one transaction, replacements included, each with its `req_wl`.
 */
function transactionTokenIssued(ctx: KoaContextWithOIDC, issued: IssuedTransactionToken): AuditEvent {
  const { claims } = issued;
  return {
    ...requestFacts(ctx),
    event: 'txn_token.issued',
    outcome: 'success',
    subject: claims.sub,
    ...(claims.act ? { actor: claims.act as unknown as JsonObject } : {}),
    details: {
      txn: claims.txn,
      req_wl: claims.req_wl,
      scope: claims.scope,
      audience: claims.aud,
      expires_at: claims.exp,
      subject_token_type: issued.subjectTokenType,
      replacement: issued.replacement,
    },
  };
}

type StoredToken = { clientId?: string; accountId?: string; kind: string };

function presentedToken(ctx: KoaContextWithOIDC): StoredToken | undefined {
  const { entities } = ctx.oidc;
  return (entities.AccessToken ?? entities.ClientCredentials ?? entities.RefreshToken) as StoredToken | undefined;
}

/**
 * Middleware for the introspection and revocation endpoints: an introspection that answers inactive and a
 * revocation that removed a token are audited with the reason we know (e.g. the agent was suspended).
 */
export function auditIntrospectionAndRevocation(audit: AuditLog, paths: { introspection: string; revocation: string }) {
  function afterIntrospection(ctx: KoaContextWithOIDC): void {
    if (ctx.status !== 200 || !ctx.oidc) return;
    // RFC 9701 responses are signed JWTs wrapping the RFC 7662 response.
    const body = (typeof ctx.body === 'string' ? decodeJwt(ctx.body).token_introspection : ctx.body) as { active?: boolean } | undefined;
    if (body?.active !== false) return;
    const token = presentedToken(ctx);
    audit.record({
      ...requestFacts(ctx),
      clientId: token?.clientId,
      subject: token?.accountId ?? token?.clientId,
      event: 'token.introspected_inactive',
      outcome: 'failure',
      reason: (ctx.state.inactiveReason as string | undefined) ?? 'the token is unknown, expired or revoked',
      details: { introspecting_client: ctx.oidc.client?.clientId ?? null },
    });
  }

  function afterRevocation(ctx: KoaContextWithOIDC): void {
    if (ctx.status !== 200 || !ctx.oidc) return;
    const token = presentedToken(ctx);
    if (!token) return;
    audit.record({
      ...requestFacts(ctx),
      clientId: token.clientId,
      subject: token.accountId ?? token.clientId,
      event: 'token.revoked',
      outcome: 'success',
      details: { kind: token.kind, revoking_client: ctx.oidc.client?.clientId ?? null },
    });
  }

  return function auditTokenChecks(ctx: KoaContextWithOIDC, next: Next): Promise<void> {
    if (ctx.method !== 'POST') return next();
    if (ctx.path === paths.introspection) return next().then(() => afterIntrospection(ctx));
    if (ctx.path === paths.revocation) return next().then(() => afterRevocation(ctx));
    return next();
  };
}
