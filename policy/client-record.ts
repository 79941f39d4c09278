// One record for every client, whatever registered it: an agent (POST /admin/agents), a client the operator
// registered through RFC 7591 with the initial access token, an anonymous registration or a client identified by
// a metadata document. The rules the operator sets on a client (owner, scope patterns and defaults, resources,
// lifetime, delegation policy, may_act, Txn-Token policy) travel as client metadata: the agent store writes an
// agent's into the metadata it hands oidc-provider (adapters/client-adapter.ts), the operator sets a registered
// client's at registration (server/provider.ts refuses them from anyone else). They are parsed here, once per
// oidc-provider `Client` instance: oidc-provider builds a Client once per distinct metadata (lib/models/client.js
// caches instances by the metadata's hash), so a changed agent or client is a new instance and a new record.
import { z } from 'zod';
import { DEFAULT_ORG } from '../adapters/organization-store.ts';
import { clientDelegationPolicy, mayActStatement, type ClientDelegationPolicy } from './delegation-policy.ts';
import { isConcreteScope, isScopePattern } from './scope-patterns.ts';
import { transactionTokenPolicy, type TransactionTokenPolicy } from './transaction-token-policy.ts';

export const scopePatternList = z
  .array(z.string().max(256).refine(isScopePattern, 'must be a scope pattern (resource:action, with * and ** wildcards) or a plain scope'))
  .max(100);
export const concreteScopeList = z.array(z.string().max(256).refine(isConcreteScope, 'must be a scope without wildcards')).max(100);
export const resourceList = z.array(z.string().min(1).max(2048)).max(100);
export const accessTokenLifetime = z.number().int().min(1).max(86_400);

/** The client metadata members that carry the record's rules, each only the operator's to set. */
export const recordMetadata = {
  /** Set by the server for agents; never accepted from a registration. */
  client_kind: z.literal('agent'),
  /** The accountable user (a user id): required for an agent, optional for a registered client. */
  owner: z.string().min(1).max(200),
  /** The scope patterns the client may be granted (policy/scope-patterns.ts), instead of oidc-provider's scope rules. */
  scope_patterns: scopePatternList,
  /** Granted when a request names no scope; each inside `scope_patterns`. */
  default_scopes: concreteScopeList,
  /** The resources the client may get tokens for (RFC 8707); absent: any registered resource. */
  allowed_resources: resourceList,
  /** At most this many seconds for every access token the client gets. */
  access_token_ttl: accessTokenLifetime,
  delegation_policy: clientDelegationPolicy,
  may_act: mayActStatement,
  txn_token_policy: transactionTokenPolicy,
} as const;

export type RecordMember = keyof typeof recordMetadata;
export const RECORD_MEMBERS = Object.keys(recordMetadata) as RecordMember[];

export interface ClientRecord {
  id: string;
  /** `agent`: an agent of the agent registry; `registered`: any other client. */
  kind: 'agent' | 'registered';
  /** The organization it belongs to (`org_id`; registration without one puts a client in the default one). */
  orgId: string;
  ownerId: string | undefined;
  /** undefined: the client's scopes follow oidc-provider's rules (its `scope` metadata and the resources' scopes). */
  scopePatterns: string[] | undefined;
  defaultScopes: string[];
  resources: string[] | undefined;
  accessTokenTtl: number | undefined;
  delegationPolicy: ClientDelegationPolicy | undefined;
  mayAct: z.infer<typeof mayActStatement> | undefined;
  txnTokenPolicy: TransactionTokenPolicy | undefined;
}

const clientMetadata = z.object({
  client_id: z.string(),
  client_kind: recordMetadata.client_kind.optional(),
  org_id: z.string().optional(),
  owner: recordMetadata.owner.optional(),
  scope_patterns: recordMetadata.scope_patterns.optional(),
  default_scopes: recordMetadata.default_scopes.optional(),
  allowed_resources: recordMetadata.allowed_resources.optional(),
  access_token_ttl: recordMetadata.access_token_ttl.optional(),
  delegation_policy: recordMetadata.delegation_policy.optional(),
  may_act: recordMetadata.may_act.optional(),
  txn_token_policy: recordMetadata.txn_token_policy.optional(),
});

/** The record of client metadata that passed oidc-provider's validator (server/provider.ts checks each member). */
export function parseClientRecord(metadata: Record<string, unknown>): ClientRecord {
  const parsed = clientMetadata.parse(metadata);
  return {
    id: parsed.client_id,
    kind: parsed.client_kind === 'agent' ? 'agent' : 'registered',
    orgId: parsed.org_id ?? DEFAULT_ORG,
    ownerId: parsed.owner,
    scopePatterns: parsed.scope_patterns,
    defaultScopes: parsed.default_scopes ?? [],
    resources: parsed.allowed_resources,
    accessTokenTtl: parsed.access_token_ttl,
    delegationPolicy: parsed.delegation_policy,
    mayAct: parsed.may_act,
    txnTokenPolicy: parsed.txn_token_policy,
  };
}

const records = new WeakMap<object, ClientRecord>();

/**
 * The record of an oidc-provider Client, parsed the first time it is asked for. `metadata()` is the Client's
 * own snake_case view of what it was built from.
 */
export function clientRecordOf(client: { metadata(): object }): ClientRecord {
  let record = records.get(client);
  if (!record) {
    record = parseClientRecord(client.metadata() as Record<string, unknown>);
    records.set(client, record);
  }
  return record;
}
