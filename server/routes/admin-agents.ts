// /admin/agents: the agent registry. Create (with the agent's public keys, or a server-generated secret shown
// once), list, read, update, suspend, activate, revoke, rotate credentials, delete. Every change is audited.
import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import {
  validCredentials, type Agent, type AgentStatus, type AgentStore,
} from '../../adapters/agent-store.ts';
import type { AuditLog } from '../../adapters/audit-log.ts';
import type { JsonObject } from '../../adapters/database.ts';
import { DEFAULT_ORG, UnknownOrganizationError, type OrganizationStore } from '../../adapters/organization-store.ts';
import type { ResourceStore } from '../../adapters/resource-store.ts';
import type { RoleStore } from '../../adapters/role-store.ts';
import type { UserStore } from '../../adapters/user-store.ts';
import {
  checkDefaultScopes, createAgentInput, normalizePublicJwks, rotateCredentialsInput, updateAgentInput,
} from '../agent-input.ts';
import { adminActor, checkMember, confinedOrganization, listedOrganization } from '../admin-scope.ts';
import { InvalidField, NotFound } from '../http-error.ts';
import { readJson } from '../read-body.ts';
import { parseInput } from '../validation.ts';

const listQuery = z.object({
  owner: z.string().max(200).optional(),
  status: z.enum(['active', 'suspended', 'revoked']).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(512).optional(),
});

export interface AdminAgentDependencies {
  agents: AgentStore;
  resources: ResourceStore;
  audit: AuditLog;
  /** The owner's organization must be the agent's. */
  users: Pick<UserStore, 'findById'>;
  organizations: Pick<OrganizationStore, 'get'>;
  /** An agent holding roles stays in their organization: roles are held only within one. */
  roles: Pick<RoleStore, 'heldBy'>;
}

