// One typed view of an access token, whichever way it was verified: the payload of an RFC 9068 JWT or the
// members of an RFC 7662 introspection response (which RFC 8693 §4.1 and RFC 9449 §6.2 give the same `act` and
// `cnf` shapes). Everything below works on this view only.
import { InvalidToken } from './errors.ts';

/** RFC 8693 §4.1: the outermost `act` is the current actor, nested ones are prior actors. */
export interface ActorClaim {
  sub: string;
  iss?: string;
  act?: ActorClaim;
  [claim: string]: unknown;
}

export interface AccessTokenClaims {
  iss?: string;
  sub: string;
  client_id: string;
  /** Always a list, whether the token carried a string or an array. */
  aud: string[];
  /** The granted scopes as a list (the token carries a space-separated string, RFC 8693 §4.2 / RFC 9068 §2.2.3). */
  scope: string[];
  exp: number;
  iat?: number;
  jti?: string;
  act?: ActorClaim;
  /** RFC 9449 §6: `jkt` is the thumbprint of the key the token is bound to. */
  cnf?: { jkt?: string; [method: string]: unknown };
  [claim: string]: unknown;
}

// A chain nested deeper than this is not a delegation chain but an attack on the parser.
const MAX_ACT_NESTING = 32;

/** Checks the types of the claims this verifier relies on; anything malformed makes the token invalid. */
export function accessTokenClaims(raw: Record<string, unknown>): AccessTokenClaims {
  const { sub, client_id: clientId, aud, scope, exp, iat, jti, act, cnf } = raw;
  if (typeof sub !== 'string' || !sub) throw new InvalidToken('access token has no subject (sub)');
  if (typeof clientId !== 'string' || !clientId) throw new InvalidToken('access token names no client (client_id)');
  if (typeof exp !== 'number') throw new InvalidToken('access token has no expiry (exp)');
  if (iat !== undefined && typeof iat !== 'number') throw new InvalidToken('access token iat is not a number');
  if (jti !== undefined && typeof jti !== 'string') throw new InvalidToken('access token jti is not a string');
  if (scope !== undefined && typeof scope !== 'string') throw new InvalidToken('access token scope is not a space-separated string');
  if (cnf !== undefined && (!isObject(cnf) || (cnf.jkt !== undefined && typeof cnf.jkt !== 'string'))) {
    throw new InvalidToken('access token cnf is malformed');
  }
  if (act !== undefined) checkActor(act, 1);
  return {
    ...raw,
    sub,
    client_id: clientId,
    aud: audienceList(aud),
    scope: typeof scope === 'string' ? scope.split(' ').filter(Boolean) : [],
    exp,
    ...(act === undefined ? {} : { act: act as ActorClaim }),
    ...(cnf === undefined ? {} : { cnf: cnf as AccessTokenClaims['cnf'] }),
  };
}

function audienceList(aud: unknown): string[] {
  if (aud === undefined) return [];
  if (typeof aud === 'string') return [aud];
  if (Array.isArray(aud) && aud.every((value) => typeof value === 'string')) return aud;
  throw new InvalidToken('access token aud is malformed');
}

function checkActor(act: unknown, depth: number): void {
  if (depth > MAX_ACT_NESTING) throw new InvalidToken('access token act is nested too deeply');
  if (!isObject(act) || typeof act.sub !== 'string') throw new InvalidToken('access token act is not an actor with a sub');
  if (act.act !== undefined) checkActor(act.act, depth + 1);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
