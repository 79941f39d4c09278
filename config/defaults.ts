// Every tunable with its documented default, in one place (as oidc-provider's helpers/defaults.js does).

/** Token and session lifetimes, in seconds. */
export const lifetimes = {
  accessToken: 600,
  clientCredentials: 600,
  authorizationCode: 60,
  idToken: 3600,
  refreshToken: 14 * 24 * 3600,
  grant: 14 * 24 * 3600,
  /**
   * A sign-in at this server (the `_session` cookie and its record; SESSION_TTL). A working day rather than
   * oidc-provider's 14 days: a browser left signed in is an open door for every client that asks, and refresh
   * tokens granted without offline_access end with the session too.
   */
  session: 8 * 3600,
  interaction: 3600,
  /** Initial and registration access tokens for DCR (RFC 7591/7592) are long-lived credentials. */
  registrationAccessToken: 365 * 24 * 3600,
} as const;

/** Seconds of clock skew accepted on `exp`/`iat`/`nbf` everywhere (and added to storage TTLs). */
export const clockTolerance = 15;

/**
 * JWS algorithm for JWT access tokens unless the resource is registered with its own `signing_alg`. ES256: under a
 * third of RS256's signing cost (bench/jws-algorithms.ts: 90 vs 305 µs) and verified by every JOSE library. RFC 9068 §4 obliges
 * resource servers to support RS256 only, so a resource that cannot verify ES256 is registered with RS256.
 */
export const jwtAccessTokenAlg = 'ES256';

/** The largest form or JSON body our own endpoints read (oidc-provider caps its own at 56 KiB). */
export const maxBodyBytes = 56 * 1024;

/**
 * How long a Redis or PostgreSQL call may take (connecting included) before the dependency counts as
 * unavailable and the request is answered 503 temporarily_unavailable (DEPENDENCY_TIMEOUT_MS).
 */
export const dependencyTimeoutMs = 1000;

/** Redis key prefix for every key this server writes. */
export const redisKeyPrefix = 'agentauth:';

/**
 * Every JWS algorithm we sign or verify with. Asymmetric only: client secrets are stored hashed, so they cannot
 * be HMAC keys, and an HS* token "signed" with a public key must never verify. Ed25519 keys go by both names
 * (RFC 9864: `Ed25519`, and the older `EdDSA`).
 */
export const signingAlgorithms = ['RS256', 'PS256', 'ES256', 'EdDSA', 'Ed25519'] as const;

/** Delegation (RFC 8693) defaults; operators change them with DELEGATION_* settings and per-client policies. */
export const delegationDefaults = { maxDepth: 5, humanRootRequired: false, impersonation: false } as const;

/** The largest subject or actor token we read (bytes); anything longer is refused before parsing. */
export const maxPresentedTokenBytes = 16 * 1024;

/** JWS algorithms we accept in DPoP proofs (RFC 9449), advertised in both kinds of metadata. */
export const dpopSigningAlgorithms = ['ES256', 'EdDSA', 'Ed25519', 'PS256', 'RS256'] as const;

/**
 * Transaction tokens (draft-ietf-oauth-transaction-tokens): lifetime in seconds ("on the order of minutes or
 * less"), the largest `request_context` / `request_details` parameter and `rctx` / `tctx` claim in bytes, and
 * how old a workload's self_signed subject token may be.
 */
export const transactionTokenDefaults = { lifetime: 300, maxContextBytes: 4096, selfSignedMaxAge: 300 } as const;

/** JWS algorithm of the Txn-Tokens we sign: compact and fast to verify for every workload on the call chain. */
export const transactionTokenAlg = 'ES256';

/**
 * ID-JAGs we issue as an enterprise IdP: signed like Txn-Tokens, and living five minutes (the draft's examples;
 * "short-lived"), never beyond the ID token they were exchanged for.
 */
export const idJagAlg = 'ES256';
export const idJagLifetime = 300;

/**
 * Abuse limits (RATE_LIMIT_*), each `points` attempts per `window` seconds and then `block` seconds refused.
 * Chosen so that nobody who types or configures correctly ever meets them, and the attacks they answer cost
 * more than they can win:
 * - loginAddress: wrong passwords for one username from one address. Five is more than anyone mistypes in a
 *   row; 15 minutes makes online guessing from one address about 20 tries an hour.
 * - loginUsername: wrong passwords for one username from anywhere. Looser, with a short block that doubles
 *   each time it is reached again within a day (capped at `maxProgressiveBlock`): an attacker spread over many
 *   addresses slows to a crawl, while the real user is never locked out for longer than that cap.
 * - clientAuthAddress / clientAuth: failed client authentication at the token, introspection and revocation
 *   endpoints for one client_id, from one address and from anywhere; the same two tiers as the login form.
 * - clientRequests: requests one authenticated client makes at those endpoints (100 a second on average, a
 *   ceiling for a runaway agent rather than a quota).
 * - registration: anonymous dynamic client registrations (RFC 7591) from one address.
 */
export const rateLimitDefaults = {
  loginAddress: { points: 5, window: 900, block: 900 },
  loginUsername: { points: 20, window: 900, block: 60 },
  clientAuthAddress: { points: 10, window: 300, block: 300 },
  clientAuth: { points: 100, window: 300, block: 60 },
  clientRequests: { points: 6000, window: 60, block: 0 },
  registration: { points: 30, window: 600, block: 600 },
} as const;

/** The longest a progressive (per-username, per-client) block grows to, in seconds. */
export const maxProgressiveBlock = 900;

/**
 * The permission check (OpenID AuthZEN Authorization API 1.0, server/routes/access-evaluation.ts).
 * - scope: what a caller's access token must carry (for the resource `<issuer>/access/v1`).
 * - maxEvaluations: the most evaluations one boxcarred request may hold; the spec asks PDPs to guard against
 *   oversized payloads (Security Considerations, "Availability & Denial of Service"), and each evaluation costs store reads.
 */
export const authzenDefaults = { scope: 'authzen:evaluate', maxEvaluations: 100 } as const;

/** The OpenID Connect scopes we serve (oidc-provider's static `scopes`); resource scopes come from the resource registry. */
export const OIDC_SCOPES: readonly string[] = ['openid', 'offline_access', 'profile', 'email'];
