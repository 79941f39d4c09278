// Reads a JWT without verifying it, for an operator asking "who is this token for, and who is acting?". It
// trusts nothing it shows: verification is the resource server's job, with the issuer's JWKS.
import { decodeJwt, decodeProtectedHeader, type JWTPayload, type ProtectedHeaderParameters } from 'jose';
import { CliError } from './cli-error.ts';

/** One actor of an RFC 8693 §4.1 `act` claim, without its nested `act`. */
export type Actor = Record<string, unknown>;

/** Also the `--json` output, as is. */
export interface DecodedToken {
  header: ProtectedHeaderParameters;
  claims: JWTPayload;
  /** Newest actor first: the outermost `act` is the current actor, each nested one acted before it. */
  act_chain: Actor[];
}

export class NotAJwtError extends CliError {
  constructor(message: string) {
    super(message);
    this.name = 'NotAJwtError';
  }
}

export function decodeToken(token: string): DecodedToken {
  const compact = token.trim();
  const parts = compact.split('.').length;
  if (parts === 5) throw new NotAJwtError('this is an encrypted JWT (JWE): only its recipient can read it; use token introspection');
  if (parts !== 3) throw new NotAJwtError('not a JWT: this looks like an opaque token, which only the server can read; use token introspection (RFC 7662)');
  try {
    const header = decodeProtectedHeader(compact);
    const claims = decodeJwt(compact);
    return { header, claims, act_chain: actChain(claims) };
  } catch (error) {
    throw new NotAJwtError(`not a readable JWT: ${(error as Error).message}`);
  }
}

function actChain(claims: JWTPayload): Actor[] {
  const chain: Actor[] = [];
  let act = claims.act;
  while (isObject(act)) {
    const { act: previous, ...actor } = act;
    chain.push(actor);
    act = previous;
  }
  return chain;
}

export function formatDecodedToken(decoded: DecodedToken): string {
  const { claims } = decoded;
  const lines = ['header:', ...fieldLines(decoded.header), 'claims:', ...fieldLines(claims)];
  lines.push(`sub: ${claims.sub ?? '(none)'}`, ...formatActChain(decoded.act_chain));
  if (claims.may_act !== undefined) {
    lines.push(`may_act: ${actorLabel(claims.may_act)} (may act on behalf of the sub, RFC 8693 §4.4)`);
  }
  const jkt = isObject(claims.cnf) ? claims.cnf.jkt : undefined;
  if (jkt !== undefined) lines.push(`cnf.jkt: ${String(jkt)} (DPoP-bound: usable only with proofs signed by that key, RFC 9449)`);
  return lines.join('\n');
}

function formatActChain(chain: Actor[]): string[] {
  if (chain.length === 0) return ['act chain: none (no one acts on behalf of the sub)'];
  return ['act chain (newest actor first):', ...chain.map((actor, depth) => `${'   '.repeat(depth)}└─ ${actorLabel(actor)}`)];
}

// An actor is named by its sub (RFC 8693 §4.1); any other member (iss, client_id…) is shown after it.
function actorLabel(actor: unknown): string {
  if (!isObject(actor)) return JSON.stringify(actor);
  const { sub, ...rest } = actor;
  const others = Object.entries(rest).map(([name, value]) => `${name}: ${display(value)}`);
  const name = typeof sub === 'string' ? sub : '(no sub)';
  return others.length ? `${name} (${others.join(', ')})` : name;
}

const TIMESTAMP_CLAIMS = new Set(['iat', 'exp', 'nbf', 'auth_time']);

function fieldLines(object: object): string[] {
  const entries = Object.entries(object).filter(([name]) => name !== 'act'); // drawn as the act chain instead
  const width = Math.max(0, ...entries.map(([name]) => name.length));
  return entries.map(([name, value]) => {
    const date = TIMESTAMP_CLAIMS.has(name) && typeof value === 'number' ? new Date(value * 1000) : undefined;
    const shown = date && !Number.isNaN(date.getTime()) ? `${value} (${date.toISOString()})` : display(value);
    return `  ${name.padEnd(width)}  ${shown}`;
  });
}

function display(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
