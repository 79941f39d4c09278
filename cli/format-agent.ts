// How agents read in a terminal. `--json` prints the admin API's own JSON instead, so scripts see the contract.
import type { Agent, AgentCredential, AgentPage } from './admin-client.ts';

export function formatAgent(agent: Agent): string {
  const rows: [string, string][] = [
    ['id', agent.id],
    ['name', agent.name],
    ['description', agent.description ?? '-'],
    ['owner', agent.owner],
    ['status', agent.status],
    ['scopes', agent.scopes.join(' ') || '-'],
    ['default scopes', agent.default_scopes.join(' ') || '-'],
    ['resources', agent.resources?.join(' ') ?? 'any registered resource'],
    ['token lifetime', agent.access_token_ttl === null ? 'server default' : `${agent.access_token_ttl}s`],
    ['authentication', agent.token_endpoint_auth_method],
    ['created', agent.created_at],
    ['updated', agent.updated_at],
  ];
  const width = Math.max(...rows.map(([label]) => label.length));
  const lines = rows.map(([label, value]) => `${`${label}:`.padEnd(width + 2)}${value}`);
  lines.push('credentials:', ...(agent.credentials.length ? agent.credentials.map(formatCredential) : ['  none']));
  return lines.join('\n');
}

function formatCredential(credential: AgentCredential): string {
  const what = credential.type === 'jwk' ? `key ${credential.kid ?? '?'} (${credential.alg ?? '?'})` : 'secret';
  const expiry = credential.expires_at ? `, expires ${credential.expires_at}` : '';
  return `  ${credential.id}  ${what}, created ${credential.created_at}${expiry}`;
}

export function formatAgentPage(page: AgentPage): string {
  if (page.items.length === 0) return 'no agents';
  const rows = [['ID', 'NAME', 'STATUS', 'OWNER'], ...page.items.map((agent) => [agent.id, agent.name, agent.status, agent.owner])];
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  const lines = rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column])).join('  ').trimEnd());
  if (page.next_cursor) lines.push(`more: --cursor ${page.next_cursor}`);
  return lines.join('\n');
}
