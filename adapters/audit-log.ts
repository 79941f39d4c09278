// The audit trail: who did what, for which client, with what outcome. Most events must never slow down or fail the
// request being audited, so they are buffered in memory and written in batches; a failed write keeps them
// buffered for the next attempt, and a clean shutdown writes everything that was recorded. An issued token's
// event must survive a crash, so `recordDurably` resolves only once the batch holding it is committed (group
// commit: the requests of one moment share one INSERT). With Redis, events go to a stream first (audit-stream.ts).
import { sql, type Selectable } from 'kysely';
import type { AuditEventsTable, Database, JsonObject } from './database.ts';
import { JsonRowQueue } from './json-row-queue.ts';
import { decodeCursor, toPage, type Page, type PageRequest } from './pagination.ts';

export interface AuditEvent {
  /** What happened, e.g. `token.issued`, `client.registered`, `login.failed`. */
  event: string;
  clientId?: string;
  subject?: string;
  /** Who acted, when not the subject itself (e.g. an agent in a delegated token exchange). */
  actor?: JsonObject;
  outcome: 'success' | 'failure';
  reason?: string;
  requestId?: string;
  sourceIp?: string;
  details?: JsonObject;
  /** The organization the event is about: the token's `org_id`, the organization of the agent changed. */
  orgId?: string;
  /** When it happened; defaults to the moment `record` is called. */
  at?: Date;
}

export interface AuditRecord {
  id: string;
  at: Date;
  event: string;
  clientId: string | null;
  subject: string | null;
  actor: JsonObject | null;
  outcome: 'success' | 'failure';
  reason: string | null;
  requestId: string | null;
  sourceIp: string | null;
  details: JsonObject | null;
  orgId: string | null;
}

export interface AuditQuery extends PageRequest {
  clientId?: string;
  orgId?: string;
  event?: string;
  /** Inclusive. */
  from?: Date;
  /** Exclusive. */
  to?: Date;
}

export interface AuditLogOptions {
  /** How often buffered events are written (default 1000 ms). */
  flushIntervalMs?: number;
  /** Events per INSERT; a full batch is written without waiting for the timer (default 100). */
  maxBatch?: number;
  /** Where write failures and dropped fields are reported (default: stderr). */
  log?: (line: string) => void;
}

type Position = [at: number, id: string];

export class AuditLog {
  readonly #db: Database;
  readonly #maxBatch: number;
  readonly #flushIntervalMs: number;
  readonly #log: (line: string) => void;
  readonly #timer: NodeJS.Timeout;
  readonly #pending = new JsonRowQueue();
  /** Flushes run one after another, so each batch is taken from the head of the buffer exactly once. */
  #queue: Promise<void> = Promise.resolve();
  #queued = 0;
  #failing = false;
  #closed = false;
  /** Rows ever buffered, and ever taken off the buffer (written, or refused by the database for their data). */
  #recorded = 0;
  #done = 0;
  /** recordDurably callers, oldest first, each waiting for its row's position to be done. */
  #waiters: { position: number; resolve: () => void; reject: (error: Error) => void }[] = [];
  #commitScheduled = false;
  #upstream: (() => Promise<void>) | undefined;

  constructor(db: Database, options: AuditLogOptions = {}) {
    this.#db = db;
    this.#maxBatch = options.maxBatch ?? 100;
    this.#flushIntervalMs = options.flushIntervalMs ?? 1000;
    this.#log = options.log ?? ((line) => console.error(line));
    this.#timer = setInterval(() => this.#flushInBackground(), this.#flushIntervalMs);
    // Buffered events must not keep a process alive; close() writes them on shutdown.
    this.#timer.unref();
  }

  /** Buffers the event and returns at once; it is written within `flushIntervalMs`. */
  record(event: AuditEvent): void {
    if (this.#closed) {
      this.#log(`audit: "${event.event}" event recorded after the audit log was closed; not stored`);
      return;
    }
    this.#push(this.toRow(event));
    // While writes are failing, the timer paces the retries instead of every new event.
    if (this.#pending.length >= this.#maxBatch && !this.#failing) this.#flushInBackground();
  }

