// The MCP TypeScript SDK's bearer-auth hook: an `OAuthTokenVerifier` for its `requireBearerAuth` (from
// @modelcontextprotocol/express, or the fetch-style one in @modelcontextprotocol/server). That hook hands over the
// token alone, so it serves Bearer tokens; for DPoP-bound tokens use `expressAuth` / `withAuth` instead, which
// put the same `AuthInfo` on `req.auth` for the SDK's transports. A separate entry point
// (`@agentauth/verifier/mcp-sdk`), since it is the one module that loads the SDK.
import { OAuthError, OAuthErrorCode, type AuthInfo, type OAuthTokenVerifier } from '@modelcontextprotocol/server';
import { VerifierError } from './errors.ts';
import type { VerifiedAccess, Verifier } from './verifier.ts';

/** `requireBearerAuth({ verifier: mcpTokenVerifier(verifier), resourceMetadataUrl, expectedResource })`. */
export function mcpTokenVerifier(verifier: Verifier): OAuthTokenVerifier {
  return {
    async verifyAccessToken(token) {
      try {
        return authInfo(await verifier.verifyToken(token));
      } catch (error) {
        // The SDK answers OAuthError(invalid_token) with 401 and its own Bearer challenge; anything else is a 500.
        if (error instanceof VerifierError) throw new OAuthError(error.error ?? OAuthErrorCode.InvalidToken, error.description);
        throw error;
      }
    },
  };
}

/** Exactly the SDK's `AuthInfo`: what its request handlers see as `ctx.http.authInfo`. */
export function authInfo(access: VerifiedAccess): AuthInfo {
  return {
    token: access.token,
    clientId: access.clientId,
    scopes: access.scopes,
    expiresAt: access.expiresAt,
    resource: access.resource,
    resourceMetadataUrl: access.resourceMetadataUrl,
    extra: access.extra,
  };
}
