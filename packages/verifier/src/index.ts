// @agentauth/verifier: what a resource server (an MCP server, typically) imports to accept access tokens from
// agentauth, or any OAuth 2.1 authorization server publishing RFC 8414 metadata. Depends on jose only; the
// MCP SDK adapter is the separate entry point `@agentauth/verifier/mcp-sdk`.
export { createVerifier } from './verifier.ts';
export type { Needs, VerifiedAccess, Verifier, VerifierOptions, VerifierRequest } from './verifier.ts';
export { AGENT_ACTION, actionBodyDigest, mcpToolCall } from './action-binding.ts';
export type { ActionRequest, AgentActionDetail } from './action-binding.ts';
export { canonicalJson } from './json-canonicalization.ts';
export type { AccessTokenClaims, ActorClaim } from './access-token-claims.ts';
export type { Challenge } from './challenge.ts';
export type { DelegationPolicy } from './delegation-policy.ts';
export type { BodySource } from './dpop-proof.ts';
export type { IntrospectionOptions } from './introspection.ts';
export type { HeaderSource } from './request-headers.ts';
export {
  AuthorizationServerUnavailable, InsufficientScope, InvalidDpopProof, InvalidRequest, InvalidToken, MissingToken, RequestBodyUnavailable,
  VerifierError,
} from './errors.ts';
export type { AuthScheme, ResourceErrorCode } from './errors.ts';
export { MemoryReplayStore, type MemoryReplayStoreOptions, type ReplayStore } from './replay-store.ts';
export { RedisReplayStore, type RedisReplayStoreOptions, type RedisSetNx } from './redis-replay-store.ts';
export { koaAuth, type KoaContextLike } from './koa.ts';
export { expressAuth, type ExpressRequestLike } from './express.ts';
export { withAuth, type AuthenticatedRequest, type WithAuthOptions } from './node-http.ts';
export type { MiddlewareOptions } from './node-request.ts';
// Transaction tokens (draft-ietf-oauth-transaction-tokens) arriving in the Txn-Token header: verifier/transaction-token.ts.
export { TXN_TOKEN_HEADER, TransactionTokenError, verifyTransactionToken } from './transaction-token.ts';
export type {
  TransactionTokenActor, TransactionTokenClaims, TransactionTokenErrorCode, VerifyTransactionTokenOptions,
} from './transaction-token.ts';