  /**
   * Buffers the event and resolves once it is committed; rejects if the write fails (the event stays buffered
   * and is written by a later attempt, so the caller may answer with an error but the trail keeps the event).
   * Callers of the same moment share one INSERT.
   */
  recordDurably(event: AuditEvent): Promise<void> {
    return this.recordRowDurably(this.toRow(event));
  }

  /** recordDurably for a row built by `toRow`. */
  recordRowDurably(row: string): Promise<void> {
    if (this.#closed) return Promise.reject(new Error('the audit log is closed'));
    this.#push(row);
    const position = this.#recorded;
    const written = new Promise<void>((resolve, reject) => this.#waiters.push({ position, resolve, reject }));
    if (!this.#commitScheduled) {
      this.#commitScheduled = true;
      // After the current turn of the event loop, so every request finishing now joins the same batch.
      setImmediate(() => {
        this.#commitScheduled = false;
        this.#flushLocal().catch((error: Error) => this.#failWaiters(error));
      });
    }
    return written;
  }

  /**
   * Writes rows built by `toRow` (a JSON array) at once, skipping any whose `event_id` is already stored: the
   * relay from the Redis stream may deliver an event twice, never store it twice.
   */
  async writeRows(rows: string): Promise<void> {
    try {
      await this.#insert(rows);
    } catch (error) {
      if (!isRejectedData(error)) throw error;
      // As in #insertOneByOne: a row the database will never take must not hold back the others forever.
      for (const row of JSON.parse(rows) as unknown[]) {
        try {
          await this.#insert(JSON.stringify([row]));
        } catch (rowError) {
          if (!isRejectedData(rowError)) throw rowError;
          this.#log(`audit: the database rejected a relayed event, which is not stored (${(rowError as Error).message})`);
        }
      }
    }
  }

  #push(row: string): void {
    this.#pending.push(row);
    this.#recorded += 1;
  }

  #taken(count: number): void {
    this.#pending.drop(count);
    this.#done += count;
    while (this.#waiters.length > 0 && this.#waiters[0].position <= this.#done) this.#waiters.shift()!.resolve();
  }

  #failWaiters(error: Error): void {
    const waiting = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiting) waiter.reject(error);
  }

  /** Events recorded and not yet written. */
  get backlog(): number {
    return this.#pending.length;
  }

  /**
   * Something that holds events on their way here (the Redis stream): `flush` moves them first, so that after it
   * every event recorded anywhere so far is in the table.
   */
  relayFrom(upstream: () => Promise<void>): void {
    this.#upstream = upstream;
  }

  /** Writes every event recorded so far; rejects (keeping them buffered) if the database refuses the write. */
  async flush(): Promise<void> {
    await this.#upstream?.();
    return this.#flushLocal();
  }

