// OpenID CIBA Core 1.0 (Client-Initiated Backchannel Authentication), poll and ping modes: an agent or a
// confidential client asks for a named user's approval, with a binding message and RFC 9396
// authorization_details, and gets a token once someone approves (server/routes/admin-approvals.ts).
// oidc-provider runs the backchannel authentication endpoint and the grant; this module gives it our answers
// to its hooks (who the login_hint names, which binding messages we accept, what happens once a request is
// made) and puts two checks of CIBA §11 in front of its grant that it does not make: `slow_down` for a client
// polling faster than the interval we told it (§7.3), and `expired_token` for a request that outlived its
// expiry, even after the short-lived request record is gone.
import { errors, type CIBAEnabledConfiguration, type KoaContextWithOIDC } from 'oidc-provider';
import type Provider from 'oidc-provider';
import type { AuditEvent } from '../adapters/audit-log.ts';
import type { AgentStore } from '../adapters/agent-store.ts';
import type { ApprovalStore } from '../adapters/approval-store.ts';
import type { RateCounter } from '../adapters/rate-limit-counters.ts';
import type { RoleStore } from '../adapters/role-store.ts';
import type { UserStore } from '../adapters/user-store.ts';
import { scopesNotAllowed } from '../policy/scope-patterns.ts';
import { clientRecordOf } from '../policy/client-record.ts';
import { allowedPatterns, clientNoun, rulesFor } from '../issuance/pipeline.ts';
import { approvalTier, stricterTier } from '../policy/approval-tiers.ts';
import { AGENT_ACTION, requestedAuthorizationDetails } from '../policy/authorization-details.ts';
import { builtInCibaGrant } from '../issuance/oidc-grant-helpers.ts';
import { organizationFacts, refuseIf, type OrganizationLookups } from '../issuance/token-organization.ts';
import { organizationRefusal } from '../policy/organizations.ts';
import type { Grant } from './grant.ts';

// In place of oidc-provider's own registration of the same grant, which our handler runs inside.
export const grant: Grant = {
  grantType: 'urn:openid:params:grant-type:ciba',
  parameters: ['auth_req_id', 'resource', 'authorization_details'],
  allowedDuplicateParameters: ['resource'],
  handler: (deps, provider) => cibaGrantHandler(provider, deps.ciba),
};

/** The login_hint that names the requesting agent's owner (documented in the README). */
export const OWNER_HINT = 'owner';

/** CIBA §7.1 requested_expiry is honoured up to this many seconds (oidc-provider's default cap, made explicit). */
export const MAX_REQUEST_LIFETIME = 10 * 60;

/** Scopes of OpenID Connect itself, which an agent's patterns do not govern. */
const OIDC_REQUEST_SCOPES = new Set(['openid', 'profile', 'email']);

/** What an approver reads; CIBA §7.1 asks for a short message, so it fits a phone's notification. */
const BINDING_MESSAGE = /^[\p{L}\p{N}\p{P}\p{S} ]{1,100}$/u;

export interface CibaDependencies {
  users: Pick<UserStore, 'findById' | 'findByUsername'>;
  agents: Pick<AgentStore, 'get'>;
  /** An agent may ask for its own patterns and its roles' (policy/roles.ts), as with client_credentials. */
  roles: Pick<RoleStore, 'grantsOf'>;
  approvals: Pick<ApprovalStore, 'policyOf' | 'record' | 'findByAuthReqId' | 'expire'>;
  audit: { record(event: AuditEvent): void };
  /** One poll per auth_req_id per interval, counted where every instance sees it (Redis, or memory). */
  polls: Pick<RateCounter, 'consume'>;
  /** CIBA §7.3 `interval`: seconds a polling client waits between token requests. */
  pollInterval: number;
  /** Told of each recorded approval (the operator's webhook, server/approval-webhook.ts). */
  pending?: (approval: Awaited<ReturnType<ApprovalStore['record']>>) => void;
  /** A client asks only for users of its own organization, or of one that allows it to act (policy/organizations.ts). */
  organizations: OrganizationLookups;
}

type BackchannelRequest = {
  jti: string;
  /** Seconds it lives from now (ttl.BackchannelAuthenticationRequest, as just applied by its save). */
  expiration: number;
  scope: string;
  params: Record<string, unknown>;
};

