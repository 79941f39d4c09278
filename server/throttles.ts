// The abuse limits as the server applies them (issue: hostile clients). Guessing is limited in two tiers, for the
// sign-in form (username) and for client authentication (client_id): per name and source address, strict; per
// name from anywhere, looser, with a block that doubles each time it is reached again within a day, so an
// attacker spread over many addresses slows to a crawl while the real owner of the name waits at most
// `maxProgressiveBlock`. Anonymous registration is limited per address, and authenticated clients' requests per
// client. Limits are data (config/rate-limits.ts); the counters are shared through Redis when there is one.
import { maxProgressiveBlock } from '../config/defaults.ts';
import type { RateLimit, RateLimits } from '../config/rate-limits.ts';
import { RateCounter, type CounterStore, type Counting } from '../adapters/rate-limit-counters.ts';

/** Who is guessing: the name guessed at (username, client_id) and where from. */
export interface Guesser {
  name: string;
  address: string;
}

/** How long to refuse, in whole seconds for Retry-After (RFC 9110 §10.2.3); 0 when allowed. */
export const retryAfterSeconds = (refusedMs: number): number => (refusedMs > 0 ? Math.ceil(refusedMs / 1000) : 0);

/** The block for the `strike`-th time a name reached its limit within a day: doubling, capped. */
export function progressiveBlock(base: number, strike: number, cap = maxProgressiveBlock): number {
  return Math.min(Math.max(base, 1) * 2 ** Math.max(0, Math.min(strike - 1, 30)), Math.max(cap, base));
}

const DAY = 24 * 3600;

export class GuessThrottle {
  readonly #byAddress: RateCounter | undefined;
  readonly #byName: RateCounter | undefined;
  readonly #strikes: RateCounter | undefined;

  /** `counting`: whether attempts are counted before they are checked (`attempt`) or after they failed (`failed`). */
  constructor(name: string, limits: { byAddress?: RateLimit; byName?: RateLimit }, store: CounterStore, counting: Counting) {
    this.#byAddress = limits.byAddress && new RateCounter(`${name}-address`, limits.byAddress, store, counting);
    this.#byName = limits.byName && new RateCounter(`${name}-name`, limits.byName, store, counting);
    // How often the per-name limit was reached today; never refuses by itself.
    this.#strikes = limits.byName?.block ? new RateCounter(`${name}-strikes`, { points: 1_000_000, window: DAY, block: 0 }, store) : undefined;
  }

  /** Milliseconds `guesser` must wait before another attempt (0: go ahead). Counts nothing. */
  async refusedFor(guesser: Guesser): Promise<number> {
    const [address, name] = await Promise.all([
      this.#byAddress?.refusedFor(addressKey(guesser)) ?? 0,
      this.#byName?.refusedFor(guesser.name) ?? 0,
    ]);
    return Math.max(address, name);
  }

  /**
   * Counts one attempt; the wait when it is over a limit. Attempts are counted as the throttle was built to
   * (`counting`): before they are checked (the sign-in form, where checking costs a scrypt derivation, so concurrent
   * attempts cannot pass the limit together; a refused one must then not be checked), or once they failed (client
   * authentication). A successful attempt is then `succeeded`.
   */
  async attempt(guesser: Guesser): Promise<number> {
    // An attempt the address tier refuses is not held against the name: one address hammering on cannot
    // extend the block everyone else meets.
    const address = await this.#byAddress?.consume(addressKey(guesser));
    if (address?.refusedMs) return address.refusedMs;
    const name = await this.#byName?.consume(guesser.name);
    if (!name?.crossed || !this.#byName || !this.#strikes) return name?.refusedMs ?? 0;
    const { consumed: strike } = await this.#strikes.consume(guesser.name);
    const seconds = progressiveBlock(this.#byName.limit.block, strike);
    if (seconds > this.#byName.limit.block) await this.#byName.block(guesser.name, seconds);
    return seconds * 1000;
  }

  /** The name's owner got in from this address: that address starts afresh, and the attempt is not held against the name. */
  async succeeded(guesser: Guesser): Promise<void> {
    await Promise.all([this.#byAddress?.reset(addressKey(guesser)), this.#byName?.refund(guesser.name)]);
  }
}

/** A plain limit on one key's attempts (anonymous registration per address, requests per client). */
export class RequestThrottle {
  readonly #counter: RateCounter | undefined;

  constructor(name: string, limit: RateLimit | undefined, store: CounterStore, counting: Counting) {
    this.#counter = limit && new RateCounter(name, limit, store, counting);
  }

  refusedFor(key: string): Promise<number> {
    return this.#counter ? this.#counter.refusedFor(key) : Promise.resolve(0);
  }

  /** Counts one; the wait when this one is over the limit. */
  async count(key: string): Promise<number> {
    return this.#counter ? (await this.#counter.consume(key)).refusedMs : 0;
  }
}

export interface Throttles {
  login: GuessThrottle;
  clientAuth: GuessThrottle;
  clientRequests: RequestThrottle;
  registration: RequestThrottle;
}

export function createThrottles(limits: RateLimits, store: CounterStore): Throttles {
  return {
    login: new GuessThrottle('login', { byAddress: limits.loginAddress, byName: limits.loginUsername }, store, 'before'),
    clientAuth: new GuessThrottle('client-auth', { byAddress: limits.clientAuthAddress, byName: limits.clientAuth }, store, 'after'),
    clientRequests: new RequestThrottle('client-requests', limits.clientRequests, store, 'after'),
    registration: new RequestThrottle('registration', limits.registration, store, 'before'),
  };
}

// NUL separates: it cannot occur in a username we store or in an address.
const addressKey = (guesser: Guesser) => `${guesser.name}\u0000${guesser.address}`;