  #flushLocal(): Promise<void> {
    this.#queued += 1;
    const run = this.#queue.then(() => this.#drain()).finally(() => {
      this.#queued -= 1;
    });
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** Stops the timer and writes everything still buffered. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#upstream = undefined;
    await this.#flushLocal();
  }

  /** Events newest first. */
  async query({ clientId, orgId, event, from, to, limit, cursor }: AuditQuery): Promise<Page<AuditRecord>> {
    let query = this.#db.selectFrom('audit_events').selectAll().orderBy('at', 'desc').orderBy('id', 'desc').limit(limit + 1);
    if (clientId !== undefined) query = query.where('client_id', '=', clientId);
    if (orgId !== undefined) query = query.where('org_id', '=', orgId);
    if (event !== undefined) query = query.where('event', '=', event);
    if (from !== undefined) query = query.where('at', '>=', from);
    if (to !== undefined) query = query.where('at', '<', to);
    if (cursor !== undefined) {
      const [at, id] = decodeCursor(cursor, isPosition);
      query = query.where((eb) => eb(eb.refTuple('at', 'id'), '<', eb.tuple(new Date(at), id)));
    }
    return toPage(await query.execute(), limit, toRecord, (row): Position => [row.at.getTime(), row.id]);
  }

  #flushInBackground(): void {
    if (this.#queued > 0 || this.#pending.length === 0) return;
    this.#flushLocal().catch((error: Error) => {
      this.#failWaiters(error);
      this.#failing = true;
      this.#log(`audit: writing events failed (${error.message}); ${this.#pending.length} events stay buffered, retrying in ${this.#flushIntervalMs} ms`);
    });
  }

  /** Writes the events buffered when it starts; later ones wait for a full batch or the timer. */
  async #drain(): Promise<void> {
    let remaining = this.#pending.length;
    while (remaining > 0) {
      const count = Math.min(remaining, this.#maxBatch);
      try {
        await this.#insert(this.#pending.head(count));
        this.#taken(count);
      } catch (error) {
        if (!isRejectedData(error)) throw error;
        await this.#insertOneByOne(count);
      }
      remaining -= count;
      this.#failing = false;
    }
  }

  /**
   * One statement with one JSON parameter, whatever the batch size: the rows are already JSON text, where an
   * array parameter per column would be escaped element by element in JavaScript, on the CPU that serves the
   * token endpoint. `at` is epoch milliseconds; `actor` and `details` are read as json and cast, which costs
   * PostgreSQL less than jsonb columns in the record definition.
   */
  async #insert(rows: string): Promise<void> {
    await sql`INSERT INTO audit_events (at, event, client_id, subject, actor, outcome, reason, request_id, source_ip, details, org_id, event_id)
      SELECT to_timestamp(at / 1000), event, client_id, subject, actor::jsonb, outcome, reason, request_id, source_ip, details::jsonb, org_id, event_id
      FROM json_to_recordset(${rows}::json) AS row(
        at float8, event text, client_id text, subject text, actor json, outcome text, reason text,
        request_id text, source_ip text, details json, org_id text, event_id text
      )
      ON CONFLICT (event_id) DO NOTHING`.execute(this.#db);
  }

  /**
   * One event the database will never accept (invalid text, a violated constraint) must not hold back the rest
   * forever: write the first `count` rows one by one and report, then drop, only the rows that are themselves rejected.
   */
  async #insertOneByOne(count: number): Promise<void> {
    let handled = 0;
    try {
      for (; handled < count; handled += 1) {
        const row = this.#pending.row(handled);
        try {
          await this.#insert(`[${row}]`);
        } catch (error) {
          if (!isRejectedData(error)) throw error;
          this.#log(`audit: the database rejected an event, which is not stored (${(error as Error).message}): ${row}`);
        }
      }
    } finally {
      // Rows written or refused so far are done with, even when a failed write stops the loop: never written twice.
      this.#taken(handled);
    }
  }

  /**
   * The event as one JSON object of audit_events columns, `actor` and `details` nested as JSON; `eventId` (the
   * relay's idempotency key) when it goes through the Redis stream.
   */
  toRow(event: AuditEvent, eventId?: string): string {
    const dropped: string[] = [];
    const columns = JSON.stringify({
      // Epoch milliseconds: Date.now() costs a fraction of building an ISO string for every event.
      at: event.at && !Number.isNaN(event.at.getTime()) ? event.at.getTime() : Date.now(),
      event: storable(event.event),
      client_id: storableOrNull(event.clientId),
      subject: storableOrNull(event.subject),
      outcome: event.outcome,
      reason: storableOrNull(event.reason),
      request_id: storableOrNull(event.requestId),
      source_ip: storableOrNull(event.sourceIp),
      ...(event.orgId !== undefined ? { org_id: storable(event.orgId) } : {}),
      ...(eventId ? { event_id: eventId } : {}),
    });
    const actor = this.#toJson(event, 'actor', dropped);
    const details = this.#toJson(event, 'details', dropped);
    if (dropped.length) {
      this.#log(`audit: dropped secret-looking fields (${dropped.join(', ')}) from a "${event.event}" event; credentials never belong in the audit log`);
    }
    return `${columns.slice(0, -1)},"actor":${actor},"details":${details}}`;
  }

  /** JSON text of the member, without secret-looking fields; `null` when absent or not JSON. */
  #toJson(event: AuditEvent, field: 'actor' | 'details', dropped: string[]): string {
    const value = event[field];
    if (value === undefined) return 'null';
    try {
      // What our own events carry (plain data, nothing to drop or replace) takes JSON.stringify's native path;
      // a replacer function would be called back for every member.
      if (isCleanJson(value)) return JSON.stringify(value) ?? 'null';
      return JSON.stringify(value, (key, member: unknown) => {
        if (isSecretKey(key)) {
          dropped.push(key);
          return undefined;
        }
        return typeof member === 'string' ? storable(member) : member;
      }) ?? 'null';
    } catch (error) {
      this.#log(`audit: ${field} of a "${event.event}" event are not JSON (${(error as Error).message}); stored without them`);
      return 'null';
    }
  }
}

