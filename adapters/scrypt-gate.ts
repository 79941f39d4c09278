// Bounds how many scrypt derivations run at once. scrypt runs on libuv's threadpool (UV_THREADPOOL_SIZE, default
// 4), the same pool WebCrypto signing and zlib use: 32 concurrent wrong passwords would otherwise occupy every
// thread for seconds and queue token signing behind them. Admitting at most `concurrency` derivations (default 1,
// always below the pool size) leaves the other threads to signing; a bounded queue sheds the rest with 503 instead
// of growing memory (each derivation needs 32 MiB). Hand-written because it is a counter and a FIFO, and a worker
// pool library (piscina) would add a second pool of threads doing what libuv's already does.

export class PasswordHashingBusy extends Error {
  readonly statusCode = 503;
  readonly error = 'temporarily_unavailable';
  readonly error_description = 'too many sign-in attempts are being checked right now; try again in a moment';
  constructor() {
    super('password hashing queue is full');
    this.name = 'PasswordHashingBusy';
  }
}

export interface ScryptGateLimits {
  /** Derivations running at once; keep below UV_THREADPOOL_SIZE so signing always has a thread. */
  concurrency: number;
  /** Derivations waiting; beyond this a request is refused with PasswordHashingBusy. */
  queue: number;
}

export class ScryptGate {
  #running = 0;
  readonly #waiting: Array<() => void> = [];
  #limits: ScryptGateLimits;

  constructor(limits: ScryptGateLimits) {
    this.#limits = limits;
  }

  /** The server sets its limits at start, from SCRYPT_CONCURRENCY and SCRYPT_QUEUE (config/settings.ts). */
  configure(limits: ScryptGateLimits): void {
    this.#limits = { ...limits };
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.#running >= this.#limits.concurrency) {
      if (this.#waiting.length >= this.#limits.queue) throw new PasswordHashingBusy();
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    } else {
      this.#running += 1;
    }
    try {
      return await work();
    } finally {
      // Hand the slot straight to the next waiter (the count stays), or give it back.
      const next = this.#waiting.shift();
      if (next) next();
      else this.#running -= 1;
    }
  }
}

/** SCRYPT_CONCURRENCY and SCRYPT_QUEUE when unset. */
export const scryptGateDefaults: ScryptGateLimits = { concurrency: 1, queue: 64 };

/** Process-wide gate (one per process, as the threadpool it protects is); startServer configures it. */
export const scryptGate = new ScryptGate(scryptGateDefaults);
