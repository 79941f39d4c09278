// How agents read in a terminal. `--json` prints the admin API's own JSON instead, so scripts see the contract.
import type { Agent, AgentCredential, AgentPage } from './admin-client.ts';
import { formatFields, formatTable } from './format-table.ts';

export function formatAgent(agent: Agent): string {
  const rows: [string, string][] = [
    ['id', agent.id],
    ['name', agent.name],
    ['description', agent.description ?? '-'],
    ['owner', agent.owner],
    ['organization', agent.org_id],
    ['status', agent.status],
    ['scopes', agent.scopes.join(' ') || '-'],
    ['default scopes', agent.default_scopes.join(' ') || '-'],
    ['resources', agent.resources?.join(' ') ?? 'any registered resource'],
    ['token lifetime', agent.access_token_ttl === null ? 'server default' : `${agent.access_token_ttl}s`],
    ['authentication', agent.token_endpoint_auth_method],
    ['created', agent.created_at],
    ['updated', agent.updated_at],
  ];
  return [formatFields(rows), 'credentials:', ...(agent.credentials.length ? agent.credentials.map(formatCredential) : ['  none'])].join('\n');
}

function formatCredential(credential: AgentCredential): string {
  const what = credential.type === 'jwk' ? `key ${credential.kid ?? '?'} (${credential.alg ?? '?'})` : 'secret';
  const expiry = credential.expires_at ? `, expires ${credential.expires_at}` : '';
  return `  ${credential.id}  ${what}, created ${credential.created_at}${expiry}`;
}

export function formatAgentPage(page: AgentPage): string {
  if (page.items.length === 0) return 'no agents';
  return formatTable(['ID', 'NAME', 'STATUS', 'OWNER'], page.items.map((agent) => [agent.id, agent.name, agent.status, agent.owner]), page.next_cursor);
}
