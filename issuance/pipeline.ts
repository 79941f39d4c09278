// The issuance pipeline: the steps every access-token grant of ours takes once it knows whose token it is and
// what it may carry at most. A grant decides its own rules (whose `sub`, which ceiling, which `act`); these steps
// are the same for all of them, so a new grant is its rules plus one call to issueAccessToken:
//   1. the client's rules, loaded once (rulesFor: the client's record, its roles);
//   2. the target checked against the resources the client may use (checkTargetAllowed);
//   3. the scope narrowed to what the resource accepts (acceptedByResource);
//   4. the lifetime capped by the resource, the client and whatever the grant bounds it by (lifetimeFor);
//   5. the response scope decided (RFC 6749 §3.3/§5.1, policy/scope-resolution.ts), DPoP bound and required
//      (RFC 9449), the token handed to the audit trail, stored, its lineage recorded, and the response written
//      (issueAccessToken).
import { errors, type AccessToken, type ClientCredentials, type ResourceServerInstance, type TokenEndpointGrantContext } from 'oidc-provider';
import type { RoleStore } from '../adapters/role-store.ts';
import { clientRecordOf, type ClientRecord } from '../policy/client-record.ts';
import { bindDpopProof } from './dpop-binding.ts';
import { buildTokenResponse, checkDpopRequired, type validateDpop } from './oidc-grant-helpers.ts';
import { responseScope } from '../policy/scope-resolution.ts';

export type DpopProof = Awaited<ReturnType<typeof validateDpop>>;
type Client = NonNullable<TokenEndpointGrantContext['oidc']['client']>;

export interface IssuanceDependencies {
  /** A client may be granted its own patterns and its roles' (policy/roles.ts). */
  roles: Pick<RoleStore, 'grantsOf'>;
}

/** What the operator decided about the requesting client, read once per request. */
export interface ClientRules {
  /** The client's record (policy/client-record.ts): an agent's rules, or a registered client's. */
  record: ClientRecord;
  /** The names of the roles the client holds (directly or inherited), for the token's `roles` claim. */
  roles: string[];
  /** The scope patterns its roles grant, on top of the client's own. */
  rolePatterns: string[];
}

export async function rulesFor(client: Client, deps: IssuanceDependencies): Promise<ClientRules> {
  // Whether the client is an agent is in its record, never in its id's spelling.
  const record = clientRecordOf(client);
  const { roles, patterns } = await deps.roles.grantsOf({ type: 'client', id: record.id });
  return { record, roles, rolePatterns: patterns };
}

/**
 * The scope patterns that bound what the client is granted: its own and its roles'. Undefined for a client with
 * no `scope_patterns` (a registered client the operator gave none): oidc-provider's scope rules apply to it.
 */
export function allowedPatterns(rules: ClientRules): string[] | undefined {
  return rules.record.scopePatterns && [...rules.record.scopePatterns, ...rules.rolePatterns];
}

/** What a client is called in a refusal: the operator reads "agent" for an agent. */
export function clientNoun(record: ClientRecord): string {
  return record.kind === 'agent' ? 'agent' : 'client';
}

/** RFC 8707: a client limited to some resources gets `invalid_target` for any other. */
export function checkTargetAllowed(rules: ClientRules, target: string | undefined): void {
  checkResourceAllowed(rules.record, target);
}

/** The same rule from the record alone, for oidc-provider's resource lookup (server/provider.ts). */
export function checkResourceAllowed(record: ClientRecord, target: string | undefined): void {
  if (target !== undefined && record.resources && !record.resources.includes(target)) {
    throw new errors.InvalidTarget(`this ${clientNoun(record)} may not request tokens for "${target}"`);
  }
}

/** As oidc-provider does: a resource's token carries only the scopes that resource accepts. */
export function acceptedByResource(scopes: readonly string[], resourceServer: ResourceServerInstance | undefined): string[] {
  if (!resourceServer) return [...scopes];
  const accepted = new Set(resourceServer.scope?.split(' '));
  return scopes.filter((scope) => accepted.has(scope));
}

/**
 * Seconds the token lives: the resource's lifetime (or the grant's default), never longer than the client's
 * own limit or any of `bounds` (a presented token's remaining life, say).
 */
export function lifetimeFor(rules: ClientRules, resourceServer: ResourceServerInstance | undefined, grantDefault: number, ...bounds: number[]): number {
  return Math.min(resourceServer?.accessTokenTTL ?? grantDefault, rules.record.accessTokenTtl ?? Infinity, ...bounds);
}

export interface Issuance {
  /** Decided by the grant: client, subject, resource server, `extra` claims and lifetime already set. */
  token: AccessToken | ClientCredentials;
  /** The oidc-provider entity name the audit trail reads it under (server/audit-events.ts). */
  entity: 'AccessToken' | 'ClientCredentials';
  dPoP: DpopProof;
  /** The scopes the client asked for (empty when it named none). */
  requested: readonly string[];
  /** The scopes the token carries, already within every ceiling. */
  granted: readonly string[];
  /** RFC 9396 §7: the `authorization_details` granted, carried by the token and in the response. */
  authorizationDetails?: readonly unknown[];
  /** RFC 8693 §2.2.1 `issued_token_type`, for token exchange. */
  issuedTokenType?: string;
  /**
   * Runs after the token is stored and before the response is written, with the id it is stored under (the
   * lineage of an exchanged token: a token whose lineage is missing counts as inactive).
   */
  afterSave?: (token: AccessToken | ClientCredentials) => Promise<void>;
}

/** Step 5: the response scope, the DPoP binding, storage and the response. Refusals happen before anything is stored. */
export async function issueAccessToken(ctx: TokenEndpointGrantContext, issuance: Issuance): Promise<void> {
  const { provider } = ctx.oidc;
  const { token, dPoP, requested, granted } = issuance;
  const answered = responseScope(requested, granted);
  if ('refusal' in answered) throw new errors.InvalidScope(answered.refusal, requested.join(' '));
  token.scope = answered.scope;
  const details = issuance.authorizationDetails?.length ? issuance.authorizationDetails : undefined;
  if (details) token.rar = details as never;
  await bindDpopProof(ctx, dPoP, token);
  checkDpopRequired(provider, ctx, dPoP);

  ctx.oidc.entity(issuance.entity, token);
  const value = await token.save();
  await issuance.afterSave?.(token);
  ctx.body = buildTokenResponse(provider, {
    accessToken: value,
    tokenType: token.tokenType,
    expiresIn: token.expiration,
    // RFC 6749 §3.3, §5.1 (and RFC 8693 §2.2.1): the client always learns what it got.
    scope: answered.scope,
    ...(issuance.issuedTokenType ? { issuedTokenType: issuance.issuedTokenType } : {}),
    ...(details ? { authorizationDetails: details as never } : {}),
  });
}
