// `agentauth agents …`: register and manage agents through the admin API. Key agents get an Ed25519 key pair
// generated here; only the public key is sent, the private key goes to a 0600 key file.
import { AdminClient, type Agent, type StatusChange } from '../admin-client.ts';
import { defaultKeyFilePath, ensureKeyFileWritable, generateAgentKeyPair, writeKeyFile } from '../agent-keys.ts';
import { CliError, UsageError } from '../cli-error.ts';
import {
  ADMIN_HELP, ADMIN_OPTIONS, expectPositionals, parseCommandLine, requireOption, scopeList, wholeNumberOption,
  type Command, type CommandResult,
} from '../command.ts';
import { formatAgent, formatAgentPage } from '../format-agent.ts';

const create: Command = {
  name: 'agents create',
  summary: 'register an agent with a new Ed25519 key (or a server-generated secret)',
  help: `usage: agentauth agents create --name NAME --owner USER_ID --scope PATTERN... [options]
  --scope PATTERN         an allowed scope pattern (repeatable, at least one)
  --default-scope SCOPE   granted when a token request names no scope (repeatable)
  --resource URL          an allowed resource indicator (repeatable; default: any registered resource)
  --ttl SECONDS           access token lifetime (default: the server's)
  --description TEXT
  --org ORG_ID            the organization it belongs to, its owner's (default: the default organization)
  --key-file PATH         where to write the private key (default: ./<agent id>.key.json), mode 0600
  --force                 replace an existing key file
  --secret                no key pair: the server generates a client secret, printed once
${ADMIN_HELP}`,
  async run(args, { env }) {
    const { values, positionals } = parseCommandLine(args, {
      ...ADMIN_OPTIONS,
      name: { type: 'string' },
      owner: { type: 'string' },
      scope: { type: 'string', multiple: true },
      'default-scope': { type: 'string', multiple: true },
      resource: { type: 'string', multiple: true },
      ttl: { type: 'string' },
      description: { type: 'string' },
      org: { type: 'string' },
      'key-file': { type: 'string' },
      force: { type: 'boolean' },
      secret: { type: 'boolean' },
    });
    expectPositionals(positionals, []);
    if (values.secret && values['key-file']) throw new UsageError('--secret and --key-file exclude each other');
    const admin = AdminClient.fromOptions(values, env);
    const registration = {
      name: requireOption(values.name, 'name'),
      owner: requireOption(values.owner, 'owner'),
      scopes: requireOption(scopeList(values.scope), 'scope'),
      default_scopes: scopeList(values['default-scope']),
      resources: values.resource,
      access_token_ttl: wholeNumberOption(values.ttl, 'ttl'),
      description: values.description,
      org_id: values.org,
    };
    if (values.secret) return agentResult(await admin.createAgent(registration));

    const force = values.force ?? false;
    if (values['key-file']) await ensureKeyFileWritable(values['key-file'], { force });
    const keys = await generateAgentKeyPair();
    const agent = await admin.createAgent({ ...registration, jwks: { keys: [keys.publicJwk] } });
    const keyFile = values['key-file'] ?? defaultKeyFilePath(agent.id);
    try {
      await writeKeyFile(keyFile, { agent_id: agent.id, server: admin.server, private_jwk: keys.privateJwk }, { force });
    } catch (error) {
      // Nobody holds the private key of the registered agent: take it back rather than leave it unusable.
      await admin.deleteAgent(agent.id).catch(() => {});
      throw new CliError(`${(error as Error).message}; agent ${agent.id} was deleted again`);
    }
    return agentResult(agent, keyFile);
  },
};

const list: Command = {
  name: 'agents list',
  summary: 'list agents, a page at a time',
  help: `usage: agentauth agents list [--owner USER_ID] [--status active|suspended|revoked] [--limit N] [--cursor C]
${ADMIN_HELP}`,
  async run(args, { env }) {
    const { values, positionals } = parseCommandLine(args, {
      ...ADMIN_OPTIONS,
      owner: { type: 'string' },
      status: { type: 'string' },
      limit: { type: 'string' },
      cursor: { type: 'string' },
    });
    expectPositionals(positionals, []);
    const page = await AdminClient.fromOptions(values, env).listAgents({
      owner: values.owner, status: values.status, limit: wholeNumberOption(values.limit, 'limit'), cursor: values.cursor,
    });
    return { json: page, text: formatAgentPage(page) };
  },
};

