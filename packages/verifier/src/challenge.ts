// The HTTP answer to a refused request: status, `WWW-Authenticate` challenges and an OAuth error body.
// Grammar: RFC 6750 §3 (Bearer: scope, error, error_description as quoted strings), RFC 9449 §7.1 (DPoP: the same
// parameters plus `algs`), RFC 9728 §5.1 (`resource_metadata`, usable with either scheme), RFC 9110 §11.6.1
// (several challenges in one field, comma-separated) and §5.6.4 (quoted-string).
import type { AuthScheme, VerifierError } from './errors.ts';

export interface ChallengeOptions {
  /** RFC 9728 metadata URL, in every challenge so a client can always discover the authorization server. */
  resourceMetadataUrl: string;
  /** JWS algorithms accepted in DPoP proofs (RFC 9449 §7.1 `algs`, which SHOULD be sent). */
  dpopAlgorithms: readonly string[];
  /** Whether the Bearer scheme is offered at all (not when the resource requires DPoP-bound tokens). */
  bearer: boolean;
}

export interface Challenge {
  status: number;
  headers: Record<string, string>;
  /** JSON `{ error, error_description }`, or empty when the request carried no credentials (RFC 6750 §3.1). */
  body: string;
}

export function buildChallenge(error: VerifierError, scopes: readonly string[], options: ChallengeOptions): Challenge {
  const offered: AuthScheme[] = options.bearer ? ['Bearer', 'DPoP'] : ['DPoP'];
  // RFC 9449 §7.2: the error goes on the challenge of the scheme the client attempted when that is unambiguous;
  // otherwise (or when that scheme is not offered) on every challenge. No credentials: no error anywhere.
  const carriesError = (scheme: AuthScheme) =>
    error.error !== undefined && (error.scheme === undefined || !offered.includes(error.scheme) || error.scheme === scheme);
  const description = rfc6750Text(error.description);
  const scope = [...new Set(scopes)].join(' ');

  const challenges = offered.map((scheme) => {
    const parameters: [string, string][] = [];
    if (carriesError(scheme)) parameters.push(['error', error.error!], ['error_description', description]);
    // Zero-valued parameters are omitted rather than sent empty.
    if (scope) parameters.push(['scope', scope]);
    parameters.push(['resource_metadata', options.resourceMetadataUrl]);
    if (scheme === 'DPoP') parameters.push(['algs', options.dpopAlgorithms.join(' ')]);
    return `${scheme} ${parameters.map(([name, value]) => `${name}=${quotedString(value)}`).join(', ')}`;
  });

  const headers: Record<string, string> = { 'WWW-Authenticate': challenges.join(', '), 'Cache-Control': 'no-store' };
  if (error.error === undefined) return { status: error.status, headers, body: '' };
  headers['Content-Type'] = 'application/json';
  return { status: error.status, headers, body: JSON.stringify({ error: error.error, error_description: description }) };
}

/** RFC 9110 §5.6.4 quoted-string: backslash-escape `"` and `\`. */
export function quotedString(value: string): string {
  return `"${value.replace(/["\\]/g, (character) => `\\${character}`)}"`;
}

/**
 * RFC 6750 §3: error_description "MUST NOT include characters outside the set %x20-21 / %x23-5B / %x5D-7E", so
 * quotes and backslashes become look-alikes and anything else outside printable ASCII a `?` (control characters
 * could otherwise split the header).
 */
export function rfc6750Text(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?').replace(/"/g, "'").replace(/\\/g, '/');
}
