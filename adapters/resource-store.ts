// Registered resource servers (RFC 8707 resource indicators): the only audiences tokens may be issued for, with
// the scopes each accepts, the access token format it verifies and how long its tokens live.
import { DomainError } from './domain-error.ts';
import { sql, type Selectable, type Transaction } from 'kysely';
import { writeAnnounced, type ReadThroughCache } from './read-through-cache.ts';
import type { Database, ResourcesTable, Tables } from './database.ts';
import type { SigningAlg } from '../keys/signing-keys.ts';
import { namesUnknownOrganization, UnknownOrganizationError } from './organization-store.ts';
import { decodeTextCursor, toPage, type Page, type PageRequest } from './pagination.ts';

export type TokenFormat = 'jwt' | 'opaque';

export interface Resource {
  /** Absolute URI, the `resource` parameter and the token's `aud`. */
  identifier: string;
  /** Stable id in the resource's metadata URL. */
  id: string;
  /** Tokens for it must be DPoP-bound (RFC 9449); advertised as dpop_bound_access_tokens_required. */
  dpopRequired: boolean;
  documentationUrl: string | null;
  name: string | null;
  scopes: string[];
  tokenFormat: TokenFormat;
  /** Seconds. */
  accessTokenTtl: number;
  /** JWS algorithm of its JWT access tokens; null for the server's default (config/defaults.ts jwtAccessTokenAlg). */
  signingAlg: SigningAlg | null;
  /** The organization the resource belongs to: only its principals get tokens for it (policy/organizations.ts). */
  orgId: string;
  createdAt: Date;
  updatedAt: Date;
}

export interface NewResource {
  identifier: string;
  name?: string;
  scopes: string[];
  tokenFormat: TokenFormat;
  accessTokenTtl: number;
  dpopRequired?: boolean;
  documentationUrl?: string;
  signingAlg?: SigningAlg;
  /** Absent: the default organization. */
  orgId?: string;
}

/** Fields left undefined stay as they are; `name: null` clears the name. */
export interface ResourcePatch {
  name?: string | null;
  scopes?: string[];
  tokenFormat?: TokenFormat;
  accessTokenTtl?: number;
  dpopRequired?: boolean;
  documentationUrl?: string | null;
  /** null: back to the server's default. */
  signingAlg?: SigningAlg | null;
  /** Another organization: only its principals get tokens for the resource from now on. */
  orgId?: string;
}

export class DuplicateResourceError extends DomainError {
  readonly code = 'ERR_DUPLICATE_RESOURCE';
  readonly identifier: string;

  constructor(identifier: string) {
    super(`resource "${identifier}" is already registered`, { field: 'identifier', detail: 'is already registered' });
    this.identifier = identifier;
  }
}

/** The one key of the catalogue cache: every resource, for the scope rule (policy/scope-resolution.ts). */
const CATALOGUE = 'all';

export class ResourceStore {
  readonly #db: Database;
  readonly #cache: ReadThroughCache<Resource> | undefined;
  readonly #catalogue: ReadThroughCache<Resource[]> | undefined;

  /**
   * With caches, `get` (called on every token request naming a resource) and `definingAnyScope` (every request
   * naming scopes but no resource) are served from memory, so they keep working while PostgreSQL is down.
   */
  constructor(db: Database, cache?: ReadThroughCache<Resource>, catalogue?: ReadThroughCache<Resource[]>) {
    this.#db = db;
    this.#cache = cache;
    this.#catalogue = catalogue;
  }

  async create(input: NewResource): Promise<Resource> {
    // A resource that did not exist is in no `get` cache (misses are never cached), but it is missing from every
    // catalogue: announced before the insert commits, as writeAnnounced does.
    const row = await this.#db.transaction().execute(async (trx) => this.#catalogueChanged(await this.#insert(trx, input), (inserted) => inserted !== undefined))
      .catch((error: unknown) => {
        // The organization was deleted after the admin route checked it.
        if (namesUnknownOrganization(error)) throw new UnknownOrganizationError(input.orgId!);
        throw error;
      });
    if (!row) throw new DuplicateResourceError(input.identifier);
    // A catalogue loaded between the announcement and the commit could not see the new row: forgotten once more.
    await this.#catalogue?.invalidate(CATALOGUE).catch(() => undefined);
    return toResource(row);
  }

