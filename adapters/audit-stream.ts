// The audit trail with Redis: every event is appended to one Redis Stream, and a consumer group that every
// instance joins moves entries to PostgreSQL, acknowledging each only after its INSERT. An issued token's event is
// in the stream before the token response is sent, so a SIGKILL loses none: whatever the dead instance had not yet
// relayed is pending in the group, and another instance (or this one restarted) claims it once it has sat idle.
// Relaying twice is harmless: rows carry the id they were recorded with, and the table stores each id once.
//
// Written here rather than with a queue library: the guarantee needs exactly these few stream commands against the
// Redis (or Cluster) connection the server already holds, and the libraries we looked at (BullMQ and the like) bring
// their own connections, job state and Lua scripts for far more than an append-only relay.
import { randomUUID } from 'node:crypto';
import type { AuditEvent, AuditLog } from './audit-log.ts';
import type { RedisClient } from './redis-connection.ts';

export interface AuditStreamOptions {
  /** Key prefix shared by every instance (REDIS_KEY_PREFIX). */
  prefix: string;
  /** How often the relay looks for new entries when the last pass found none (default 100 ms). */
  pollMs?: number;
  /** How long an entry may sit unacknowledged at another consumer before this one claims it (default 5000 ms). */
  claimIdleMs?: number;
  /** Entries moved per INSERT (default 500). */
  batch?: number;
  log: (line: string) => void;
}

/** What the provider's events are recorded through: the local AuditLog, or the Redis stream in front of it. */
export interface AuditTrail {
  /** Records without waiting; the event is written soon. */
  record(event: AuditEvent): void;
  /** Resolves once the event is durable (in the stream, or committed); rejects when it could not be made so. */
  recordDurably(event: AuditEvent): Promise<void>;
  /** Events recorded and not yet in PostgreSQL. */
  backlog(): number | Promise<number>;
  close(): Promise<void>;
}

type StreamEntry = [id: string, fields: string[]];

const GROUP = 'relay';
const FIELD = 'row';

export class RedisAuditStream implements AuditTrail {
  readonly #redis: RedisClient;
  readonly #local: AuditLog;
  readonly #key: string;
  readonly #consumer = randomUUID();
  readonly #pollMs: number;
  readonly #claimIdleMs: number;
  readonly #batch: number;
  readonly #log: (line: string) => void;
  #timer: NodeJS.Timeout | undefined;
  #pass: Promise<void> = Promise.resolve();
  #lastClaim = 0;
  #groupReady = false;
  #failing = false;
  #stopped = false;
  #length = 0;

  constructor(redis: RedisClient, local: AuditLog, options: AuditStreamOptions) {
    this.#redis = redis;
    this.#local = local;
    this.#key = `${options.prefix}audit:stream`;
    this.#pollMs = options.pollMs ?? 100;
    this.#claimIdleMs = options.claimIdleMs ?? 5000;
    this.#batch = options.batch ?? 500;
    this.#log = options.log;
    local.relayFrom(() => this.#relayAll());
    this.#schedule(0);
  }

  record(event: AuditEvent): void {
    const row = this.#local.toRow(event, randomUUID());
    // Not awaited by the request; if Redis refuses it, the local buffer writes it straight to PostgreSQL.
    this.#append(row).catch(() => this.#local.recordRowDurably(row).catch(() => undefined));
  }

  async recordDurably(event: AuditEvent): Promise<void> {
    const row = this.#local.toRow(event, randomUUID());
    try {
      await this.#append(row);
    } catch {
      // Redis refused the append: committed to PostgreSQL directly is just as durable. Only if both refuse does
      // the caller hear of it. The row's id keeps a late relay of the same append from storing it twice.
      await this.#local.recordRowDurably(row);
    }
  }

  backlog(): number {
    return this.#length + this.#local.backlog;
  }

  /** Stops relaying after one last pass over what is in the stream, then writes the local buffer. */
  async close(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#pass;
    await this.#relayAll().catch((error: Error) => this.#log(`audit: the last relay pass failed (${error.message}); another instance relays what is left`));
    await this.#local.close();
  }

  async #append(row: string): Promise<void> {
    await this.#redis.xadd(this.#key, '*', FIELD, row);
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#pass = this.#relayOnce().then(
        (moved) => this.#schedule(moved >= this.#batch ? 0 : this.#pollMs),
        () => this.#schedule(this.#pollMs * 10),
      );
    }, delayMs);
    this.#timer.unref();
  }

  async #relayAll(): Promise<void> {
    while ((await this.#relayOnce()) > 0);
  }

  /** One pass: this consumer's unacknowledged entries, else new ones, else those idle at a dead consumer. Answers how many moved. */
  async #relayOnce(): Promise<number> {
    try {
      if (!this.#groupReady) await this.#createGroup();
      let entries = await this.#read('0');
      if (entries.length === 0) entries = await this.#read('>');
      if (entries.length === 0 && Date.now() - this.#lastClaim >= Math.min(1000, this.#claimIdleMs)) {
        this.#lastClaim = Date.now();
        entries = await this.#claimIdle();
      }
      if (entries.length > 0) await this.#move(entries);
      this.#length = await this.#redis.xlen(this.#key);
      if (this.#failing) this.#log('audit: relaying events from the Redis stream to PostgreSQL again');
      this.#failing = false;
      return entries.length;
    } catch (error) {
      // Redis restarted without persistence: the group (and the stream) are gone with it; make them again.
      if (/NOGROUP/.test((error as Error).message)) this.#groupReady = false;
      if (!this.#failing) this.#log(`audit: relaying events from the Redis stream failed (${(error as Error).message}); they stay in the stream and are retried`);
      this.#failing = true;
      throw error;
    }
  }

  async #createGroup(): Promise<void> {
    try {
      // From the stream's start: entries appended before any relay existed are relayed too.
      await this.#redis.xgroup('CREATE', this.#key, GROUP, '0', 'MKSTREAM');
    } catch (error) {
      if (!/BUSYGROUP/.test((error as Error).message)) throw error;
    }
    this.#groupReady = true;
  }

  async #read(from: '0' | '>'): Promise<StreamEntry[]> {
    const answer = (await this.#redis.xreadgroup('GROUP', GROUP, this.#consumer, 'COUNT', this.#batch, 'STREAMS', this.#key, from)) as [string, StreamEntry[]][] | null;
    return answer?.[0]?.[1] ?? [];
  }

  async #claimIdle(): Promise<StreamEntry[]> {
    const [, entries] = (await this.#redis.xautoclaim(this.#key, GROUP, this.#consumer, this.#claimIdleMs, '0-0', 'COUNT', this.#batch)) as [string, StreamEntry[]];
    return entries;
  }

  async #move(entries: StreamEntry[]): Promise<void> {
    const rows = entries.map(([, fields]) => fields[fields.indexOf(FIELD) + 1]).filter((row): row is string => typeof row === 'string');
    if (rows.length > 0) await this.#local.writeRows(`[${rows.join(',')}]`);
    const ids = entries.map(([id]) => id);
    // Acknowledged only once stored; deleted so the stream holds only what is still on its way.
    await this.#redis.xack(this.#key, GROUP, ...ids);
    await this.#redis.xdel(this.#key, ...ids);
  }
}

/** The trail without Redis: the local AuditLog, its durable writes by group commit. */
export function localAuditTrail(audit: AuditLog): AuditTrail {
  return {
    record: (event) => audit.record(event),
    recordDurably: (event) => audit.recordDurably(event),
    backlog: () => audit.backlog,
    close: () => audit.close(),
  };
}
