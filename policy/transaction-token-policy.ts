// Which workloads may request transaction tokens, and on what terms: the operator's per-workload policy, stored
// as client metadata (`txn_token_policy`) that only the operator can set (server/provider.ts). A client without
// one is not a workload of the trust domain as far as the Txn-Token service is concerned (draft-ietf-oauth-
// transaction-tokens, "TTS Issuance Policies": the TTS "should be selective in which workloads can successfully
// request a Txn-Token").
import { z } from 'zod';
import { isScopePattern, scopeAllowed } from './scope-patterns.ts';
import { TOKEN_TYPE } from '../tokens/token-types.ts';

/** Subject token types a workload asserts itself; each is accepted only where the operator enables it. */
export const SELF_ASSERTED_TYPES = { self_signed: TOKEN_TYPE.selfSigned, unsigned_json: TOKEN_TYPE.unsignedJson } as const;
export type SelfAssertedType = keyof typeof SELF_ASSERTED_TYPES;

/** The policy as stored in client metadata. Its presence marks the client as allowed to request Txn-Tokens. */
export const transactionTokenPolicy = z.strictObject({
  /** Self-asserted subject token types this workload may present (none unless listed). */
  subject_token_types: z.array(z.enum(['self_signed', 'unsigned_json'])).max(2).optional(),
  /** The `request_details` members copied into `tctx`; undefined: all of them. */
  tctx_members: z.array(z.string().min(1).max(256)).max(100).optional(),
  /** Scope patterns (policy/scope-patterns.ts) bounding every Txn-Token this workload gets; undefined: no bound beyond the subject token's. */
  allowed_scopes: z.array(z.string().refine(isScopePattern, 'must be a scope or scope pattern')).max(1000).optional(),
});
export type TransactionTokenPolicy = z.infer<typeof transactionTokenPolicy>;

/**
 * The subject token types this workload may present: our access tokens, JWTs (ours or a trusted issuer's), our
 * Txn-Tokens (to be replaced), and the self-asserted types its policy enables. ID tokens are not among them: they
 * state no authorization scope to keep the Txn-Token's scope within.
 */
export function acceptedSubjectTypes(policy: TransactionTokenPolicy): string[] {
  const enabled = (policy.subject_token_types ?? []).map((type) => SELF_ASSERTED_TYPES[type]);
  return [TOKEN_TYPE.accessToken, TOKEN_TYPE.jwt, TOKEN_TYPE.txnToken, ...enabled];
}

/** The self-asserted type `subjectTokenType` names when the policy does not enable it for this workload. */
export function disabledSelfAssertedType(policy: TransactionTokenPolicy, subjectTokenType: string): SelfAssertedType | undefined {
  const type = (Object.keys(SELF_ASSERTED_TYPES) as SelfAssertedType[]).find((name) => SELF_ASSERTED_TYPES[name] === subjectTokenType);
  return type && !policy.subject_token_types?.includes(type) ? type : undefined;
}

/** The scopes within the policy's bound. */
export function withinPolicyScopes(policy: TransactionTokenPolicy, scopes: string[]): string[] {
  const patterns = policy.allowed_scopes;
  return patterns ? scopes.filter((scope) => scopeAllowed(scope, patterns)) : scopes;
}

/** `request_details` reduced to the members the operator lets into `tctx`. */
export function filterTransactionDetails(policy: TransactionTokenPolicy, details: Record<string, unknown>): Record<string, unknown> {
  const members = policy.tctx_members;
  if (!members) return details;
  return Object.fromEntries(Object.entries(details).filter(([member]) => members.includes(member)));
}
