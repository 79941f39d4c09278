// `agentauth clients …`: every client the operator registered (agents and RFC 7591 clients alike) through
// /admin/clients: list, show, suspend, activate, revoke, rotate the secret, delete.
import { AdminClient, type ClientPage, type ClientRecord, type StatusChange } from '../admin-client.ts';
import {
  ADMIN_HELP, ADMIN_OPTIONS, expectPositionals, parseCommandLine, wholeNumberOption, type Command, type CommandResult,
} from '../command.ts';
import { formatFields, formatTable } from '../format-table.ts';

const list: Command = {
  name: 'clients list',
  summary: 'list registered clients, a page at a time',
  help: `usage: agentauth clients list [--status active|suspended|revoked] [--limit N] [--cursor C]
${ADMIN_HELP}`,
  async run(args, { env }) {
    const { values, positionals } = parseCommandLine(args, {
      ...ADMIN_OPTIONS,
      status: { type: 'string' },
      limit: { type: 'string' },
      cursor: { type: 'string' },
    });
    expectPositionals(positionals, []);
    const page = await AdminClient.fromOptions(values, env).listClients({
      status: values.status, limit: wholeNumberOption(values.limit, 'limit'), cursor: values.cursor,
    });
    return { json: page, text: formatClientPage(page) };
  },
};

const show: Command = {
  name: 'clients show',
  summary: 'show one client',
  help: `usage: agentauth clients show ID\n${ADMIN_HELP}`,
  async run(args, { env }) {
    const { values, positionals } = parseCommandLine(args, ADMIN_OPTIONS);
    const [id] = expectPositionals(positionals, ['ID']);
    return clientResult(await AdminClient.fromOptions(values, env).getClient(id));
  },
};

function statusCommand(change: StatusChange, summary: string): Command {
  return {
    name: `clients ${change}`,
    summary,
    help: `usage: agentauth clients ${change} ID\n${ADMIN_HELP}`,
    async run(args, { env }) {
      const { values, positionals } = parseCommandLine(args, ADMIN_OPTIONS);
      const [id] = expectPositionals(positionals, ['ID']);
      return clientResult(await AdminClient.fromOptions(values, env).changeClientStatus(id, change));
    },
  };
}

const rotate: Command = {
  name: 'clients rotate',
  summary: 'give a client a new secret; the old one works for --grace seconds',
  help: `usage: agentauth clients rotate ID [--grace SECONDS]
  --grace SECONDS         how long the old secret keeps working (default 0: it stops now)
${ADMIN_HELP}`,
  async run(args, { env }) {
    const { values, positionals } = parseCommandLine(args, { ...ADMIN_OPTIONS, grace: { type: 'string' } });
    const [id] = expectPositionals(positionals, ['ID']);
    return clientResult(await AdminClient.fromOptions(values, env).rotateClientSecret(id, { grace_period_seconds: wholeNumberOption(values.grace, 'grace') }));
  },
};

const remove: Command = {
  name: 'clients delete',
  summary: 'delete a client; its tokens stop working at once',
  help: `usage: agentauth clients delete ID\n${ADMIN_HELP}`,
  async run(args, { env }) {
    const { values, positionals } = parseCommandLine(args, ADMIN_OPTIONS);
    const [id] = expectPositionals(positionals, ['ID']);
    await AdminClient.fromOptions(values, env).deleteClient(id);
    return { json: { client_id: id, deleted: true }, text: `deleted ${id}` };
  },
};

export const clientCommands: Command[] = [
  list, show,
  statusCommand('suspend', 'stop a client from getting tokens, for now (its tokens end at once)'),
  statusCommand('activate', 'let a suspended client get tokens again'),
  statusCommand('revoke', 'stop a client for good (it cannot be activated again)'),
  rotate, remove,
];

function formatClientPage(page: ClientPage): string {
  return formatTable(['CLIENT_ID', 'KIND', 'STATUS', 'NAME'], page.items.map((client) => [client.client_id, client.kind, client.status, client.name ?? '']), page.next_cursor);
}

/** A client secret is shown this once. */
function clientResult(client: ClientRecord): CommandResult {
  const lines = [formatFields([
    ['client_id', client.client_id],
    ['kind', client.kind],
    ['name', client.name ?? '-'],
    ['status', client.status],
    ['owner', client.owner ?? '-'],
    ['scopes', client.scopes?.join(' ') || '-'],
    ['auth method', client.token_endpoint_auth_method],
  ])];
  if (client.client_secret) lines.push(`client_secret: ${client.client_secret}`, 'store it now: it is not shown again');
  return { json: client, text: lines.join('\n') };
}
