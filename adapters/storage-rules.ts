// What every storage adapter of ours does the same way, whatever the backend.
import { hash } from 'node:crypto';
import { decodeJwt } from 'jose';
import Provider, { errors } from 'oidc-provider';
import { clockTolerance } from '../config/defaults.ts';

/**
 * PostgreSQL text and jsonb cannot hold U+0000, nor a lone UTF-16 surrogate: an id with either names no row, and
 * must not reach a query, whose error would surface as a server error (server/storable-text.ts says more).
 */
export function isStorableText(text: string): boolean {
  return !text.includes('\u0000') && text.isWellFormed();
}

/** Models that are used once; a second `consume` must fail. */
export const CONSUMABLE = new Set(['AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest', 'PushedAuthorizationRequest', 'PreAuthorizedCode']);

/** Models whose records die with their grant; not Session or Interaction, which may carry a grantId too. */
export const GRANTABLE = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest', 'PreAuthorizedCode', 'ClientCredentials']);

/**
 * Storage keys are hashes of ids: an id is often a live bearer credential (access token, refresh token,
 * code, session id), and keys show up in monitoring, key scans and slow logs.
 */
export const hashId = (value: string): string => hash('sha256', value, 'base64url');

const NAMES: Record<string, string> = { RefreshToken: 'refresh token', AuthorizationCode: 'authorization code' };

/** The loser of a concurrent (or a later) redemption of a one-time artifact. */
export function alreadyConsumed(model: string): InstanceType<typeof errors.InvalidGrant> {
  const error = new errors.InvalidGrant(`${model} already consumed`);
  error.error_description = `${NAMES[model] ?? 'grant'} already used`;
  return error;
}

/**
 * A one-time artifact that was there when the request read it and is gone when it tries to use it: its grant was
 * revoked in between (a concurrent reuse did that), or it expired. Either way nothing may be issued from it.
 */
export function goneBeforeUse(model: string): InstanceType<typeof errors.InvalidGrant> {
  const error = new errors.InvalidGrant(`${model} gone before it was consumed`);
  error.error_description = `${NAMES[model] ?? 'grant'} is no longer valid`;
  return error;
}

/** RFC 9449 §11.1: a proof seen before is an invalid proof. */
function replayDetected(): InstanceType<typeof errors.InvalidDpopProof> {
  return new errors.InvalidDpopProof('DPoP proof JWT replay detected');
}

/**
 * How long a replay claim holds from the moment it is taken: as long as oidc-provider accepts a DPoP proof (its
 * 300 s window, lib/helpers/challenge.js) plus our clock tolerance. The later `upsert` only extends a claim that
 * must live longer (a client assertion with a distant `exp`), so the common DPoP proof costs one write, not two.
 */
export const REPLAY_CLAIM_SECONDS = 300 + clockTolerance;

/**
 * What the storage answers when a `ReplayDetection` id was already claimed. oidc-provider's
 * `ReplayDetection.unique()` reads before it writes; we make that read the atomic claim, so a loser, concurrent
 * or later, is told "seen" here. A client assertion's replay is then refused by oidc-provider itself with
 * `invalid_client` (RFC 7523 §3, RFC 6749 §5.2); a DPoP proof's is `invalid_dpop_proof` whatever the endpoint
 * (RFC 9449 §11.1), where oidc-provider would say `invalid_grant` at the token endpoint.
 */
export function replayedRecord(id: string): { jti: string } {
  if (isPresentedClientAssertion(id)) return { jti: id };
  throw replayDetected();
}

// ReplayDetection ids are sha256(iss + jti) (oidc-provider's lib/models/replay_detection.js); an assertion's iss is
// its client_id. Runs only for a replay, never on the path of a fresh request.
function isPresentedClientAssertion(id: string): boolean {
  const assertion = (Provider.ctx as { oidc?: { params?: { client_assertion?: unknown } } } | undefined)?.oidc?.params?.client_assertion;
  if (typeof assertion !== 'string') return false;
  try {
    const { iss, jti } = decodeJwt(assertion);
    return typeof iss === 'string' && typeof jti === 'string' && hashId(`${iss}${jti}`) === id;
  } catch {
    return false;
  }
}