export function adminAgentRoutes({ agents, resources, audit, users, organizations, roles }: AdminAgentDependencies): Router {
  const router = new Router({ prefix: '/admin/agents' });

  function record(ctx: Context, event: string, agent: Agent, details?: JsonObject): void {
    audit.record({
      event,
      outcome: 'success',
      clientId: agent.id,
      subject: agent.ownerId,
      actor: adminActor(ctx),
      orgId: agent.orgId,
      requestId: ctx.state.requestId,
      sourceIp: ctx.ip,
      details,
    });
  }

  /** Each resource must be registered, and the agent's organization's: it could never get tokens for another's. */
  async function checkResources(list: string[] | null | undefined, orgId: string): Promise<void> {
    for (const [index, identifier] of (list ?? []).entries()) {
      const resource = await resources.get(identifier);
      if (!resource) throw new InvalidField(`resources.${index}`, `"${identifier}" is not a registered resource`);
      if (resource.orgId !== orgId) throw new InvalidField(`resources.${index}`, `"${identifier}" belongs to another organization than the agent's ("${orgId}")`);
    }
  }

  /**
   * An agent acts for its owner: an owner of another organization would make it an actor across organizations
   * that no operator allowed. An unknown owner is left to the store (UnknownOwnerError).
   */
  async function checkOwnerOrganization(ownerId: string | undefined, orgId: string): Promise<void> {
    // Said first: "the owner is of another organization" would mislead about one that does not exist.
    if (!(await organizations.get(orgId))) throw new UnknownOrganizationError(orgId);
    if (ownerId === undefined) return;
    const owner = await users.findById(ownerId);
    if (owner && owner.orgId !== orgId) throw new InvalidField('owner', `belongs to organization "${owner.orgId}", not the agent's "${orgId}"`);
  }

  /** The agent the path names, for this caller: 404 for none, 403 for another organization's. */
  async function existing(ctx: Context): Promise<Agent> {
    const agent = await agents.get(ctx.params.id);
    if (!agent) throw new NotFound('agent');
    checkMember(ctx, 'agent', agent.orgId);
    return agent;
  }

  router.post('/', async (ctx) => {
    const input = parseInput(createAgentInput, await readJson(ctx));
    const method = input.token_endpoint_auth_method ?? (input.jwks ? 'private_key_jwt' : 'client_secret_basic');
    if (method === 'private_key_jwt' && !input.jwks) throw new InvalidField('jwks', 'is required for private_key_jwt');
    if (method !== 'private_key_jwt' && input.jwks) throw new InvalidField('jwks', `must be absent for ${method}: the server generates the secret`);
    checkDefaultScopes(input.default_scopes, input.scopes);
    const orgId = confinedOrganization(ctx, input.org_id);
    await checkOwnerOrganization(input.owner, orgId ?? DEFAULT_ORG);
    await checkResources(input.resources, orgId ?? DEFAULT_ORG);
    const publicJwks = input.jwks ? await normalizePublicJwks(input.jwks) : undefined;
    const { agent, clientSecret } = await agents.create({
      name: input.name,
      description: input.description,
      ownerId: input.owner,
      scopes: input.scopes,
      defaultScopes: input.default_scopes,
      resources: input.resources,
      accessTokenTtl: input.access_token_ttl,
      tokenEndpointAuthMethod: method,
      delegationPolicy: input.delegation_policy,
      mayAct: input.may_act,
      publicJwks: publicJwks as JsonObject[] | undefined,
      orgId,
    });
    record(ctx, 'agent.created', agent, { name: agent.name, scopes: agent.scopes, token_endpoint_auth_method: method });
    ctx.status = 201;
    ctx.body = { ...agentJson(agent), ...(clientSecret ? { client_secret: clientSecret } : {}) };
  });

  router.get('/', async (ctx) => {
    const query = parseInput(listQuery, ctx.query);
    const page = await agents.list({ ownerId: query.owner, status: query.status, orgId: listedOrganization(ctx), limit: query.limit, cursor: query.cursor });
    ctx.body = { items: page.items.map((agent) => agentJson(agent)), next_cursor: page.nextCursor };
  });

  router.get('/:id', async (ctx) => {
    ctx.body = agentJson(await existing(ctx));
  });

  router.patch('/:id', async (ctx) => {
    const input = parseInput(updateAgentInput, await readJson(ctx));
    const current = await existing(ctx);
    checkDefaultScopes(input.default_scopes ?? current.defaultScopes, input.scopes ?? current.scopes);
    // A move takes the agent's owner and resources with it, or the same request names ones of the new organization.
    const moveTo = input.org_id !== undefined && input.org_id !== current.orgId ? confinedOrganization(ctx, input.org_id)! : undefined;
    const orgId = moveTo ?? current.orgId;
    await checkOwnerOrganization(input.owner ?? (moveTo ? current.ownerId : undefined), orgId);
    await checkResources(input.resources ?? (moveTo ? current.resources : undefined), orgId);
    if (moveTo) {
      const held = await roles.heldBy({ type: 'client', id: current.id });
      if (held.length > 0) throw new InvalidField('org_id', `the agent holds roles of organization "${current.orgId}" (${held.map((name) => `"${name}"`).join(', ')}); revoke them first`);
    }
    const updated = await agents.update(current.id, {
      name: input.name,
      description: input.description,
      ownerId: input.owner,
      scopes: input.scopes,
      defaultScopes: input.default_scopes,
      resources: input.resources,
      accessTokenTtl: input.access_token_ttl,
      delegationPolicy: input.delegation_policy,
      mayAct: input.may_act,
      orgId: moveTo,
    });
    if (!updated) throw new NotFound('agent');
    record(ctx, 'agent.updated', updated, { changed: Object.keys(input), ...(moveTo ? { moved_from: current.orgId } : {}) });
    ctx.body = agentJson(updated);
  });

  const transitions: [path: string, status: AgentStatus, event: string][] = [
    ['suspend', 'suspended', 'agent.suspended'],
    ['activate', 'active', 'agent.activated'],
    ['revoke', 'revoked', 'agent.revoked'],
  ];
  for (const [path, status, event] of transitions) {
    router.post(`/:id/${path}`, async (ctx) => {
      await existing(ctx);
      const agent = await agents.setStatus(ctx.params.id, status);
      if (!agent) throw new NotFound('agent');
      record(ctx, event, agent);
      ctx.body = agentJson(agent);
    });
  }

  router.post('/:id/rotate-credentials', async (ctx) => {
    const input = parseInput(rotateCredentialsInput, await readJson(ctx));
    const current = await existing(ctx);
    const usesKeys = current.tokenEndpointAuthMethod === 'private_key_jwt';
    if (usesKeys && !input.jwks) throw new InvalidField('jwks', 'is required: this agent authenticates with private_key_jwt');
    if (!usesKeys && input.jwks) throw new InvalidField('jwks', 'must be absent: this agent authenticates with a secret, which the server generates');
    const kidsInUse = validCredentials(current).flatMap((credential) => (credential.publicJwk?.kid ? [String(credential.publicJwk.kid)] : []));
    const publicJwks = input.jwks ? await normalizePublicJwks(input.jwks, kidsInUse) : undefined;
    const rotated = await agents.rotateCredentials(current.id, publicJwks as JsonObject[] | undefined, input.grace_period_seconds);
    if (!rotated) throw new NotFound('agent');
    record(ctx, 'agent.credentials_rotated', rotated.agent, { grace_period_seconds: input.grace_period_seconds });
    ctx.body = { ...agentJson(rotated.agent), ...(rotated.clientSecret ? { client_secret: rotated.clientSecret } : {}) };
  });

  router.delete('/:id', async (ctx) => {
    const agent = await existing(ctx);
    if (!(await agents.delete(agent.id))) throw new NotFound('agent');
    record(ctx, 'agent.deleted', agent);
    ctx.status = 204;
  });

  return router;
}

/** The admin API's view of an agent: never a secret or its hash. */
function agentJson(agent: Agent) {
  return {
    id: agent.id,
    client_id: agent.id,
    name: agent.name,
    description: agent.description,
    owner: agent.ownerId,
    status: agent.status,
    scopes: agent.scopes,
    default_scopes: agent.defaultScopes,
    resources: agent.resources,
    access_token_ttl: agent.accessTokenTtl,
    token_endpoint_auth_method: agent.tokenEndpointAuthMethod,
    delegation_policy: agent.delegationPolicy,
    may_act: agent.mayAct,
    org_id: agent.orgId,
    credentials: agent.credentials.map((credential) => ({
      id: credential.id,
      type: credential.type,
      ...(credential.publicJwk
        ? { kid: credential.publicJwk.kid, alg: credential.publicJwk.kty === 'OKP' ? 'EdDSA' : 'ES256', public_jwk: credential.publicJwk }
        : {}),
      created_at: credential.createdAt,
      expires_at: credential.expiresAt,
    })),
    created_at: agent.createdAt,
    updated_at: agent.updatedAt,
  };
}
