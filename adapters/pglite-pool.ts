// Embedded PostgreSQL (PGlite) behind kysely's PostgresDialect, which expects a node-postgres style pool.
// PGlite is a single connection, so this pool lends it to one borrower at a time: without that, statements of
// concurrent transactions would interleave on the one session and silently join or abort each other's work.
import { PGlite, types } from '@electric-sql/pglite';
import type { PostgresCursor, PostgresPool, PostgresPoolClient, PostgresQueryResult } from 'kysely';
import pg from 'pg';

// Where PGlite's own parsing differs from node-postgres (int8 as a number or BigInt instead of a string; dates
// and timestamps), use node-postgres's parsers so rows look identical whichever backend produced them.
const PARSED_LIKE_NODE_POSTGRES = [types.INT8, types.DATE, types.TIMESTAMP, types.TIMESTAMPTZ, types.INTERVAL];

export async function openPGlite(dataDir: string): Promise<PGlite> {
  const parsers = Object.fromEntries(PARSED_LIKE_NODE_POSTGRES.map((oid) => [oid, pg.types.getTypeParser(oid, 'text')]));
  const pglite = new PGlite(dataDir, { parsers });
  await pglite.waitReady;
  return pglite;
}

export class PGlitePool implements PostgresPool {
  readonly options = {};
  readonly #pglite: PGlite;
  #tail: Promise<void> = Promise.resolve();
  #ended = false;

  constructor(pglite: PGlite) {
    this.#pglite = pglite;
  }

  async connect(): Promise<PostgresPoolClient> {
    if (this.#ended) throw new Error('the embedded database is closed');
    return new PGliteClient(this.#pglite, await this.#lease());
  }

  /** Waits for every borrower queued before it, then closes PGlite (flushing it to disk). */
  async end(): Promise<void> {
    if (this.#ended) return;
    this.#ended = true;
    const release = await this.#lease();
    try {
      await this.#pglite.close();
    } finally {
      release();
    }
  }

  #lease(): Promise<() => void> {
    let release!: () => void;
    const returned = new Promise<void>((resolve) => {
      release = resolve;
    });
    const previous = this.#tail;
    this.#tail = previous.then(() => returned);
    return previous.then(() => release);
  }
}

class PGliteClient implements PostgresPoolClient {
  readonly #pglite: PGlite;
  #release: (() => void) | undefined;

  constructor(pglite: PGlite, release: () => void) {
    this.#pglite = pglite;
    this.#release = release;
  }

  query<R>(sql: string, parameters: ReadonlyArray<unknown>): Promise<PostgresQueryResult<R>>;
  query<R>(cursor: PostgresCursor<R>): PostgresCursor<R>;
  query<R>(sqlOrCursor: string | PostgresCursor<R>, parameters: ReadonlyArray<unknown> = []): Promise<PostgresQueryResult<R>> | PostgresCursor<R> {
    if (typeof sqlOrCursor !== 'string') throw new Error('streaming queries are not supported on the embedded database');
    return this.#run<R>(sqlOrCursor, parameters);
  }

  release(): void {
    const release = this.#release;
    this.#release = undefined;
    release?.();
  }

  async #run<R>(sql: string, parameters: ReadonlyArray<unknown>): Promise<PostgresQueryResult<R>> {
    if (!this.#release) throw new Error('query on an embedded database connection that was already released');
    const result = await this.#pglite.query<R>(sql, [...parameters]);
    return {
      command: (result.command ?? 'SELECT') as PostgresQueryResult<R>['command'],
      rowCount: result.rowCount ?? result.affectedRows ?? 0,
      rows: result.rows,
    };
  }
}