/** features.ciba: our answers to oidc-provider's CIBA hooks. */
export function cibaFeature(deps: CibaDependencies): CIBAEnabledConfiguration {
  return {
    enabled: true,
    deliveryModes: ['poll', 'ping'],

    // CIBA §7.1: the user is named by id or username, or, for an agent, as its owner.
    async processLoginHint(ctx, loginHint) {
      if (loginHint === undefined) return undefined;
      const { clientId } = ctx.oidc.client!;
      if (loginHint === OWNER_HINT) {
        const { ownerId } = clientRecordOf(ctx.oidc.client!);
        if (!ownerId) throw new errors.UnknownUserId(`login_hint "${OWNER_HINT}" names the client's owner, and this client has none (agents always have one)`);
        return ownerId;
      }
      if (loginHint.length > 512) return undefined;
      const user = (await deps.users.findById(loginHint)) ?? (await deps.users.findByUsername(loginHint));
      // Refused before anyone is asked to approve: the token endpoint would refuse the token all the same
      // (unauthorized_client, CIBA §13), and the approver would have been asked for nothing.
      if (user) refuseIf(organizationRefusal(await organizationFacts({ clientId, accountId: user.id }, deps.organizations)));
      return user?.id;
    },

    async processLoginHintToken() {
      throw new errors.InvalidRequest('login_hint_token is not supported here: name the user with login_hint (a user id, a username, or "owner")');
    },

    // No user has a user code at this server (CIBA §7.1.1): one sent cannot be right.
    async verifyUserCode(_ctx, _account, userCode) {
      if (userCode !== undefined) throw new errors.InvalidUserCode('user codes are not in use at this server; send the request without user_code');
    },

    // An agent's request must say what it is for: the approver compares the message with what the agent shows.
    async validateBindingMessage(ctx, bindingMessage) {
      if (bindingMessage === undefined) {
        if (clientRecordOf(ctx.oidc.client!).kind === 'agent') {
          throw new errors.InvalidBindingMessage('binding_message is required for agents: it tells the approver what the request is for');
        }
        return;
      }
      if (!BINDING_MESSAGE.test(bindingMessage)) {
        throw new errors.InvalidBindingMessage('binding_message must be 1–100 letters, digits, punctuation, symbols or spaces');
      }
    },

    // oidc-provider runs this for every backchannel request before storing it, so the agent's limits are checked
    // here too: a person's approval does not let an agent hold a scope its patterns never allow.
    async validateRequestContext(ctx, requestContext) {
      if (requestContext !== undefined) throw new errors.InvalidRequest('request_context is not supported');
      const rules = await rulesFor(ctx.oidc.client!, deps);
      const patterns = allowedPatterns(rules);
      if (!patterns) return;
      const requested = String(ctx.oidc.params?.scope ?? '').split(' ').filter((scope) => scope && !OIDC_REQUEST_SCOPES.has(scope));
      const [refused] = scopesNotAllowed(requested, patterns);
      if (refused) throw new errors.InvalidScope(`scope "${refused}" is not allowed for this ${clientNoun(rules.record)}`, refused);
    },

    // The request is stored; record it for approval, tiered, and tell the client how often it may poll.
    async triggerAuthenticationDevice(ctx, request, account, client) {
      const backchannel = request as unknown as BackchannelRequest;
      const details = requestedAuthorizationDetails(backchannel.params.authorization_details);
      const scopes = backchannel.scope.split(' ').filter(Boolean);
      const decision = approvalTier(await deps.approvals.policyOf(client.clientId), {
        // `openid` is what CIBA requires of every request (§7.1), not something the client will do.
        scopes: scopes.filter((scope) => scope !== 'openid'),
        authorizationDetails: details,
      });
      // A backchannel request always asks a person: `autonomous` only means the client needs none elsewhere.
      const tier = stricterTier(decision.tier, 'soft') as 'soft' | 'strong';
      // The second approver is someone other than the user asked first; a rule naming only that user cannot be met.
      const secondApprovers = decision.secondApprovers.filter((id) => id !== account.accountId);
      if (decision.secondApprovers.length && !secondApprovers.length) {
        await (request as unknown as { destroy(): Promise<void> }).destroy();
        throw new errors.AccessDenied('this request needs a second approver, and the only one its approval tiers name is the user asked first');
      }
      const approval = await deps.approvals.record({
        authReqId: backchannel.jti,
        clientId: client.clientId,
        userId: account.accountId,
        scope: scopes,
        authorizationDetails: details.length ? details : null,
        bindingMessage: (backchannel.params.binding_message as string | undefined) ?? null,
        tier,
        reasons: decision.reasons,
        secondApprovers,
        expiresAt: new Date(Date.now() + backchannel.expiration * 1000),
        orgId: clientRecordOf(client).orgId,
      });
      deps.pending?.(approval);
      // The first interval starts now: a poll-mode client that polls at once is told to slow down.
      if (client.backchannelTokenDeliveryMode !== 'ping') await deps.polls.consume(backchannel.jti);
      (ctx.body as Record<string, unknown>).interval = deps.pollInterval;
      deps.audit.record({
        event: 'approval.requested',
        outcome: 'success',
        clientId: client.clientId,
        orgId: approval.orgId,
        subject: account.accountId,
        requestId: ctx.state.requestId as string | undefined,
        sourceIp: ctx.ip,
        details: {
          approval: approval.id,
          tier,
          scope: scopes.join(' '),
          authorization_details_types: details.map((detail) => String(detail.type)),
          binding_message: approval.bindingMessage,
        },
      });
    },
  };
}