/** Plain data (objects, arrays, strings, numbers, booleans, null) with no secret-looking key and no text to replace. */
function isCleanJson(value: unknown, depth = 0): boolean {
  if (typeof value === 'string') return value === storable(value);
  if (value === null || value === undefined || typeof value === 'number' || typeof value === 'boolean') return true;
  if (typeof value !== 'object' || depth > 16) return false;
  if (Array.isArray(value)) return value.every((member) => isCleanJson(member, depth + 1));
  if (Object.getPrototypeOf(value) !== Object.prototype) return false;
  for (const key in value) {
    if (isSecretKey(key) || !isCleanJson((value as Record<string, unknown>)[key], depth + 1)) return false;
  }
  return true;
}

// The audit trail is kept long and read by many, so credentials must never land in it. Callers are not supposed
// to pass any; this is the backstop. Matches key names such as access_token, subject_token, id_token_hint,
// client_secret, password, client_assertion, code_verifier, private_key, api_key, and a JWK's private members.
const JWK_PRIVATE_MEMBERS = new Set(['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k']);
const SECRET_NAME = /tokens?$|tokenhint$|secret|passw|passphrase|privatekey|privatejwk|apikey|assertion$|verifier$|cookie|^code$|^authorization$|^jwt$/;

// Events reuse a small vocabulary of keys: each is judged once (up to a bound, against unbounded client-chosen keys).
const judgedKeys = new Map<string, boolean>();

function isSecretKey(key: string): boolean {
  let secret = judgedKeys.get(key);
  if (secret === undefined) {
    secret = JWK_PRIVATE_MEMBERS.has(key) || SECRET_NAME.test(key.toLowerCase().replace(/[^a-z]/g, ''));
    if (judgedKeys.size < 1024) judgedKeys.set(key, secret);
  }
  return secret;
}

/**
 * PostgreSQL text and jsonb cannot hold U+0000, nor a lone UTF-16 surrogate (which JSON carries as an escape), and a
 * client can put either in what we record (a resource indicator in an error description, say): an event must
 * still be written, so the character is replaced, visibly.
 */
function storable(text: string): string {
  const wellFormed = text.isWellFormed() ? text : text.toWellFormed();
  return wellFormed.includes('\u0000') ? wellFormed.replaceAll('\u0000', '\uFFFD') : wellFormed;
}

function storableOrNull(text: string | undefined): string | null {
  return text === undefined ? null : storable(text);
}

/** SQLSTATE classes 22 (data exception) and 23 (integrity constraint violation): retrying cannot help. */
function isRejectedData(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('22') || code.startsWith('23'));
}

// A cursor only ever holds a real timestamp and a bigint id; anything else was forged and would fail in SQL.
const LATEST_DATE_MS = 8.64e15;
function isPosition(value: unknown): value is Position {
  return Array.isArray(value) && value.length === 2
    && Number.isSafeInteger(value[0]) && value[0] >= 0 && value[0] <= LATEST_DATE_MS
    && typeof value[1] === 'string' && /^\d{1,18}$/.test(value[1]);
}

function toRecord(row: Selectable<AuditEventsTable>): AuditRecord {
  return {
    id: row.id,
    at: row.at,
    event: row.event,
    clientId: row.client_id,
    subject: row.subject,
    actor: row.actor,
    outcome: row.outcome,
    reason: row.reason,
    requestId: row.request_id,
    sourceIp: row.source_ip,
    details: row.details,
    orgId: row.org_id,
  };
}
