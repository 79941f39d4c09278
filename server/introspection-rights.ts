// Who may learn about a token at introspection, and whose revocation of someone else's token is refused out loud.
//
// RFC 7662 §4: the server "SHOULD" limit what it tells a protected resource to what that resource needs, and a
// token scanner must not learn about tokens it holds by chance. The model here: a client is entitled to a token
// when the token was issued to it, when the token's audience is a resource the operator registered the client as
// serving (client metadata `served_resources`), or when the operator granted it introspection of every token
// (`introspect_any_token`). Both are operator-only metadata (set at registration with the initial access token),
// so no client can give itself these rights. Refresh tokens never leave the client they were issued to, so a
// resource server is not entitled to them through its audience.
//
// Everyone else is answered exactly as for an unknown token: `{"active": false}` at introspection, and at
// revocation (RFC 7009 §2.2) a 200 that revokes nothing, so guessing a token value and a token_type_hint tells
// a party without rights nothing an unknown value would not.

/** Client metadata that grants introspection rights; only the operator may set it. */
export const INTROSPECTION_RIGHTS_METADATA = ['served_resources', 'introspect_any_token'] as const;

export interface IntrospectingClient {
  clientId: string;
  /** Identifiers of registered resources (RFC 8707) this client serves: it may introspect their tokens. */
  served_resources?: unknown;
  /** The operator's grant to introspect every token (a central gateway, an audit service). */
  introspect_any_token?: unknown;
}

export interface PresentedToken {
  kind: string;
  clientId?: string;
  aud?: unknown;
}

/** Why a client is entitled to a token, or undefined when it is not. */
export function introspectionRight(client: IntrospectingClient, token: PresentedToken): 'issued_to_client' | 'serves_audience' | 'introspects_any' | undefined {
  if (token.clientId !== undefined && token.clientId === client.clientId) return 'issued_to_client';
  if (client.introspect_any_token === true) return 'introspects_any';
  if (token.kind === 'RefreshToken') return undefined;
  const served = Array.isArray(client.served_resources) ? client.served_resources : [];
  const audiences = Array.isArray(token.aud) ? token.aud : [token.aud];
  return audiences.some((aud) => typeof aud === 'string' && served.includes(aud)) ? 'serves_audience' : undefined;
}

/** The check the extraClientMetadata validator runs, so a bad value is refused at registration. */
export function introspectionRightsProblem(key: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (key === 'introspect_any_token' && typeof value !== 'boolean') return 'introspect_any_token must be a boolean';
  if (key === 'served_resources') {
    if (!Array.isArray(value) || value.length > 100 || !value.every(isAbsoluteUri)) {
      return 'served_resources must be an array of at most 100 resource identifiers (absolute URIs)';
    }
  }
  return undefined;
}

function isAbsoluteUri(value: unknown): boolean {
  return typeof value === 'string' && value.length <= 2048 && URL.canParse(value);
}