const get: Command = {
  name: 'agents get',
  summary: 'show one agent',
  help: `usage: agentauth agents get ID\n${ADMIN_HELP}`,
  async run(args, { env }) {
    const { values, positionals } = parseCommandLine(args, ADMIN_OPTIONS);
    const [id] = expectPositionals(positionals, ['ID']);
    return agentResult(await AdminClient.fromOptions(values, env).getAgent(id));
  },
};

function statusCommand(change: StatusChange, summary: string): Command {
  return {
    name: `agents ${change}`,
    summary,
    help: `usage: agentauth agents ${change} ID\n${ADMIN_HELP}`,
    async run(args, { env }) {
      const { values, positionals } = parseCommandLine(args, ADMIN_OPTIONS);
      const [id] = expectPositionals(positionals, ['ID']);
      return agentResult(await AdminClient.fromOptions(values, env).changeAgentStatus(id, change));
    },
  };
}

const remove: Command = {
  name: 'agents delete',
  summary: 'delete an agent and its credentials',
  help: `usage: agentauth agents delete ID\n${ADMIN_HELP}`,
  async run(args, { env }) {
    const { values, positionals } = parseCommandLine(args, ADMIN_OPTIONS);
    const [id] = expectPositionals(positionals, ['ID']);
    await AdminClient.fromOptions(values, env).deleteAgent(id);
    return { json: { id, deleted: true }, text: `deleted ${id}` };
  },
};

const rotate: Command = {
  name: 'agents rotate',
  summary: 'replace an agent\'s key (or secret); the old one works for --grace seconds',
  help: `usage: agentauth agents rotate ID [--key-file PATH] [--force] [--grace SECONDS]
       agentauth agents rotate ID --secret [--grace SECONDS]
  --key-file PATH         where to write the new private key (default: ./<agent id>.key.json), mode 0600
  --force                 replace an existing key file (e.g. the old key's)
  --grace SECONDS         how long the old credentials keep working (default 0: they stop now)
  --secret                the agent uses a client secret: print the new one instead
${ADMIN_HELP}`,
  async run(args, { env }) {
    const { values, positionals } = parseCommandLine(args, {
      ...ADMIN_OPTIONS,
      'key-file': { type: 'string' },
      force: { type: 'boolean' },
      grace: { type: 'string' },
      secret: { type: 'boolean' },
    });
    const [id] = expectPositionals(positionals, ['ID']);
    if (values.secret && values['key-file']) throw new UsageError('--secret and --key-file exclude each other');
    const admin = AdminClient.fromOptions(values, env);
    const grace_period_seconds = wholeNumberOption(values.grace, 'grace');
    if (values.secret) return agentResult(await admin.rotateAgentCredentials(id, { grace_period_seconds }));

    const force = values.force ?? false;
    const keyFile = values['key-file'] ?? defaultKeyFilePath(id);
    await ensureKeyFileWritable(keyFile, { force });
    const keys = await generateAgentKeyPair();
    const agent = await admin.rotateAgentCredentials(id, { jwks: { keys: [keys.publicJwk] }, grace_period_seconds });
    try {
      await writeKeyFile(keyFile, { agent_id: agent.id, server: admin.server, private_jwk: keys.privateJwk }, { force });
    } catch (error) {
      // Unlike create there is nothing to undo: the server already holds the new key. Say so plainly.
      throw new CliError(`${(error as Error).message}; the new key of ${id} is registered but lost: rotate again`);
    }
    return agentResult(agent, keyFile);
  },
};

export const agentCommands: Command[] = [
  create, list, get,
  statusCommand('suspend', 'stop an agent from getting tokens, for now'),
  statusCommand('activate', 'let a suspended agent get tokens again'),
  statusCommand('revoke', 'stop an agent for good (it cannot be activated again)'),
  remove, rotate,
];

/** The agent as the server sent it, plus where its new private key went; a client secret is shown this once. */
function agentResult(agent: Agent, keyFile?: string): CommandResult {
  const lines = [formatAgent(agent)];
  if (keyFile) lines.push(`private key written to ${keyFile} (mode 0600)`);
  if (agent.client_secret) lines.push(`client_secret: ${agent.client_secret}`, 'store it now: it is not shown again');
  return { json: keyFile ? { ...agent, key_file: keyFile } : agent, text: lines.join('\n') };
}
