// Which client a request to the token, introspection or revocation endpoint claims to be, before anything is
// verified: the username of HTTP Basic (RFC 6749 §2.3.1, form-encoded), else `client_id` in the body, else the
// `sub` of a client assertion (RFC 7523 §3: `iss` and `sub` are the client_id). Used only to count guesses
// against that name; nothing here is trusted.
import { decodeJwt } from 'jose';

const MAX_CLIENT_ID = 512;

export function claimedClientId(authorization: string | undefined, form: URLSearchParams | undefined): string | undefined {
  const basic = /^Basic ([A-Za-z0-9+/]+=*)$/i.exec(authorization ?? '');
  if (basic) {
    const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return bounded(formDecoded(colon === -1 ? decoded : decoded.slice(0, colon)));
  }
  if (!form) return undefined;
  const clientId = form.get('client_id');
  if (clientId) return bounded(clientId);
  const assertion = form.get('client_assertion');
  if (!assertion) return undefined;
  try {
    const { sub, iss } = decodeJwt(assertion);
    return bounded(typeof sub === 'string' ? sub : typeof iss === 'string' ? iss : undefined);
  } catch {
    return undefined;
  }
}

/** True when only the body can name the client (no Basic credentials). */
export const needsBody = (authorization: string | undefined): boolean => !/^Basic /i.test(authorization ?? '');

function formDecoded(value: string): string {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '));
  } catch {
    return value;
  }
}

const bounded = (value: string | undefined) => (value ? value.slice(0, MAX_CLIENT_ID) : undefined);
