// The admin API (/admin/agents) as typed calls. Where the server is and which admin token to send come from the
// flags or the environment, resolved once here.
import type { JWK } from 'jose';
import { UsageError } from './cli-error.ts';
import { fetchJson } from './fetch-json.ts';

export const DEFAULT_SERVER = 'http://localhost:3000';

/** An approval as /admin/approvals shows it. */
export interface ApprovalView {
  id: string;
  status: 'pending' | 'approved' | 'denied' | 'expired';
  tier: 'soft' | 'strong';
  client_id: string;
  user_id: string;
  binding_message: string | null;
  scope: string;
  authorization_details: Record<string, unknown>[] | null;
  expires_at: string;
  decided_by: Record<string, unknown> | null;
  /** Users of whom one approves after the named user (a strong rule's second_approvers); empty: nobody. */
  second_approvers: string[];
  first_approval: { approver: Record<string, unknown>; at: string } | null;
}

export type AgentStatus = 'active' | 'suspended' | 'revoked';

export interface AgentCredential {
  id: string;
  type: 'jwk' | 'secret';
  kid?: string;
  alg?: string;
  created_at: string;
  expires_at: string | null;
}

export interface Agent {
  id: string;
  client_id: string;
  name: string;
  description: string | null;
  owner: string;
  status: AgentStatus;
  scopes: string[];
  default_scopes: string[];
  resources: string[] | null;
  access_token_ttl: number | null;
  token_endpoint_auth_method: 'private_key_jwt' | 'client_secret_basic' | 'client_secret_post';
  org_id: string;
  credentials: AgentCredential[];
  created_at: string;
  updated_at: string;
  /** Only in the answers to create and rotate-credentials, for agents authenticating with a secret. */
  client_secret?: string;
}

export interface NewAgent {
  name: string;
  owner: string;
  scopes: string[];
  description?: string;
  default_scopes?: string[];
  resources?: string[];
  access_token_ttl?: number;
  /** The organization it belongs to; the server's default one when absent. */
  org_id?: string;
  /** Public keys; without them the server generates a client secret. */
  jwks?: { keys: JWK[] };
}

/** Any client the operator registered, as /admin/clients shows it. */
export interface ClientRecord {
  client_id: string;
  kind: 'agent' | 'registered';
  name: string | null;
  status: AgentStatus;
  owner: string | null;
  scopes: string[] | null;
  token_endpoint_auth_method: string;
  created_at: string;
  updated_at: string;
  /** Only in the answer to a rotation. */
  client_secret?: string;
}

export interface ClientPage {
  items: ClientRecord[];
  next_cursor: string | null;
}

export interface AgentQuery {
  owner?: string;
  status?: string;
  limit?: number;
  cursor?: string;
}

export interface AgentPage {
  items: Agent[];
  next_cursor: string | null;
}

export type StatusChange = 'suspend' | 'activate' | 'revoke';

/** A page of any admin list: `{items, next_cursor}`. */
export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export interface User {
  id: string;
  username: string;
  email: string | null;
  name: string | null;
  org_id: string;
  created_at: string;
}

export interface Resource {
  identifier: string;
  id: string;
  name: string | null;
  scopes: string[];
  token_format: 'jwt' | 'opaque';
  access_token_ttl: number;
  dpop_required: boolean;
  /** null: the server's default. */
  signing_alg: string | null;
  resource_metadata_url: string;
  org_id: string;
}

export interface Organization {
  id: string;
  name: string;
  /** Organizations whose principals may act for this one's users. */
  allowed_actor_orgs: string[];
  created_at: string;
}

/** An organization operator's admin credential; `token` only in the answer that issued it. */
export interface OrganizationCredential {
  id: string;
  org_id: string;
  created_at: string;
  token?: string;
}

export interface IdJagAudience {
  issuer: string;
  name: string | null;
  resources: string[];
  /** Our client_id → the client_id the audience knows the client by. */
  clients: Record<string, string>;
  /** Absent: any scope the client asks for. */
  scopes?: string[];
  created_at: string;
  updated_at: string;
}

