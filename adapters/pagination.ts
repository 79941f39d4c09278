// Keyset pagination shared by the durable stores. A cursor is the sort key of the last row a page returned,
// wrapped so callers treat it as opaque: pages stay stable while rows are inserted or deleted (unlike OFFSET,
// which skips or repeats rows when the table changes between requests).
import { DomainError } from './domain-error.ts';

export interface Page<T> {
  items: T[];
  /** Pass back as `cursor` to get the next page; null on the last page. */
  nextCursor: string | null;
}

export interface PageRequest {
  limit: number;
  cursor?: string;
}

export class InvalidCursorError extends DomainError {
  readonly code = 'ERR_INVALID_CURSOR';

  constructor() {
    super('cursor is not one this server issued', { field: 'cursor', detail: 'cursor is not one this server issued' });
  }
}

function encodeCursor(position: unknown): string {
  return Buffer.from(JSON.stringify(position)).toString('base64url');
}

/** Decodes a cursor and checks its shape with `accept`; anything else is an InvalidCursorError. */
export function decodeCursor<T>(cursor: string, accept: (position: unknown) => position is T): T {
  let position: unknown;
  try {
    position = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new InvalidCursorError();
  }
  if (!accept(position)) throw new InvalidCursorError();
  return position;
}

/** The cursor of a page whose last item has `value` as its text sort key (for pages merged from several lists). */
export function encodeTextCursor(value: string): string {
  return encodeCursor(value);
}

/**
 * COLLATE "C" order (bytes of UTF-8) in JavaScript, for merging pages the database ordered that way: UTF-16
 * code-unit order differs from it only above the BMP, so code points are compared.
 */
export function compareBytewise(a: string, b: string): number {
  const left = [...a];
  const right = [...b];
  for (let i = 0; i < Math.min(left.length, right.length); i += 1) {
    const difference = left[i].codePointAt(0)! - right[i].codePointAt(0)!;
    if (difference !== 0) return difference;
  }
  return left.length - right.length;
}

/** For pages ordered by a unique text column: the cursor is that column's value in the last row. */
export function decodeTextCursor(cursor: string): string {
  // PostgreSQL text cannot hold U+0000: such a cursor was forged.
  return decodeCursor(cursor, (position): position is string => typeof position === 'string' && !position.includes('\u0000'));
}

/**
 * Builds a page from rows fetched with `limit + 1`: the extra row only tells whether another page exists.
 */
export function toPage<Row, T>(rows: Row[], limit: number, map: (row: Row) => T, position: (row: Row) => unknown): Page<T> {
  const pageRows = rows.slice(0, limit);
  const last = pageRows.at(-1);
  return {
    items: pageRows.map(map),
    nextCursor: rows.length > limit && last !== undefined ? encodeCursor(position(last)) : null,
  };
}
