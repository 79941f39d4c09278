// Approvals in PostgreSQL: each client's approval tiers (policy/approval-tiers.ts), and every backchannel
// (CIBA) request a person must decide, with the decision. The request itself lives in Redis or memory as
// oidc-provider's BackchannelAuthenticationRequest and is gone soon after it expires; this is the record the
// admin API lists (pending and decided) and the audit trail refers to. A decision is one conditional UPDATE
// (`status = 'pending'` and not expired), so two approvers on two instances cannot both decide.
import { isStorableText } from './storage-rules.ts';
import { randomBytes } from 'node:crypto';
import { sql, type Selectable } from 'kysely';
import { approvalPolicy, NO_APPROVAL_POLICY, type ApprovalPolicy, type TierReason } from '../policy/approval-tiers.ts';
import type { ApprovalStatus, ApprovalsTable, Database, JsonObject } from './database.ts';
import { decodeCursor, toPage, type Page, type PageRequest } from './pagination.ts';
import { writeAnnounced, type ReadThroughCache } from './read-through-cache.ts';

export type { ApprovalStatus };

/** Who decided: the operator through the admin API, and the user who re-authenticated when the tier is strong. */
export interface Approver extends JsonObject {
  via: 'admin_api' | 'inbox';
  user_id?: string;
  reauthenticated?: boolean;
  /** A denial's reason, told to the client with access_denied. */
  reason?: string;
}

export interface Approval {
  id: string;
  authReqId: string;
  clientId: string;
  userId: string;
  scope: string[];
  authorizationDetails: JsonObject[] | null;
  bindingMessage: string | null;
  tier: 'soft' | 'strong';
  reasons: TierReason[];
  status: ApprovalStatus;
  expiresAt: Date;
  createdAt: Date;
  decidedAt: Date | null;
  decidedBy: Approver | null;
  /** Users of whom one must approve after the named user (a strong rule's `second_approvers`); empty: nobody. */
  secondApprovers: string[];
  /** The named user's approval, while a second approver is awaited (and kept after). */
  firstApproval: { by: Approver; at: Date } | null;
  /** The organization of the client that asked, when it asked: whose operator lists and decides it. */
  orgId: string;
}

export type NewApproval = Pick<Approval, 'authReqId' | 'clientId' | 'userId' | 'scope' | 'authorizationDetails' | 'bindingMessage' | 'tier' | 'reasons' | 'expiresAt' | 'secondApprovers' | 'orgId'>;

export interface ApprovalQuery extends PageRequest {
  status?: ApprovalStatus;
  userId?: string;
  clientId?: string;
  orgId?: string;
  /** Also the approvals this user may approve second: pending, first-approved, naming them (the inbox). */
  orSecondApprover?: string;
}

type Position = [at: number, id: string];
const isPosition = (value: unknown): value is Position =>
  Array.isArray(value) && value.length === 2 && Number.isSafeInteger(value[0]) && typeof value[1] === 'string' && !value[1].includes('\u0000');

export class ApprovalStore {
  readonly #db: Database;
  readonly #policies: ReadThroughCache<string> | undefined;

  /** With a cache, the policy (read on every client_credentials request) is served from memory on every instance. */
  constructor(db: Database, policies?: ReadThroughCache<string>) {
    this.#db = db;
    this.#policies = policies;
  }

  /** The client's tiers; a client without stored tiers is autonomous throughout (the behaviour before tiers). */
  async policyOf(clientId: string): Promise<ApprovalPolicy> {
    const load = async () => {
      const row = await this.#db.selectFrom('approval_policies').select('policy').where('client_id', '=', clientId).forShare().executeTakeFirst();
      // Cached as text, "none" included, so a client without tiers costs no query either.
      return JSON.stringify(row?.policy ?? null);
    };
    const text = this.#policies ? await this.#policies.get(clientId, load) : await load();
    const stored = JSON.parse(text!) as unknown;
    // Stored policies were parsed when written; parsing again only fills defaults of older shapes.
    return stored === null ? NO_APPROVAL_POLICY : approvalPolicy.parse(stored);
  }

  async storedPolicy(clientId: string): Promise<ApprovalPolicy | undefined> {
    const row = await this.#db.selectFrom('approval_policies').select('policy').where('client_id', '=', clientId).executeTakeFirst();
    return row ? approvalPolicy.parse(row.policy) : undefined;
  }

  async setPolicy(clientId: string, policy: ApprovalPolicy): Promise<void> {
    const json = JSON.stringify(policy);
    await writeAnnounced(this.#db, this.#policies, clientId, (trx) => trx.insertInto('approval_policies')
      .values({ client_id: clientId, policy: json })
      .onConflict((oc) => oc.column('client_id').doUpdateSet({ policy: json, updated_at: sql`now()` }))
      .execute());
  }

