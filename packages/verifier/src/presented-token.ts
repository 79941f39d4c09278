// Finds the access token in the Authorization header (RFC 6750 §2.1, RFC 9449 §7.1). Only the header is read:
// OAuth 2.1 and MCP forbid tokens in the query string, and form-body tokens do not exist for JSON-RPC requests.
import { InvalidRequest, type AuthScheme } from './errors.ts';
import { headerValues, type HeaderSource } from './request-headers.ts';

export interface PresentedToken {
  scheme: AuthScheme;
  token: string;
}

// RFC 9110 §11.2 token68, the credentials syntax of both schemes.
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/;

/**
 * The token and the scheme it came with, or `undefined` when there is none in a scheme we speak: RFC 6750 §3.1
 * treats "attempted using an unsupported authentication method" like no authentication at all.
 */
export function presentedToken(headers: HeaderSource): PresentedToken | undefined {
  const values = headerValues(headers, 'authorization');
  if (values.length === 0) return undefined;
  // RFC 6750 §3.1 / RFC 9449 §7.2: more than one method of including the token is invalid_request.
  if (values.length > 1) throw new InvalidRequest('more than one Authorization header');
  const [scheme, ...rest] = values[0].trim().split(/ +/);
  const name = scheme.toLowerCase() === 'bearer' ? 'Bearer' : scheme.toLowerCase() === 'dpop' ? 'DPoP' : undefined;
  if (name === undefined) return undefined;
  // A fetch `Headers` joins two Authorization fields with ", ", which token68 cannot contain: caught here too.
  if (rest.length !== 1 || !TOKEN68.test(rest[0])) {
    throw new InvalidRequest(`the ${name} credentials are not a single token68 value`, { scheme: name });
  }
  return { scheme: name, token: rest[0] };
}
