// External issuers whose JWTs token exchange (RFC 8693) accepts as subject or actor tokens, from the operator's
// TRUSTED_ISSUERS variable (a JSON array). Parsed once at start; a bad element stops the process with one line
// naming it, as for every other setting.
import { z } from 'zod';
import { organizationId } from '../server/organization-id.ts';

/**
 * The JWS algorithms an external issuer may sign with. Only asymmetric ones: we verify against the issuer's
 * public JWKS, and an HMAC "verified" with public key bytes would accept tokens anyone can forge.
 */
export const asymmetricJwsAlgorithms = [
  'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519',
] as const;

export type AsymmetricJwsAlgorithm = (typeof asymmetricJwsAlgorithms)[number];

export const defaultTrustedIssuerAlgorithms: readonly AsymmetricJwsAlgorithm[] = ['RS256', 'PS256', 'ES256', 'EdDSA', 'Ed25519'];

export interface TrustedIssuerConfig {
  /** Compared exactly with the token's `iss`. */
  issuer: string;
  jwksUri: string;
  /** The token's `aud` must contain at least one of these. */
  audiences: string[];
  /** The claim naming the principal. */
  subjectClaim: string;
  /** Prepended to the principal, so an external subject cannot pass for a local user id. */
  subjectPrefix: string;
  algorithms: AsymmetricJwsAlgorithm[];
  /** Refuse tokens whose `iat` is older than this, even when `exp` is still ahead. */
  maxTokenAgeSeconds?: number;
  /** A space-delimited string claim; an array `scp` claim is read when this one is absent. */
  scopeClaim: string;
  /**
   * Set when this issuer is an enterprise IdP whose Identity Assertion JWT Authorization Grants (ID-JAG) the
   * jwt-bearer grant accepts (grants/jwt-bearer.ts).
   */
  idJag?: IdJagTrust;
  /**
   * The organization this issuer's subjects belong to (issuance/token-organization.ts): tokens for them are of
   * that organization. Absent: they belong to none, and a token for one is of the requesting client's organization.
   */
  orgId?: string;
}

/**
 * Whose access token an ID-JAG gives: `external`, the IdP's subject with the entry's prefix (no local user);
 * `email`, the one local user whose email is the ID-JAG's `email` claim (the draft recommends `email` for
 * subject resolution); `just_in_time`, that user, created on first use when there is none.
 */
export const idJagUserMappings = ['external', 'email', 'just_in_time'] as const;
export type IdJagUserMapping = (typeof idJagUserMappings)[number];

export interface IdJagTrust {
  /** Our client_ids the IdP may name in an ID-JAG's `client_id`; `*` for any. */
  clients: string[];
  users: IdJagUserMapping;
  /** An ID-JAG older than this (by `iat`) is refused, whatever its `exp` says: they are meant to live minutes. */
  maxAgeSeconds: number;
}

/** Default ID-JAG age limit: the draft's examples issue them for 300 seconds. */
export const defaultIdJagMaxAgeSeconds = 300;

export class TrustedIssuerConfigError extends Error {
  /** Where the problem is, as `[1].jwks_uri`; empty for the whole value. */
  readonly path: string;

  constructor(path: string, problem: string) {
    super(path ? `${path}: ${problem}` : problem);
    this.name = 'TrustedIssuerConfigError';
    this.path = path;
  }
}

const requiredString = (what: string) =>
  z.string({ error: (issue) => (issue.input === undefined ? 'is required' : `must be ${what}`) }).min(1, `must be ${what}`);

