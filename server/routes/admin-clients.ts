// /admin/clients: every client the operator registered, agents included, under one lifecycle: list, read,
// suspend, activate, revoke, rotate credentials with a grace period, delete. Where a client is found (the agent
// registry or the client store) decides which store changes it, never the spelling of its id. Agents keep their
// richer view and their create/update routes at /admin/agents. An organization's operator (server/admin-scope.ts)
// lists and changes only its organization's clients; only the platform operator moves a registered client to
// another organization.
import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import type { Agent, AgentStatus, AgentStore } from '../../adapters/agent-store.ts';
import type { AuditLog } from '../../adapters/audit-log.ts';
import type { ResourceStore } from '../../adapters/resource-store.ts';
import type { RoleStore } from '../../adapters/role-store.ts';
import {
  type PostgresClientAdapter, type StoredClient,
} from '../../adapters/client-store.ts';
import { compareBytewise, encodeTextCursor } from '../../adapters/pagination.ts';
import { parseClientRecord } from '../../policy/client-record.ts';
import { adminActor, checkMember, confinedOrganization, listedOrganization } from '../admin-scope.ts';
import { InvalidField, NotFound } from '../http-error.ts';
import { organizationId } from '../organization-id.ts';
import { readJson } from '../read-body.ts';
import { parseInput } from '../validation.ts';

const listQuery = z.object({
  kind: z.enum(['agent', 'registered']).optional(),
  status: z.enum(['active', 'suspended', 'revoked']).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(512).optional(),
});

const moveInput = z.strictObject({ org_id: organizationId });

const rotateInput = z.object({
  grace_period_seconds: z.number().int().min(0).max(30 * 86_400).default(0),
}).strict();

export interface AdminClientDependencies {
  agents: AgentStore;
  clients: Pick<PostgresClientAdapter, 'record' | 'list' | 'setStatus' | 'rotateSecret' | 'destroy' | 'move'>;
  audit: AuditLog;
  /** What stays in the organization a client leaves: the resources it is limited to and the roles it holds. */
  resources: Pick<ResourceStore, 'get'>;
  roles: Pick<RoleStore, 'heldBy'>;
}

type Found = { kind: 'agent'; agent: Agent } | { kind: 'registered'; client: StoredClient };

