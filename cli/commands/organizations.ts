// `agentauth organizations …`: organizations (issue 18 part 2), which organizations' principals may act for each
// one's users, and the admin credentials of an organization's operator, through the admin API's
// /admin/organizations. Members join an organization where they are created (`users create --org`, …).
import { AdminClient, type Organization } from '../admin-client.ts';
import { UsageError } from '../cli-error.ts';
import { ADMIN_HELP, ADMIN_OPTIONS, expectPositionals, parseCommandLine, requireOption, wholeNumberOption, type Command } from '../command.ts';
import { formatFields, formatTable } from '../format-table.ts';

const formatOrganization = (organization: Organization) => formatFields([
  ['id', organization.id],
  ['name', organization.name],
  ['actors from', organization.allowed_actor_orgs.join(' ') || '-'],
  ['created', organization.created_at],
]);

const ACTOR_HELP = `  --allow-actor-org ORG   an organization whose agents and clients may act for this one's users
                          (repeatable; cross-organization delegation, one way)`;

const create: Command = {
  name: 'organizations create',
  summary: 'create an organization',
  help: `usage: agentauth organizations create ID --name TEXT [--allow-actor-org ORG]...
  ID                      1–63 lower-case letters, digits, "_" or "-"; what members name with --org
${ACTOR_HELP}
${ADMIN_HELP}`,
  async run(args, { env }) {
    const { values, positionals } = parseCommandLine(args, { ...ADMIN_OPTIONS, name: { type: 'string' }, 'allow-actor-org': { type: 'string', multiple: true } });
    const [id] = expectPositionals(positionals, ['ID']);
    const organization = await AdminClient.fromOptions(values, env).createOrganization({
      id, name: requireOption(values.name, 'name'), allowed_actor_orgs: values['allow-actor-org'] ?? [],
    });
    return { json: organization, text: formatOrganization(organization) };
  },
};

const list: Command = {
  name: 'organizations list',
  summary: 'list organizations',
  help: `usage: agentauth organizations list [--limit N] [--cursor CURSOR]
${ADMIN_HELP}`,
  async run(args, { env }) {
    const { values, positionals } = parseCommandLine(args, { ...ADMIN_OPTIONS, limit: { type: 'string' }, cursor: { type: 'string' } });
    expectPositionals(positionals, []);
    const page = await AdminClient.fromOptions(values, env).listOrganizations({ limit: wholeNumberOption(values.limit, 'limit'), cursor: values.cursor });
    const rows = page.items.map((organization) => [organization.id, organization.name, organization.allowed_actor_orgs.join(' ') || '-']);
    return { json: page, text: page.items.length ? formatTable(['ID', 'NAME', 'ACTORS FROM'], rows, page.next_cursor) : 'no organizations' };
  },
};

const show: Command = {
  name: 'organizations show',
  summary: 'show an organization',
  help: `usage: agentauth organizations show ID
${ADMIN_HELP}`,
  async run(args, { env }) {
    const { values, positionals } = parseCommandLine(args, { ...ADMIN_OPTIONS });
    const [id] = expectPositionals(positionals, ['ID']);
    const organization = await AdminClient.fromOptions(values, env).getOrganization(id);
    return { json: organization, text: formatOrganization(organization) };
  },
};

const update: Command = {
  name: 'organizations update',
  summary: "rename an organization, or replace the organizations that may act for its users",
  help: `usage: agentauth organizations update ID [--name TEXT] [--allow-actor-org ORG... | --no-actor-orgs]
${ACTOR_HELP}
                          replaces the whole list
  --no-actor-orgs         no other organization may act for its users
${ADMIN_HELP}`,
  async run(args, { env }) {
    const { values, positionals } = parseCommandLine(args, {
      ...ADMIN_OPTIONS, name: { type: 'string' }, 'allow-actor-org': { type: 'string', multiple: true }, 'no-actor-orgs': { type: 'boolean' },
    });
    const [id] = expectPositionals(positionals, ['ID']);
    if (values['allow-actor-org'] && values['no-actor-orgs']) throw new UsageError('give --allow-actor-org or --no-actor-orgs, not both');
    const actors = values['no-actor-orgs'] ? [] : values['allow-actor-org'];
    if (values.name === undefined && actors === undefined) throw new UsageError('nothing to change: give --name, --allow-actor-org or --no-actor-orgs');
    const organization = await AdminClient.fromOptions(values, env).updateOrganization(id, {
      ...(values.name !== undefined ? { name: values.name } : {}),
      ...(actors !== undefined ? { allowed_actor_orgs: actors } : {}),
    });
    return { json: organization, text: formatOrganization(organization) };
  },
};

const remove: Command = {
  name: 'organizations delete',
  summary: 'delete an organization nothing belongs to any more',
  help: `usage: agentauth organizations delete ID
${ADMIN_HELP}`,
  async run(args, { env }) {
    const { values, positionals } = parseCommandLine(args, { ...ADMIN_OPTIONS });
    const [id] = expectPositionals(positionals, ['ID']);
    await AdminClient.fromOptions(values, env).deleteOrganization(id);
    return { json: { deleted: id }, text: `deleted organization ${id}` };
  },
};

const issueCredential: Command = {
  name: 'organizations credentials issue',
  summary: "issue an admin credential for an organization's operator (shown once)",
  help: `usage: agentauth organizations credentials issue ID
  The token reaches only the organization's users, agents, clients, roles, resources and audit trail;
  it is printed once and stored only as a hash.
${ADMIN_HELP}`,
  async run(args, { env }) {
    const { values, positionals } = parseCommandLine(args, { ...ADMIN_OPTIONS });
    const [id] = expectPositionals(positionals, ['ID']);
    const issued = await AdminClient.fromOptions(values, env).issueOrganizationCredential(id);
    return {
      json: issued,
      text: `${formatFields([['id', issued.id], ['organization', issued.org_id], ['created', issued.created_at], ['token', issued.token]])}\nthe token is shown only now; keep it as the organization operator's ADMIN_TOKEN`,
    };
  },
};

const listCredentials: Command = {
  name: 'organizations credentials list',
  summary: "list an organization's admin credentials (never their tokens)",
  help: `usage: agentauth organizations credentials list ID
${ADMIN_HELP}`,
  async run(args, { env }) {
    const { values, positionals } = parseCommandLine(args, { ...ADMIN_OPTIONS });
    const [id] = expectPositionals(positionals, ['ID']);
    const listed = await AdminClient.fromOptions(values, env).listOrganizationCredentials(id);
    const rows = listed.items.map((credential) => [credential.id, credential.created_at]);
    return { json: listed, text: listed.items.length ? formatTable(['ID', 'CREATED'], rows, null) : 'no credentials' };
  },
};

const revokeCredential: Command = {
  name: 'organizations credentials revoke',
  summary: "revoke an organization's admin credential, at once",
  help: `usage: agentauth organizations credentials revoke ID CREDENTIAL
${ADMIN_HELP}`,
  async run(args, { env }) {
    const { values, positionals } = parseCommandLine(args, { ...ADMIN_OPTIONS });
    const [id, credential] = expectPositionals(positionals, ['ID', 'CREDENTIAL']);
    await AdminClient.fromOptions(values, env).revokeOrganizationCredential(id, credential);
    return { json: { revoked: credential, org_id: id }, text: `revoked credential ${credential} of organization ${id}` };
  },
};

export const organizationCommands: Command[] = [create, list, show, update, remove, issueCredential, listCredentials, revokeCredential];