function isLoopback(hostname: string): boolean {
  // WHATWG URL parsing has already normalised `127.1`, `0x7f.0.0.1` and friends to dotted decimal.
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

const jwksUri = z
  .string({ error: (issue) => (issue.input === undefined ? 'is required' : 'must be a string') })
  .refine((value) => {
    try {
      const url = new URL(value);
      // Plain http would let anyone on the path substitute the keys; loopback is for local development and tests.
      return url.protocol === 'https:' || (url.protocol === 'http:' && isLoopback(url.hostname));
    } catch {
      return false;
    }
  }, 'must be an https URL (or http on loopback)')
  // fetch() refuses URLs with credentials, so such a URL would fail on every token instead of at start.
  .refine((value) => !URL.canParse(value) || (!new URL(value).username && !new URL(value).password), 'must not contain a username or password');

function algorithmProblem(value: unknown): string {
  if (value === 'none') return '"none" is not allowed: tokens must be signed';
  if (typeof value === 'string' && /^HS\d+$/.test(value)) return `"${value}" is symmetric; only algorithms verifiable with the issuer's public keys are allowed`;
  return `must be one of ${asymmetricJwsAlgorithms.join(', ')}`;
}

const algorithm = z.enum(asymmetricJwsAlgorithms, { error: (issue) => algorithmProblem(issue.input) });

export const trustedIssuerSchema = z
  .strictObject({
    issuer: requiredString('a non-empty string'),
    jwks_uri: jwksUri,
    // Required unless the issuer is trusted for ID-JAGs only (their audience is always our issuer).
    audiences: z
      .array(requiredString('a non-empty string'), { error: (issue) => (issue.input === undefined ? 'is required' : 'must be an array of strings') })
      .min(1, 'must name at least one audience')
      .optional(),
    subject_claim: requiredString('a non-empty string').default('sub'),
    // No default: an empty prefix lets the issuer's subjects pass for local user ids, which only an operator who
    // shares user ids with that issuer should choose, explicitly.
    subject_prefix: z.string({ error: (issue) => (issue.input === undefined ? 'is required (use "" only if this issuer shares your user ids)' : 'must be a string') }),
    algorithms: z
      .array(algorithm, { error: 'must be an array of algorithm names' })
      .min(1, 'must name at least one algorithm')
      .default([...defaultTrustedIssuerAlgorithms]),
    max_token_age_seconds: z.number({ error: 'must be a positive integer (seconds)' }).int('must be a positive integer (seconds)').positive('must be a positive integer (seconds)').optional(),
    scope_claim: requiredString('a non-empty string').default('scope'),
    id_jag: z.strictObject({
      clients: z.array(requiredString('a client_id or "*"'), { error: 'must be an array of client_ids (or ["*"])' }).min(1, 'must name at least one client_id (or "*")'),
      max_age_seconds: z.number({ error: 'must be a positive integer (seconds)' }).int('must be a positive integer (seconds)').positive('must be a positive integer (seconds)').max(3600, 'must be at most 3600: ID-JAGs are short-lived').default(defaultIdJagMaxAgeSeconds),
      users: z.enum(idJagUserMappings, { error: `must be one of ${idJagUserMappings.map((m) => `"${m}"`).join(', ')}` }).default('external'),
    }, { error: (issue) => (issue.code === 'invalid_type' ? 'must be an object' : undefined) }).optional(),
    org_id: organizationId.optional(),
  }, { error: (issue) => (issue.code === 'invalid_type' ? 'must be an object' : undefined) })
  .refine((v) => v.audiences !== undefined || v.id_jag !== undefined, { path: ['audiences'], message: 'is required (unless the issuer is trusted for ID-JAGs only, with id_jag)' })
  // The prefix is how a subject is known to be this issuer's; without one its subjects are local user ids, which
  // have their own organization.
  .refine((v) => v.org_id === undefined || v.subject_prefix !== '', { path: ['org_id'], message: 'needs a non-empty subject_prefix, by which its subjects are told apart' })
  .transform((v): TrustedIssuerConfig => ({
    issuer: v.issuer,
    jwksUri: v.jwks_uri,
    audiences: v.audiences ?? [],
    subjectClaim: v.subject_claim,
    subjectPrefix: v.subject_prefix,
    algorithms: [...new Set(v.algorithms)],
    maxTokenAgeSeconds: v.max_token_age_seconds,
    scopeClaim: v.scope_claim,
    ...(v.id_jag ? { idJag: { clients: v.id_jag.clients, maxAgeSeconds: v.id_jag.max_age_seconds, users: v.id_jag.users } } : {}),
    ...(v.org_id ? { orgId: v.org_id } : {}),
  }));

export const trustedIssuersSchema = z
  .array(trustedIssuerSchema, { error: 'must be a JSON array of trusted issuers' })
  .superRefine((configs, ctx) => {
    // Two entries for one issuer would make it ambiguous which keys and audiences apply.
    const seen = new Map<string, number>();
    configs.forEach((config, index) => {
      const first = seen.get(config.issuer);
      if (first === undefined) seen.set(config.issuer, index);
      else ctx.addIssue({ code: 'custom', path: [index, 'issuer'], message: `duplicates [${first}].issuer` });
    });
    // Subjects are told apart by prefix: one prefix cannot stand for two organizations.
    configs.forEach((config, index) => {
      const other = configs.findIndex((candidate) => candidate.subjectPrefix === config.subjectPrefix && candidate.orgId !== config.orgId && (candidate.orgId ?? config.orgId) !== undefined);
      if (other !== -1 && other < index) ctx.addIssue({ code: 'custom', path: [index, 'org_id'], message: `[${other}] has the same subject_prefix with another organization` });
    });
  });

function formatPath(path: readonly PropertyKey[]): string {
  return path.map((segment) => (typeof segment === 'number' ? `[${segment}]` : `.${String(segment)}`)).join('').replace(/^\./, '');
}

/**
 * Parses the TRUSTED_ISSUERS value. Blank means none, as an empty variable means unset everywhere else.
 * Throws TrustedIssuerConfigError naming the first bad element or member.
 */
export function parseTrustedIssuers(json: string): TrustedIssuerConfig[] {
  if (!json.trim()) return [];
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (error) {
    throw new TrustedIssuerConfigError('', `is not valid JSON (${(error as Error).message.split('\n')[0]})`);
  }
  const parsed = trustedIssuersSchema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  if (issue.code === 'unrecognized_keys') {
    throw new TrustedIssuerConfigError(formatPath([...issue.path, issue.keys[0]]), 'is not a known member');
  }
  throw new TrustedIssuerConfigError(formatPath(issue.path), issue.message);
}