/** CIBA §7.1 requested_expiry, capped; ttl.BackchannelAuthenticationRequest. */
export function backchannelRequestLifetime(ctx: KoaContextWithOIDC | undefined): number {
  const requested = Number(ctx?.oidc?.params?.requested_expiry);
  return Number.isSafeInteger(requested) && requested > 0 ? Math.min(MAX_REQUEST_LIFETIME, requested) : MAX_REQUEST_LIFETIME;
}

/** The token endpoint's CIBA grant: our §11 checks, then oidc-provider's grant (one-time redemption included). */
export function cibaGrantHandler(provider: Provider, deps: CibaDependencies) {
  const builtIn = builtInCibaGrant(provider);
  return async function ciba(ctx: KoaContextWithOIDC): Promise<void> {
    const authReqId = ctx.oidc.params?.auth_req_id;
    const approval = typeof authReqId === 'string' && authReqId ? await deps.approvals.findByAuthReqId(authReqId) : undefined;
    // Another client's auth_req_id is left to oidc-provider, which refuses it as not this client's grant.
    if (approval && approval.clientId === ctx.oidc.client!.clientId) {
      if (approval.status === 'expired' || (approval.status === 'pending' && approval.expiresAt.getTime() <= Date.now())) {
        const expired = await deps.approvals.expire(approval.id);
        if (expired) {
          deps.audit.record({
            event: 'approval.expired', outcome: 'failure', clientId: approval.clientId, subject: approval.userId, orgId: approval.orgId,
            reason: 'nobody decided before the request expired', details: { approval: approval.id, tier: approval.tier },
          });
        }
        throw new errors.ExpiredToken('the backchannel authentication request expired before it was approved; make a new request');
      }
      // An approved agent_action becomes an action-bound token, which is single-use at the resource server and
      // so must be sender-constrained (RFC 9449): refused before anything is redeemed, so the agent can retry with
      // a proof. A proof that is present but wrong, or lacks the server's nonce, is oidc-provider's to refuse
      // (invalid_dpop_proof, use_dpop_nonce).
      if (!ctx.get('dpop') && approval.authorizationDetails?.some((detail) => detail.type === AGENT_ACTION)) {
        throw new errors.InvalidRequest('this request\'s authorization_details include agent_action: the token request must carry a DPoP proof (RFC 9449) so the token is bound to the agent\'s key');
      }
      // CIBA §11 slow_down: polling faster than `interval` while nobody has decided yet.
      if (approval.status === 'pending' && (await deps.polls.consume(authReqId as string)).refusedMs > 0) {
        throw new errors.SlowDown(`poll at most every ${deps.pollInterval} seconds (CIBA §7.3 interval), and add 5 seconds after each slow_down`);
      }
    }
    try {
      await builtIn(ctx);
    } catch (error) {
      // oidc-provider keeps a denial's error code but drops its description on the way (backchannelResult writes
      // `error_description`, the model keeps `errorDescription`); the client is told why from our record.
      const refusal = error as { error?: string; error_description?: string };
      if (refusal.error === 'access_denied' && !refusal.error_description && approval?.status === 'denied') {
        refusal.error_description = approval.decidedBy?.reason ?? 'the request was denied';
      }
      throw error;
    }
  };
}

/** RFC 8693 §4.1 `act` for a token an agent got through CIBA: the approving user is `sub`, the agent acts. */
export async function cibaActorClaims(token: { gty?: string; clientId?: string; accountId?: string }, agents: Pick<AgentStore, 'get'>): Promise<{ act: { sub: string } } | undefined> {
  if (token.gty !== 'ciba' || !token.clientId || !token.accountId) return undefined;
  // Only an agent acts for the user who approved; a client that is not one is the user's own client.
  if (!(await agents.get(token.clientId))) return undefined;
  return { act: { sub: token.clientId } };
}