  #insert(trx: Transaction<Tables>, input: NewResource) {
    return trx
      .insertInto('resources')
      .values({
        identifier: input.identifier,
        name: input.name ?? null,
        scopes: JSON.stringify(input.scopes),
        token_format: input.tokenFormat,
        access_token_ttl: input.accessTokenTtl,
        dpop_required: input.dpopRequired ?? false,
        documentation_url: input.documentationUrl ?? null,
        signing_alg: input.signingAlg ?? null,
        ...(input.orgId !== undefined ? { org_id: input.orgId } : {}),
      })
      .onConflict((oc) => oc.column('identifier').doNothing())
      .returningAll()
      .executeTakeFirst();
  }

  async get(identifier: string): Promise<Resource | undefined> {
    // PostgreSQL text cannot hold U+0000: no resource has such an identifier (and the query would fail).
    if (identifier.includes('\u0000')) return undefined;
    if (!this.#cache) return this.#load(identifier);
    const found = await this.#cache.get(identifier, () => this.#load(identifier));
    return found && copyOf(found);
  }

  async #load(identifier: string): Promise<Resource | undefined> {
    const row = await this.#db.selectFrom('resources').selectAll().where('identifier', '=', identifier).forShare().executeTakeFirst();
    return row && toResource(row);
  }

  /** By the stable id of its metadata URL. */
  async findById(id: string): Promise<Resource | undefined> {
    if (id.includes('\u0000')) return undefined;
    const row = await this.#db.selectFrom('resources').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toResource(row);
  }

  /** Resources ordered by identifier, optionally only one organization's. */
  async list({ limit, cursor, orgId }: PageRequest & { orgId?: string }): Promise<Page<Resource>> {
    let query = this.#db.selectFrom('resources').selectAll().orderBy('identifier').limit(limit + 1);
    if (orgId !== undefined) query = query.where('org_id', '=', orgId);
    if (cursor !== undefined) query = query.where('identifier', '>', decodeTextCursor(cursor));
    return toPage(await query.execute(), limit, toResource, (row) => row.identifier);
  }

  /**
   * The resources that define at least one of `scopes` (policy/scope-resolution.ts infers a request's resource
   * from them). Not cached: a resource registered or changed on another instance counts at once.
   */
  async definingAnyScope(scopes: readonly string[]): Promise<Resource[]> {
    if (!scopes.length) return [];
    const all = await this.#everyResource();
    return all.filter((resource) => scopes.some((scope) => resource.scopes.includes(scope))).map(copyOf);
  }

  /**
   * The resources defining a scope of the family `family` (`files:read`, `files.reports:read` for `files`): whose
   * resource the permission check's questions about that family are (policy/access-decision.ts).
   */
  async inFamily(family: string): Promise<Resource[]> {
    const all = await this.#everyResource();
    const inIt = (scope: string) => {
      const name = scope.slice(0, scope.indexOf(':'));
      return name === family || name.startsWith(`${family}.`);
    };
    return all.filter((resource) => resource.scopes.some(inIt)).map(copyOf);
  }

  /** Every resource, through the catalogue cache (shared: callers copy what they hand out). */
  async #everyResource(): Promise<Resource[]> {
    const load = async () => (await this.#db.selectFrom('resources').selectAll().orderBy('identifier').forShare().execute()).map(toResource);
    return (this.#catalogue ? await this.#catalogue.get(CATALOGUE, load) : await load()) ?? [];
  }

  /** The updated resource, or undefined when there is no such resource. */
  async update(identifier: string, patch: ResourcePatch): Promise<Resource | undefined> {
    const row = await writeAnnounced(this.#db, this.#cache, identifier, async (trx) => this.#catalogueChanged(await trx
      .updateTable('resources')
      .set({
        ...(patch.name !== undefined ? { name: patch.name } : {}),
        ...(patch.scopes !== undefined ? { scopes: JSON.stringify(patch.scopes) } : {}),
        ...(patch.tokenFormat !== undefined ? { token_format: patch.tokenFormat } : {}),
        ...(patch.accessTokenTtl !== undefined ? { access_token_ttl: patch.accessTokenTtl } : {}),
        ...(patch.dpopRequired !== undefined ? { dpop_required: patch.dpopRequired } : {}),
        ...(patch.documentationUrl !== undefined ? { documentation_url: patch.documentationUrl } : {}),
        ...(patch.signingAlg !== undefined ? { signing_alg: patch.signingAlg } : {}),
        ...(patch.orgId !== undefined ? { org_id: patch.orgId } : {}),
        updated_at: sql<Date>`now()`,
      })
      .where('identifier', '=', identifier)
      .returningAll()
      .executeTakeFirst(), (updated) => updated !== undefined))
      .catch((error: unknown) => {
        if (namesUnknownOrganization(error)) throw new UnknownOrganizationError(patch.orgId!);
        throw error;
      });
    return row && toResource(row);
  }

  /** False when there was no such resource. */
  async delete(identifier: string): Promise<boolean> {
    const result = await writeAnnounced(this.#db, this.#cache, identifier, async (trx) => this.#catalogueChanged(
      await trx.deleteFrom('resources').where('identifier', '=', identifier).executeTakeFirst(),
      (deleted) => deleted.numDeletedRows > 0n,
    ));
    return result.numDeletedRows > 0n;
  }

  /** Inside a write's transaction: every instance drops its catalogue before the change commits. */
  async #catalogueChanged<R>(result: R, changed: (result: R) => boolean): Promise<R> {
    if (changed(result)) await this.#catalogue?.invalidate(CATALOGUE);
    return result;
  }
}

/** Every caller gets its own copy, so none can alter the cached entry; spelled out, it is far cheaper than structuredClone. */
function copyOf(resource: Resource): Resource {
  return { ...resource, scopes: [...resource.scopes], createdAt: new Date(resource.createdAt), updatedAt: new Date(resource.updatedAt) };
}

function toResource(row: Selectable<ResourcesTable>): Resource {
  return {
    identifier: row.identifier,
    name: row.name,
    scopes: row.scopes,
    tokenFormat: row.token_format,
    accessTokenTtl: row.access_token_ttl,
    id: row.id,
    dpopRequired: row.dpop_required,
    documentationUrl: row.documentation_url,
    // The column's check constraint (migration 0009) admits only these names.
    signingAlg: row.signing_alg as SigningAlg | null,
    orgId: row.org_id,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
