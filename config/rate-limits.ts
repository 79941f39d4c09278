// RATE_LIMIT_* values: `<points>/<window seconds>[/<block seconds>]`, or `off`. Parsed once at start into the
// limits the throttles are built from (server/throttles.ts); the defaults and why are in config/defaults.ts.
import { rateLimitDefaults } from './defaults.ts';

export interface RateLimit {
  /** Attempts allowed per window. */
  points: number;
  /** Seconds the count runs over. */
  window: number;
  /** Seconds refused once over (0: until the window ends). */
  block: number;
}

export type RateLimitName = keyof typeof rateLimitDefaults;
/** `undefined`: that limit is off. */
export type RateLimits = Record<RateLimitName, RateLimit | undefined>;

/** The variable each limit is configured by. */
export const RATE_LIMIT_VARIABLES: Record<RateLimitName, string> = {
  loginAddress: 'RATE_LIMIT_LOGIN_ADDRESS',
  loginUsername: 'RATE_LIMIT_LOGIN_USERNAME',
  clientAuthAddress: 'RATE_LIMIT_CLIENT_AUTH_ADDRESS',
  clientAuth: 'RATE_LIMIT_CLIENT_AUTH',
  clientRequests: 'RATE_LIMIT_CLIENT_REQUESTS',
  registration: 'RATE_LIMIT_REGISTRATION',
};

const SPEC = /^(\d{1,9})\/(\d{1,7})(?:\/(\d{1,7}))?$/;
const MAX_SECONDS = 30 * 24 * 3600;

/** One value; throws an Error whose message says what is wrong (the caller names the variable). */
export function parseRateLimit(value: string, fallback: RateLimit): RateLimit | undefined {
  if (value === 'off') return undefined;
  const match = SPEC.exec(value);
  if (!match) throw new Error('must be <points>/<window seconds>[/<block seconds>] or off');
  const [points, window, block] = [Number(match[1]), Number(match[2]), match[3] === undefined ? fallback.block : Number(match[3])];
  if (points < 1) throw new Error('points must be at least 1');
  if (window < 1 || window > MAX_SECONDS || block > MAX_SECONDS) throw new Error(`seconds must be between 1 and ${MAX_SECONDS}`);
  return { points, window, block };
}

/** Every limit from an environment: the default where the variable is unset. */
export function rateLimitsFrom(read: (variable: string) => string | undefined, fail: (variable: string, message: string) => never): RateLimits {
  const limits = {} as RateLimits;
  for (const [name, variable] of Object.entries(RATE_LIMIT_VARIABLES) as [RateLimitName, string][]) {
    const value = read(variable);
    try {
      limits[name] = value === undefined ? { ...rateLimitDefaults[name] } : parseRateLimit(value, rateLimitDefaults[name]);
    } catch (error) {
      fail(variable, (error as Error).message);
    }
  }
  return limits;
}
