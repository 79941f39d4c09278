// What every storage adapter of ours does the same way, whatever the backend.
import { hash } from 'node:crypto';
import { errors } from 'oidc-provider';

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

/** RFC 9449 §11.1: a proof seen before is an invalid proof. */
export function replayDetected(): InstanceType<typeof errors.InvalidDpopProof> {
  return new errors.InvalidDpopProof('DPoP proof JWT replay detected');
}