export function adminClientRoutes({ agents, clients, audit, resources, roles }: AdminClientDependencies): Router {
  const router = new Router({ prefix: '/admin/clients' });

  function record(ctx: Context, event: string, found: Found, details?: Record<string, unknown>): void {
    audit.record({
      event, outcome: 'success', clientId: clientIdOf(found), actor: adminActor(ctx), orgId: orgOf(found),
      requestId: ctx.state.requestId, sourceIp: ctx.ip, details: { kind: found.kind, ...details } as never,
    });
  }

  async function find(id: string): Promise<Found | undefined> {
    const agent = await agents.get(id);
    if (agent) return { kind: 'agent', agent };
    const client = await clients.record(id);
    return client && { kind: 'registered', client };
  }

  /** The client the path names, for this caller: 404 for none, 403 for another organization's. */
  async function existing(ctx: Context): Promise<Found> {
    const found = await find(ctx.params.id);
    if (!found) throw new NotFound('client');
    checkMember(ctx, 'client', orgOf(found));
    return found;
  }

  const json = (found: Found) => (found.kind === 'agent' ? agentClientJson(found.agent) : storedClientJson(found.client));

  router.get('/', async (ctx) => {
    const query = parseInput(listQuery, ctx.query);
    // Both lists in id order from the same cursor (an organization's operator: its own); the page is the first
    // `limit` of the two merged.
    const request = { status: query.status, orgId: listedOrganization(ctx), limit: query.limit, cursor: query.cursor };
    const none = { items: [], nextCursor: null };
    const [agentPage, clientPage] = await Promise.all([
      query.kind === 'registered' ? none : agents.list(request),
      query.kind === 'agent' ? none : clients.list(request),
    ]);
    const merged = [...agentPage.items.map(agentClientJson), ...clientPage.items.map(storedClientJson)]
      .sort((a, b) => compareBytewise(a.client_id, b.client_id));
    const items = merged.slice(0, query.limit);
    const more = merged.length > query.limit || agentPage.nextCursor !== null || clientPage.nextCursor !== null;
    ctx.body = { items, next_cursor: more && items.length ? encodeTextCursor(items.at(-1)!.client_id) : null };
  });

  router.get('/:id', async (ctx) => {
    ctx.body = json(await existing(ctx));
  });

  const transitions: [path: string, status: AgentStatus, event: string][] = [
    ['suspend', 'suspended', 'client.suspended'],
    ['activate', 'active', 'client.activated'],
    ['revoke', 'revoked', 'client.revoked'],
  ];
  for (const [path, status, event] of transitions) {
    router.post(`/:id/${path}`, async (ctx) => {
      const found = await existing(ctx);
      const changed: Found | undefined = found.kind === 'agent'
        ? (await agents.setStatus(found.agent.id, status).then((agent) => agent && { kind: 'agent' as const, agent }))
        : (await clients.setStatus(found.client.id, status).then((client) => client && { kind: 'registered' as const, client }));
      if (!changed) throw new NotFound('client');
      record(ctx, event, changed);
      ctx.body = json(changed);
    });
  }

  // A move: an organization's operator moves no client out of its organization (naming another is 403).
  router.patch('/:id', async (ctx) => {
    const input = parseInput(moveInput, await readJson(ctx));
    const found = await existing(ctx);
    const orgId = confinedOrganization(ctx, input.org_id)!;
    if (found.kind === 'agent') throw new InvalidField('id', 'names an agent: move it at /admin/agents/{id} (PATCH with org_id), which takes its owner and resources along');
    const current = found.client;
    if (orgId === current.orgId) return void (ctx.body = storedClientJson(current));
    // What belongs to the old organization does not come along: its resources, and the roles held there.
    const limitedTo = parseClientRecord({ ...current.metadata, client_id: current.id }).resources ?? [];
    for (const [index, identifier] of limitedTo.entries()) {
      const resource = await resources.get(identifier);
      if (resource && resource.orgId !== orgId) {
        throw new InvalidField(`allowed_resources.${index}`, `the client is limited to "${identifier}", of organization "${resource.orgId}"; change its allowed_resources (RFC 7592) first`);
      }
    }
    const held = await roles.heldBy({ type: 'client', id: current.id });
    if (held.length > 0) throw new InvalidField('org_id', `the client holds roles of organization "${current.orgId}" (${held.map((name) => `"${name}"`).join(', ')}); revoke them first`);
    const moved = await clients.move(current.id, orgId);
    if (!moved) throw new NotFound('client');
    record(ctx, 'client.moved', { kind: 'registered', client: moved }, { moved_from: current.orgId });
    ctx.body = storedClientJson(moved);
  });

  router.post('/:id/rotate-credentials', async (ctx) => {
    const input = parseInput(rotateInput, await readJson(ctx));
    const found = await existing(ctx);
    if (found.kind === 'agent') throw new InvalidField('id', 'names an agent: rotate its credentials at /admin/agents/{id}/rotate-credentials, which takes its keys');
    const rotated = await clients.rotateSecret(found.client.id, input.grace_period_seconds);
    if (!rotated) throw new NotFound('client');
    record(ctx, 'client.credentials_rotated', found, { grace_period_seconds: input.grace_period_seconds });
    ctx.body = { ...storedClientJson(rotated.client), client_secret: rotated.clientSecret };
  });

  router.delete('/:id', async (ctx) => {
    const found = await existing(ctx);
    if (found.kind === 'agent') await agents.delete(found.agent.id);
    else await clients.destroy(found.client.id);
    record(ctx, 'client.deleted', found);
    ctx.status = 204;
  });

  return router;
}

const clientIdOf = (found: Found) => (found.kind === 'agent' ? found.agent.id : found.client.id);
const orgOf = (found: Found) => (found.kind === 'agent' ? found.agent.orgId : found.client.orgId);

/** One shape for every client: never a secret or its hash. */
function storedClientJson(client: StoredClient) {
  const metadata = client.metadata;
  // The same record the grants read (policy/client-record.ts), so what is shown is what applies.
  const record = parseClientRecord({ ...metadata, client_id: client.id });
  return {
    client_id: client.id,
    kind: 'registered',
    name: metadata.client_name ?? null,
    status: client.status,
    owner: record.ownerId ?? null,
    org_id: client.orgId,
    // Its scope patterns; for a client the operator gave none, the scopes its `scope` metadata lists (or null).
    scopes: record.scopePatterns ?? (typeof metadata.scope === 'string' ? metadata.scope.split(' ').filter(Boolean) : null),
    default_scopes: record.defaultScopes,
    resources: record.resources ?? null,
    access_token_ttl: record.accessTokenTtl ?? null,
    grant_types: metadata.grant_types ?? null,
    token_endpoint_auth_method: metadata.token_endpoint_auth_method ?? 'client_secret_basic',
    secrets_in_grace: client.previousSecrets.filter((previous) => Date.parse(previous.expires_at) > Date.now()).map((previous) => ({ expires_at: previous.expires_at })),
    tokens_invalid_before: client.tokensInvalidBefore,
    created_at: client.createdAt,
    updated_at: client.updatedAt,
  };
}

function agentClientJson(agent: Agent) {
  return {
    client_id: agent.id,
    kind: 'agent',
    name: agent.name,
    status: agent.status,
    owner: agent.ownerId,
    org_id: agent.orgId,
    scopes: agent.scopes,
    default_scopes: agent.defaultScopes,
    resources: agent.resources,
    access_token_ttl: agent.accessTokenTtl,
    token_endpoint_auth_method: agent.tokenEndpointAuthMethod,
    tokens_invalid_before: agent.tokensInvalidBefore,
    created_at: agent.createdAt,
    updated_at: agent.updatedAt,
  };
}