export interface Role {
  name: string;
  description: string | null;
  scopes: string[];
  inherits: string[];
  org_id: string;
  /** The role and every role it inherits, and their patterns. */
  effective_roles: string[];
  effective_scopes: string[];
  created_at: string;
  updated_at: string;
}

export type RoleHolder = { user_id: string } | { client_id: string };

export interface SigningKey {
  kid: string;
  alg: string;
  status: 'next' | 'active' | 'retired';
  created_at: string;
  promoted_at: string | null;
  retired_at: string | null;
}

export type KeyStep = 'rotate' | 'promote' | 'prune';

export interface AuditRecord {
  id: string;
  at: string;
  event: string;
  client_id: string | null;
  subject: string | null;
  actor: unknown;
  outcome: 'success' | 'failure';
  reason: string | null;
  request_id: string | null;
}

/** `--server`, else AGENTAUTH_URL, else the default; normalised without a trailing slash. */
export function resolveServer(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  const value = flag ?? env.AGENTAUTH_URL ?? DEFAULT_SERVER;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`server URL ${JSON.stringify(value)} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`server URL ${value} must be http or https`);
  return url.href.replace(/\/+$/, '');
}

/** OpenID AuthZEN Authorization API 1.0 §6.1: who, what, on what, in which context. */
export interface AccessEvaluationRequest {
  subject: { type: string; id: string };
  action: { name: string };
  resource: { type: string; id: string };
  context?: Record<string, unknown>;
}

export interface AccessDecision {
  decision: boolean;
  context?: { reason?: string; rule?: string };
}

export class AdminClient {
  readonly server: string;
  readonly #adminToken: string;

  constructor(server: string, adminToken: string) {
    this.server = server;
    this.#adminToken = adminToken;
  }

  /** `--admin-token` works, but ADMIN_TOKEN keeps the token out of shell history and the process list. */
  static fromOptions(flags: { server?: string; 'admin-token'?: string }, env: NodeJS.ProcessEnv): AdminClient {
    const adminToken = flags['admin-token'] ?? env.ADMIN_TOKEN;
    if (!adminToken) throw new UsageError('no admin token: set ADMIN_TOKEN or pass --admin-token');
    return new AdminClient(resolveServer(flags.server, env), adminToken);
  }

  createAgent(agent: NewAgent): Promise<Agent> {
    return this.#call('POST', '/admin/agents', agent) as Promise<Agent>;
  }

  listAgents(query: AgentQuery): Promise<AgentPage> {
    return this.#call('GET', `/admin/agents${querySuffix(query)}`) as Promise<AgentPage>;
  }

  getAgent(id: string): Promise<Agent> {
    return this.#call('GET', agentPath(id)) as Promise<Agent>;
  }

  changeAgentStatus(id: string, change: StatusChange): Promise<Agent> {
    return this.#call('POST', `${agentPath(id)}/${change}`) as Promise<Agent>;
  }

  rotateAgentCredentials(id: string, rotation: { jwks?: { keys: JWK[] }; grace_period_seconds?: number }): Promise<Agent> {
    return this.#call('POST', `${agentPath(id)}/rotate-credentials`, rotation) as Promise<Agent>;
  }

  async deleteAgent(id: string): Promise<void> {
    await this.#call('DELETE', agentPath(id));
  }

  listClients(query: { status?: string; limit?: number; cursor?: string }): Promise<ClientPage> {
    return this.#call('GET', `/admin/clients${querySuffix(query)}`) as Promise<ClientPage>;
  }

  getClient(id: string): Promise<ClientRecord> {
    return this.#call('GET', clientPath(id)) as Promise<ClientRecord>;
  }

  changeClientStatus(id: string, change: StatusChange): Promise<ClientRecord> {
    return this.#call('POST', `${clientPath(id)}/${change}`) as Promise<ClientRecord>;
  }

  rotateClientSecret(id: string, rotation: { grace_period_seconds?: number }): Promise<ClientRecord> {
    return this.#call('POST', `${clientPath(id)}/rotate-credentials`, rotation) as Promise<ClientRecord>;
  }

  async deleteClient(id: string): Promise<void> {
    await this.#call('DELETE', clientPath(id));
  }

  createUser(user: { username: string; password: string; email?: string; name?: string; org_id?: string }): Promise<User> {
    return this.#call('POST', '/admin/users', user) as Promise<User>;
  }

  listUsers(query: { limit?: number; cursor?: string }): Promise<Page<User>> {
    return this.#call('GET', `/admin/users${querySuffix(query)}`) as Promise<Page<User>>;
  }

  async deleteUser(id: string): Promise<void> {
    await this.#call('DELETE', `/admin/users/${encodeURIComponent(id)}`);
  }

  createResource(resource: Record<string, unknown>): Promise<Resource> {
    return this.#call('POST', '/admin/resources', resource) as Promise<Resource>;
  }

  listResources(query: { limit?: number; cursor?: string }): Promise<Page<Resource>> {
    return this.#call('GET', `/admin/resources${querySuffix(query)}`) as Promise<Page<Resource>>;
  }

  async deleteResource(identifier: string): Promise<void> {
    await this.#call('DELETE', `/admin/resources/${encodeURIComponent(identifier)}`);
  }

  createIdJagAudience(audience: { issuer: string; resources: string[]; clients: Record<string, string>; scopes?: string[]; name?: string }): Promise<IdJagAudience> {
    return this.#call('POST', '/admin/id-jag-audiences', audience) as Promise<IdJagAudience>;
  }

  listIdJagAudiences(query: { limit?: number; cursor?: string }): Promise<Page<IdJagAudience>> {
    return this.#call('GET', `/admin/id-jag-audiences${querySuffix(query)}`) as Promise<Page<IdJagAudience>>;
  }

  getIdJagAudience(issuer: string): Promise<IdJagAudience> {
    return this.#call('GET', `/admin/id-jag-audiences/${encodeURIComponent(issuer)}`) as Promise<IdJagAudience>;
  }

  async deleteIdJagAudience(issuer: string): Promise<void> {
    await this.#call('DELETE', `/admin/id-jag-audiences/${encodeURIComponent(issuer)}`);
  }

  createOrganization(organization: { id: string; name: string; allowed_actor_orgs?: string[] }): Promise<Organization> {
    return this.#call('POST', '/admin/organizations', organization) as Promise<Organization>;
  }

  listOrganizations(query: { limit?: number; cursor?: string }): Promise<Page<Organization>> {
    return this.#call('GET', `/admin/organizations${querySuffix(query)}`) as Promise<Page<Organization>>;
  }

  getOrganization(id: string): Promise<Organization> {
    return this.#call('GET', organizationPath(id)) as Promise<Organization>;
  }

  updateOrganization(id: string, patch: { name?: string; allowed_actor_orgs?: string[] }): Promise<Organization> {
    return this.#call('PATCH', organizationPath(id), patch) as Promise<Organization>;
  }

  async deleteOrganization(id: string): Promise<void> {
    await this.#call('DELETE', organizationPath(id));
  }

  issueOrganizationCredential(id: string): Promise<Required<OrganizationCredential>> {
    return this.#call('POST', `${organizationPath(id)}/credentials`) as Promise<Required<OrganizationCredential>>;
  }

  listOrganizationCredentials(id: string): Promise<{ items: OrganizationCredential[] }> {
    return this.#call('GET', `${organizationPath(id)}/credentials`) as Promise<{ items: OrganizationCredential[] }>;
  }

  async revokeOrganizationCredential(id: string, credential: string): Promise<void> {
    await this.#call('DELETE', `${organizationPath(id)}/credentials/${encodeURIComponent(credential)}`);
  }

  createRole(role: { name: string; scopes: string[]; inherits: string[]; description?: string; org_id?: string }): Promise<Role> {
    return this.#call('POST', '/admin/roles', role) as Promise<Role>;
  }

  listRoles(query: { user_id?: string; client_id?: string; limit?: number; cursor?: string }): Promise<Page<Role> & { effective_scopes?: string[] }> {
    return this.#call('GET', `/admin/roles${querySuffix(query)}`) as Promise<Page<Role> & { effective_scopes?: string[] }>;
  }

  getRole(name: string): Promise<Role> {
    return this.#call('GET', rolePath(name)) as Promise<Role>;
  }

  roleHolders(name: string): Promise<Page<RoleHolder & { since: string }>> {
    return this.#call('GET', `${rolePath(name)}/holders?limit=200`) as Promise<Page<RoleHolder & { since: string }>>;
  }

  grantRole(name: string, holder: RoleHolder): Promise<Record<string, string>> {
    return this.#call('POST', `${rolePath(name)}/holders`, holder) as Promise<Record<string, string>>;
  }

  async revokeRole(name: string, holder: RoleHolder): Promise<void> {
    const [kind, id] = 'user_id' in holder ? ['users', holder.user_id] : ['clients', holder.client_id];
    await this.#call('DELETE', `${rolePath(name)}/holders/${kind}/${encodeURIComponent(id)}`);
  }

  async deleteRole(name: string): Promise<void> {
    await this.#call('DELETE', rolePath(name));
  }

  listAudit(query: { client_id?: string; event?: string; from?: string; to?: string; limit?: number; cursor?: string }): Promise<Page<AuditRecord>> {
    return this.#call('GET', `/admin/audit${querySuffix(query)}`) as Promise<Page<AuditRecord>>;
  }

  listKeys(): Promise<{ items: SigningKey[] }> {
    return this.#call('GET', '/admin/keys') as Promise<{ items: SigningKey[] }>;
  }

  keyStep(step: KeyStep, body: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    return this.#call('POST', `/admin/keys/${step}`, body) as Promise<Record<string, unknown>>;
  }

  /** The permission check (AuthZEN Access Evaluation), which takes the admin token as the operator's credential. */
  evaluateAccess(request: AccessEvaluationRequest): Promise<AccessDecision> {
    return this.#call('POST', '/access/v1/evaluation', request) as Promise<AccessDecision>;
  }

  listApprovals(query: { status?: string; user_id?: string; client_id?: string; limit?: number; cursor?: string }): Promise<{ items: ApprovalView[]; next_cursor: string | null }> {
    const params = new URLSearchParams(Object.entries(query).filter(([, value]) => value !== undefined).map(([key, value]): [string, string] => [key, String(value)]));
    return this.#call('GET', `/admin/approvals${params.size ? `?${params}` : ''}`) as Promise<{ items: ApprovalView[]; next_cursor: string | null }>;
  }

  decideApproval(id: string, decision: 'approve' | 'deny', body: { password?: string; reason?: string; user_id?: string }): Promise<ApprovalView & { notification?: string; awaiting_second_approver?: true }> {
    return this.#call('POST', `/admin/approvals/${encodeURIComponent(id)}/${decision}`, body) as Promise<ApprovalView & { notification?: string }>;
  }

  #call(method: string, path: string, body?: unknown): Promise<unknown> {
    return fetchJson(`${this.server}${path}`, { method, body, headers: { authorization: `Bearer ${this.#adminToken}` } });
  }
}

function querySuffix(query: object): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) if (value !== undefined) search.set(name, String(value));
  return search.size ? `?${search}` : '';
}

// An id typed by hand must not be able to reach another route ("x/../../users").
function agentPath(id: string): string {
  return `/admin/agents/${encodeURIComponent(id)}`;
}

function rolePath(name: string): string {
  return `/admin/roles/${encodeURIComponent(name)}`;
}

function clientPath(id: string): string {
  return `/admin/clients/${encodeURIComponent(id)}`;
}

function organizationPath(id: string): string {
  return `/admin/organizations/${encodeURIComponent(id)}`;
}
