// `agentauth roles …`: roles (named bundles of scope patterns that may inherit other roles) and who holds them,
// through the admin API's /admin/roles.
import { AdminClient, type Role } from '../admin-client.ts';
import { UsageError } from '../cli-error.ts';
import { ADMIN_HELP, ADMIN_OPTIONS, expectPositionals, parseCommandLine, scopeList, wholeNumberOption, type Command } from '../command.ts';
import { formatFields, formatTable } from '../format-table.ts';

const roleFields = (role: Role): [string, string][] => [
  ['name', role.name],
  ['description', role.description ?? '-'],
  ['scopes', role.scopes.join(' ') || '-'],
  ['inherits', role.inherits.join(' ') || '-'],
  ['organization', role.org_id],
  ['grants', role.effective_scopes.join(' ') || '-'],
];
const formatRole = (role: Role) => formatFields(roleFields(role));

/** `--user ID` or `--client ID`, exactly one. */
function holderOf(values: { user?: string; client?: string }): { user_id: string } | { client_id: string } {
  if ((values.user === undefined) === (values.client === undefined)) throw new UsageError('name the holder with --user ID or --client ID (one of them)');
  return values.user !== undefined ? { user_id: values.user } : { client_id: values.client! };
}

const create: Command = {
  name: 'roles create',
  summary: 'create a role: scope patterns, and roles it inherits',
  help: `usage: agentauth roles create NAME [--scope PATTERN]... [--inherits ROLE]... [--description TEXT] [--org ORG_ID]
  --scope PATTERN         a scope or pattern (resource:action, * and **) the role grants (repeatable)
  --inherits ROLE         a role of the same organization whose scopes this one also grants (repeatable)
  --org ORG_ID            the organization the role belongs to, whose users and clients alone may hold it
                          (default: the default organization, or the credential's)
${ADMIN_HELP}`,
  async run(args, { env }) {
    const { values, positionals } = parseCommandLine(args, {
      ...ADMIN_OPTIONS, scope: { type: 'string', multiple: true }, inherits: { type: 'string', multiple: true }, description: { type: 'string' }, org: { type: 'string' },
    });
    const [name] = expectPositionals(positionals, ['NAME']);
    const role = await AdminClient.fromOptions(values, env).createRole({ name, scopes: scopeList(values.scope) ?? [], inherits: values.inherits ?? [], description: values.description, org_id: values.org });
    return { json: role, text: formatRole(role) };
  },
};

const list: Command = {
  name: 'roles list',
  summary: 'list roles, or the roles a user or client holds',
  help: `usage: agentauth roles list [--user ID | --client ID] [--limit N] [--cursor CURSOR]
${ADMIN_HELP}`,
  async run(args, { env }) {
    const { values, positionals } = parseCommandLine(args, {
      ...ADMIN_OPTIONS, user: { type: 'string' }, client: { type: 'string' }, limit: { type: 'string' }, cursor: { type: 'string' },
    });
    expectPositionals(positionals, []);
    const holder = values.user !== undefined || values.client !== undefined ? holderOf(values) : {};
    const page = await AdminClient.fromOptions(values, env).listRoles({ ...holder, limit: wholeNumberOption(values.limit, 'limit'), cursor: values.cursor });
    const rows = page.items.map((role) => [role.name, role.inherits.join(' ') || '-', role.effective_scopes.join(' ') || '-']);
    const table = page.items.length ? formatTable(['NAME', 'INHERITS', 'GRANTS'], rows, page.next_cursor) : 'no roles';
    return { json: page, text: page.effective_scopes ? `${table}\ngrants together: ${page.effective_scopes.join(' ') || '-'}` : table };
  },
};

const show: Command = {
  name: 'roles show',
  summary: 'show a role, what it grants, and who holds it',
  help: `usage: agentauth roles show NAME
${ADMIN_HELP}`,
  async run(args, { env }) {
    const { values, positionals } = parseCommandLine(args, { ...ADMIN_OPTIONS });
    const [name] = expectPositionals(positionals, ['NAME']);
    const admin = AdminClient.fromOptions(values, env);
    const [role, holders] = await Promise.all([admin.getRole(name), admin.roleHolders(name)]);
    const held = holders.items.map((holder) => ('user_id' in holder ? `user ${holder.user_id}` : `client ${holder.client_id}`));
    return { json: { ...role, holders: holders.items }, text: formatFields([...roleFields(role), ['held by', held.join(', ') || '-']]) };
  },
};

const grant: Command = {
  name: 'roles grant',
  summary: 'give a user or client a role',
  help: `usage: agentauth roles grant NAME (--user ID | --client ID)
${ADMIN_HELP}`,
  async run(args, { env }) {
    const { values, positionals } = parseCommandLine(args, { ...ADMIN_OPTIONS, user: { type: 'string' }, client: { type: 'string' } });
    const [name] = expectPositionals(positionals, ['NAME']);
    const holder = holderOf(values);
    const granted = await AdminClient.fromOptions(values, env).grantRole(name, holder);
    return { json: granted, text: `granted role ${name} to ${'user_id' in holder ? `user ${holder.user_id}` : `client ${holder.client_id}`}` };
  },
};

const revoke: Command = {
  name: 'roles revoke',
  summary: 'take a role from a user or client',
  help: `usage: agentauth roles revoke NAME (--user ID | --client ID)
${ADMIN_HELP}`,
  async run(args, { env }) {
    const { values, positionals } = parseCommandLine(args, { ...ADMIN_OPTIONS, user: { type: 'string' }, client: { type: 'string' } });
    const [name] = expectPositionals(positionals, ['NAME']);
    const holder = holderOf(values);
    await AdminClient.fromOptions(values, env).revokeRole(name, holder);
    return { json: { revoked: name, ...holder }, text: `revoked role ${name} from ${'user_id' in holder ? `user ${holder.user_id}` : `client ${holder.client_id}`}` };
  },
};

const remove: Command = {
  name: 'roles delete',
  summary: 'delete a role no other role inherits',
  help: `usage: agentauth roles delete NAME
${ADMIN_HELP}`,
  async run(args, { env }) {
    const { values, positionals } = parseCommandLine(args, { ...ADMIN_OPTIONS });
    const [name] = expectPositionals(positionals, ['NAME']);
    await AdminClient.fromOptions(values, env).deleteRole(name);
    return { json: { deleted: name }, text: `deleted role ${name}` };
  },
};

export const roleCommands: Command[] = [create, list, show, grant, revoke, remove];
