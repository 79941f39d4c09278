// `agentauth users …`: the people who sign in at the login page (and own agents), through the admin API.
import { AdminClient, type User } from '../admin-client.ts';
import { UsageError } from '../cli-error.ts';
import { ADMIN_HELP, ADMIN_OPTIONS, expectPositionals, parseCommandLine, requireOption, wholeNumberOption, type Command } from '../command.ts';
import { formatFields, formatTable } from '../format-table.ts';

const formatUser = (user: User) => formatFields([['id', user.id], ['username', user.username], ['email', user.email ?? '-'], ['name', user.name ?? '-'], ['organization', user.org_id], ['created', user.created_at]]);

const create: Command = {
  name: 'users create',
  summary: 'create a user who can sign in',
  help: `usage: agentauth users create --username NAME --password-stdin [--email ADDRESS] [--name TEXT] [--org ORG_ID]
  --password-stdin        read the password from stdin (keeps it out of shell history and the process list)
  --password PASSWORD     the password on the command line (visible to other users of this machine)
  --org ORG_ID            the organization the user belongs to (default: the default organization)
${ADMIN_HELP}`,
  async run(args, { env, readStdin }) {
    const { values, positionals } = parseCommandLine(args, {
      ...ADMIN_OPTIONS,
      username: { type: 'string' },
      password: { type: 'string' },
      'password-stdin': { type: 'boolean' },
      email: { type: 'string' },
      name: { type: 'string' },
      org: { type: 'string' },
    });
    expectPositionals(positionals, []);
    if (values.password !== undefined && values['password-stdin']) throw new UsageError('--password and --password-stdin exclude each other');
    // Only a trailing newline is the shell's; any other whitespace is part of the password.
    const password = values['password-stdin'] ? (await readStdin()).replace(/\r?\n$/, '') : requireOption(values.password, 'password-stdin');
    const user = await AdminClient.fromOptions(values, env).createUser({
      username: requireOption(values.username, 'username'), password, email: values.email, name: values.name, org_id: values.org,
    });
    return { json: user, text: formatUser(user) };
  },
};

const list: Command = {
  name: 'users list',
  summary: 'list users, a page at a time',
  help: `usage: agentauth users list [--limit N] [--cursor CURSOR]
${ADMIN_HELP}`,
  async run(args, { env }) {
    const { values, positionals } = parseCommandLine(args, { ...ADMIN_OPTIONS, limit: { type: 'string' }, cursor: { type: 'string' } });
    expectPositionals(positionals, []);
    const page = await AdminClient.fromOptions(values, env).listUsers({ limit: wholeNumberOption(values.limit, 'limit'), cursor: values.cursor });
    const text = page.items.length ? formatTable(['ID', 'USERNAME', 'EMAIL'], page.items.map((user) => [user.id, user.username, user.email ?? '-']), page.next_cursor) : 'no users';
    return { json: page, text };
  },
};

const remove: Command = {
  name: 'users delete',
  summary: 'delete a user (refused while the user owns agents)',
  help: `usage: agentauth users delete USER_ID
${ADMIN_HELP}`,
  async run(args, { env }) {
    const { values, positionals } = parseCommandLine(args, { ...ADMIN_OPTIONS });
    const [id] = expectPositionals(positionals, ['USER_ID']);
    await AdminClient.fromOptions(values, env).deleteUser(id);
    return { json: { deleted: id }, text: `deleted user ${id}` };
  },
};

export const userCommands: Command[] = [create, list, remove];
