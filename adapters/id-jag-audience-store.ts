// The authorization servers we issue ID-JAGs for, as an enterprise IdP (grants/id-jag-issuance.ts): an audience
// is another authorization server's issuer, with the resources it serves that our users' clients may reach, the
// client_id each of our clients has there, and the scopes it may be granted. Operator policy, as data.
import { DomainError } from './domain-error.ts';
import { sql, type Selectable } from 'kysely';
import type { Database, IdJagAudiencesTable } from './database.ts';
import { decodeTextCursor, toPage, type Page, type PageRequest } from './pagination.ts';

export interface IdJagAudience {
  /** The authorization server's issuer: the ID-JAG's `aud` and the exchange's `audience`. */
  issuer: string;
  name: string | null;
  /** Its resources (RFC 8707 identifiers) an ID-JAG may name. */
  resources: string[];
  /** Our client_id → the client_id it knows that client by (the ID-JAG's `client_id`). */
  clients: Record<string, string>;
  /** The scopes an ID-JAG for it may carry; undefined: whatever is requested. */
  scopes: string[] | undefined;
  createdAt: Date;
  updatedAt: Date;
}

export type IdJagAudienceInput = Pick<IdJagAudience, 'issuer' | 'name' | 'resources' | 'clients' | 'scopes'>;

export class DuplicateIdJagAudienceError extends DomainError {
  readonly code = 'ERR_DUPLICATE_ID_JAG_AUDIENCE';
  constructor(issuer: string) {
    super(`an ID-JAG audience "${issuer}" is already registered`, { field: 'issuer', detail: 'is already registered' });
  }
}

export class IdJagAudienceStore {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  async create(input: IdJagAudienceInput): Promise<IdJagAudience> {
    const row = await this.#db.insertInto('id_jag_audiences').values(toRow(input))
      .onConflict((oc) => oc.column('issuer').doNothing()).returningAll().executeTakeFirst();
    if (!row) throw new DuplicateIdJagAudienceError(input.issuer);
    return toAudience(row);
  }

  async get(issuer: string): Promise<IdJagAudience | undefined> {
    if (issuer.includes('\u0000')) return undefined;
    const row = await this.#db.selectFrom('id_jag_audiences').selectAll().where('issuer', '=', issuer).executeTakeFirst();
    return row && toAudience(row);
  }

  async list({ limit, cursor }: PageRequest): Promise<Page<IdJagAudience>> {
    let query = this.#db.selectFrom('id_jag_audiences').selectAll().orderBy('issuer').limit(limit + 1);
    if (cursor !== undefined) query = query.where('issuer', '>', decodeTextCursor(cursor));
    return toPage(await query.execute(), limit, toAudience, (row) => row.issuer);
  }

  /** Replaces everything but the issuer; undefined when there is no such audience. */
  async replace(input: IdJagAudienceInput): Promise<IdJagAudience | undefined> {
    const { issuer: _issuer, ...values } = toRow(input);
    const row = await this.#db.updateTable('id_jag_audiences').set({ ...values, updated_at: sql<Date>`now()` })
      .where('issuer', '=', input.issuer).returningAll().executeTakeFirst();
    return row && toAudience(row);
  }

  async delete(issuer: string): Promise<boolean> {
    if (issuer.includes('\u0000')) return false;
    const result = await this.#db.deleteFrom('id_jag_audiences').where('issuer', '=', issuer).executeTakeFirst();
    return result.numDeletedRows > 0n;
  }
}

function toRow(input: IdJagAudienceInput) {
  return {
    issuer: input.issuer,
    name: input.name,
    resources: JSON.stringify(input.resources),
    clients: JSON.stringify(input.clients),
    scopes: input.scopes === undefined ? null : JSON.stringify(input.scopes),
  };
}

function toAudience(row: Selectable<IdJagAudiencesTable>): IdJagAudience {
  return {
    issuer: row.issuer,
    name: row.name,
    resources: row.resources,
    clients: row.clients,
    scopes: row.scopes ?? undefined,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