  async deletePolicy(clientId: string): Promise<boolean> {
    const result = await writeAnnounced(this.#db, this.#policies, clientId, (trx) => trx.deleteFrom('approval_policies').where('client_id', '=', clientId).executeTakeFirst());
    return result.numDeletedRows > 0n;
  }

  async record(input: NewApproval): Promise<Approval> {
    const row = await this.#db.insertInto('approvals').values({
      id: `apr_${randomBytes(16).toString('base64url')}`,
      auth_req_id: input.authReqId,
      client_id: input.clientId,
      user_id: input.userId,
      scope: input.scope.join(' '),
      authorization_details: input.authorizationDetails ? JSON.stringify(input.authorizationDetails) : null,
      binding_message: input.bindingMessage,
      tier: input.tier,
      reasons: JSON.stringify(input.reasons),
      second_approvers: input.secondApprovers.length ? JSON.stringify(input.secondApprovers) : null,
      status: 'pending',
      expires_at: input.expiresAt,
      org_id: input.orgId,
      // Milliseconds, as the page cursor keeps them.
      created_at: new Date(),
    }).returningAll().executeTakeFirstOrThrow();
    return toApproval(row);
  }

  async get(id: string): Promise<Approval | undefined> {
    if (!isStorableText(id)) return undefined;
    const row = await this.#db.selectFrom('approvals').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toApproval(row);
  }

  async findByAuthReqId(authReqId: string): Promise<Approval | undefined> {
    if (!isStorableText(authReqId)) return undefined;
    const row = await this.#db.selectFrom('approvals').selectAll().where('auth_req_id', '=', authReqId).executeTakeFirst();
    return row && toApproval(row);
  }

  /** Newest first; pending ones past their expiry are shown as expired (and marked so by `expire`). */
  async list({ status, userId, clientId, orgId, orSecondApprover, limit, cursor }: ApprovalQuery): Promise<Page<Approval>> {
    let query = this.#db.selectFrom('approvals').selectAll().orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit + 1);
    if (status !== undefined) query = query.where('status', '=', status);
    if (userId !== undefined && orSecondApprover !== undefined) {
      query = query.where((eb) => eb.or([
        eb('user_id', '=', userId),
        eb.and([
          eb('first_approved_by', 'is not', null),
          // jsonb containment: the list names this user (decided ones stay in their history).
          eb('second_approvers', '@>', sql<string[]>`${JSON.stringify([orSecondApprover])}::jsonb`),
        ]),
      ]));
    } else if (userId !== undefined) query = query.where('user_id', '=', userId);
    if (clientId !== undefined) query = query.where('client_id', '=', clientId);
    if (orgId !== undefined) query = query.where('org_id', '=', orgId);
    if (cursor !== undefined) {
      const [at, id] = decodeCursor(cursor, isPosition);
      query = query.where((eb) => eb(eb.refTuple('created_at', 'id'), '<', eb.tuple(new Date(at), id)));
    }
    return toPage(await query.execute(), limit, toApproval, (row): Position => [row.created_at.getTime(), row.id]);
  }

  /**
   * The decision, when the approval was still pending and unexpired; undefined when someone else decided first.
   * An approval that needs a second approver is approved only once first-approved (`approveFirst`).
   */
  async decide(id: string, status: 'approved' | 'denied', decidedBy: Approver): Promise<Approval | undefined> {
    if (!isStorableText(id)) return undefined;
    let update = this.#db.updateTable('approvals')
      .set({ status, decided_at: new Date(), decided_by: JSON.stringify(decidedBy) })
      .where('id', '=', id).where('status', '=', 'pending').where('expires_at', '>', new Date());
    if (status === 'approved') update = update.where((eb) => eb.or([eb('second_approvers', 'is', null), eb('first_approved_by', 'is not', null)]));
    const row = await update.returningAll().executeTakeFirst();
    return row && toApproval(row);
  }

  /**
   * The named user's approval of a request that also needs a second approver: recorded once, while pending and
   * unexpired; undefined when it was decided, expired or first-approved meanwhile (on any instance).
   */
  async approveFirst(id: string, approver: Approver): Promise<Approval | undefined> {
    if (!isStorableText(id)) return undefined;
    const row = await this.#db.updateTable('approvals')
      .set({ first_approved_by: JSON.stringify(approver), first_approved_at: new Date() })
      .where('id', '=', id).where('status', '=', 'pending').where('expires_at', '>', new Date()).where('first_approved_by', 'is', null)
      .returningAll().executeTakeFirst();
    return row && toApproval(row);
  }

  /** Marks a pending approval past its expiry as expired; undefined when it was not (already marked, or decided). */
  async expire(id: string): Promise<Approval | undefined> {
    if (!isStorableText(id)) return undefined;
    const row = await this.#db.updateTable('approvals')
      .set({ status: 'expired', decided_at: new Date() })
      .where('id', '=', id).where('status', '=', 'pending').where('expires_at', '<=', new Date())
      .returningAll().executeTakeFirst();
    return row && toApproval(row);
  }
}

function toApproval(row: Selectable<ApprovalsTable>): Approval {
  return {
    id: row.id,
    authReqId: row.auth_req_id,
    clientId: row.client_id,
    userId: row.user_id,
    scope: row.scope ? row.scope.split(' ') : [],
    authorizationDetails: row.authorization_details,
    bindingMessage: row.binding_message,
    tier: row.tier,
    reasons: row.reasons as unknown as TierReason[],
    status: row.status,
    expiresAt: row.expires_at,
    createdAt: row.created_at,
    decidedAt: row.decided_at,
    decidedBy: row.decided_by as Approver | null,
    secondApprovers: (row.second_approvers as string[] | null) ?? [],
    firstApproval: row.first_approved_by && row.first_approved_at ? { by: row.first_approved_by as Approver, at: row.first_approved_at } : null,
    orgId: row.org_id,
  };
}
