// What an operator may send about an agent, parsed once into typed values. Each rule that needs more than a
// shape (a key that really is a public key, default scopes inside the allowed patterns) names its field.
import { createPublicKey } from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { z } from 'zod';
import { clientDelegationPolicy, mayActStatement } from '../policy/delegation-policy.ts';
import { accessTokenLifetime, concreteScopeList, resourceList, scopePatternList } from '../policy/client-record.ts';
import { scopesNotAllowed } from '../policy/scope-patterns.ts';
import { InvalidField } from './http-error.ts';
import { organizationId } from './organization-id.ts';

const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

// Agents sign client assertions with Ed25519 or P-256 (RFC 7523, RFC 8037); RFC 9864 names the former either way.
const publicJwk = z
  .looseObject({
    kty: z.enum(['OKP', 'EC'], 'must be "OKP" (Ed25519) or "EC" (P-256)'),
    crv: z.string(),
    x: z.string().regex(/^[A-Za-z0-9_-]+$/, 'must be base64url').max(200),
    y: z.string().regex(/^[A-Za-z0-9_-]+$/, 'must be base64url').max(200).optional(),
    kid: z.string().min(1).max(200).optional(),
    alg: z.string().optional(),
    use: z.literal('sig', 'must be "sig"').optional(),
  })
  .superRefine((jwk, ctx) => {
    const secret = PRIVATE_JWK_MEMBERS.find((member) => member in jwk);
    if (secret) ctx.addIssue({ code: 'custom', path: [secret], message: 'is private key material; register only the public key' });
    if (jwk.kty === 'OKP' && jwk.crv !== 'Ed25519') ctx.addIssue({ code: 'custom', path: ['crv'], message: 'must be "Ed25519" for an OKP key' });
    if (jwk.kty === 'EC' && jwk.crv !== 'P-256') ctx.addIssue({ code: 'custom', path: ['crv'], message: 'must be "P-256" for an EC key' });
    if (jwk.kty === 'EC' && !jwk.y) ctx.addIssue({ code: 'custom', path: ['y'], message: 'is required for an EC key' });
    const algs = jwk.kty === 'OKP' ? ['EdDSA', 'Ed25519'] : ['ES256'];
    if (jwk.alg !== undefined && !algs.includes(jwk.alg)) ctx.addIssue({ code: 'custom', path: ['alg'], message: `must be ${algs.join(' or ')} for this key` });
  });

export const jwksInput = z.strictObject({ keys: z.array(publicJwk).min(1, 'must hold at least one key').max(10) });

// The same shapes as a registered client's record members (policy/client-record.ts).
const scopePatterns = scopePatternList;
const concreteScopes = concreteScopeList;
const resources = resourceList.nullable();
const ttl = accessTokenLifetime.nullable();

export const createAgentInput = z.strictObject({
  name: z.string().trim().min(1, 'is required').max(200),
  description: z.string().max(2000).optional(),
  owner: z.string().min(1, 'is required').max(200),
  scopes: scopePatterns,
  default_scopes: concreteScopes.default([]),
  resources: resources.default(null),
  access_token_ttl: ttl.default(null),
  token_endpoint_auth_method: z.enum(['private_key_jwt', 'client_secret_basic', 'client_secret_post']).optional(),
  jwks: jwksInput.optional(),
  delegation_policy: clientDelegationPolicy.nullable().default(null),
  may_act: mayActStatement.nullable().default(null),
  // Absent: the default organization. The owner must belong to the same one.
  org_id: organizationId.optional(),
});

export const updateAgentInput = z.strictObject({
  name: z.string().trim().min(1).max(200).optional(),
  description: z.string().max(2000).nullable().optional(),
  owner: z.string().min(1).max(200).optional(),
  scopes: scopePatterns.optional(),
  default_scopes: concreteScopes.optional(),
  resources: resources.optional(),
  access_token_ttl: ttl.optional(),
  delegation_policy: clientDelegationPolicy.nullable().optional(),
  may_act: mayActStatement.nullable().optional(),
  // Moves the agent to another organization (server/routes/admin-agents.ts says what must move with it).
  org_id: organizationId.optional(),
});

export const rotateCredentialsInput = z.strictObject({
  jwks: jwksInput.optional(),
  // At most 30 days: a grace period is for a rollout, not for keeping two keys forever.
  grace_period_seconds: z.number().int().min(0).max(30 * 24 * 3600).default(0),
});

/** Every default scope must be one the agent's patterns allow, or the agent could never use its defaults. */
export function checkDefaultScopes(defaults: string[], patterns: string[]): void {
  const [outside] = scopesNotAllowed(defaults, patterns);
  if (outside !== undefined) throw new InvalidField('default_scopes', `"${outside}" is not allowed by the agent's scopes`);
}

/**
 * The public keys as they will be stored: only the members that describe a public signing key, each with a
 * `kid` (its RFC 7638 thumbprint when the operator gave none), checked to be a real point on its curve, with
 * no kid repeated among `existingKids`.
 */
export async function normalizePublicJwks(jwks: z.infer<typeof jwksInput>, existingKids: string[] = []): Promise<JWK[]> {
  const kids = new Set(existingKids);
  const normalized: JWK[] = [];
  for (const [index, key] of jwks.keys.entries()) {
    const jwk: JWK = { kty: key.kty, crv: key.crv, x: key.x, ...(key.y ? { y: key.y } : {}) };
    try {
      createPublicKey({ key: jwk as never, format: 'jwk' });
    } catch {
      throw new InvalidField(`jwks.keys.${index}`, 'is not a valid public key');
    }
    // Node checks an EC key's point but only an Ed25519 key's length; a key off the curve verifies nothing.
    if (jwk.kty === 'OKP' && !isEd25519Point(Buffer.from(jwk.x!, 'base64url'))) {
      throw new InvalidField(`jwks.keys.${index}`, 'is not a valid public key (not a point on Ed25519)');
    }
    jwk.kid = key.kid ?? (await calculateJwkThumbprint(jwk, 'sha256'));
    if (kids.has(jwk.kid)) throw new InvalidField(`jwks.keys.${index}.kid`, `"${jwk.kid}" is already used by another key of this agent`);
    kids.add(jwk.kid);
    // No `alg` is stored: an Ed25519 key then verifies assertions signed as `EdDSA` and as `Ed25519` (RFC 9864).
    jwk.use = 'sig';
    normalized.push(jwk);
  }
  return normalized;
}

// RFC 8032 §5.1.3 point decoding, reduced to "does it decode": y < p, and (y² − 1)/(d·y² + 1) has a square root
// (and is not zero when the sign bit asks for a negative x).
const P = 2n ** 255n - 19n;
const modPow = (base: bigint, exponent: bigint): bigint => {
  let result = 1n;
  let b = ((base % P) + P) % P;
  for (let e = exponent; e > 0n; e >>= 1n, b = (b * b) % P) if (e & 1n) result = (result * b) % P;
  return result;
};
const D = (((-121665n * modPow(121666n, P - 2n)) % P) + P) % P;

function isEd25519Point(encoded: Buffer): boolean {
  if (encoded.length !== 32) return false;
  const bytes = Buffer.from(encoded);
  const xSign = bytes[31] >> 7;
  bytes[31] &= 0x7f;
  const y = BigInt(`0x${Buffer.from(bytes).reverse().toString('hex')}`);
  if (y >= P) return false;
  const y2 = (y * y) % P;
  const x2 = ((y2 - 1n + P) % P) * modPow((D * y2 + 1n) % P, P - 2n) % P;
  if (x2 === 0n) return xSign === 0;
  return modPow(x2, (P - 1n) / 2n) === 1n;
}
