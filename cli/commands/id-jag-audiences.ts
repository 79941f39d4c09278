// `agentauth id-jag-audiences …`: the authorization servers this server, as an enterprise IdP, issues ID-JAGs for
// (draft-ietf-oauth-identity-assertion-authz-grant), through the admin API's /admin/id-jag-audiences.
import { AdminClient, type IdJagAudience } from '../admin-client.ts';
import { UsageError } from '../cli-error.ts';
import { ADMIN_HELP, ADMIN_OPTIONS, expectPositionals, parseCommandLine, requireOption, scopeList, wholeNumberOption, type Command } from '../command.ts';
import { formatFields, formatTable } from '../format-table.ts';

const formatAudience = (audience: IdJagAudience) => formatFields([
  ['issuer', audience.issuer],
  ['name', audience.name ?? '-'],
  ['resources', audience.resources.join(' ')],
  ['clients', Object.entries(audience.clients).map(([ours, theirs]) => `${ours}=${theirs}`).join(' ')],
  ['scopes', audience.scopes?.join(' ') ?? 'any'],
]);

/** `--client OURS=THEIRS`: our client_id and the client_id the target authorization server knows it by. */
function clientMapping(values: string[] | undefined): Record<string, string> {
  const pairs = requireOption(values?.length ? values : undefined, 'client').map((value) => {
    const at = value.indexOf('=');
    if (at <= 0 || at === value.length - 1) throw new UsageError(`--client must be OUR_CLIENT_ID=THEIR_CLIENT_ID, not ${JSON.stringify(value)}`);
    return [value.slice(0, at), value.slice(at + 1)] as const;
  });
  return Object.fromEntries(pairs);
}

const create: Command = {
  name: 'id-jag-audiences create',
  summary: 'let this server issue ID-JAGs for another authorization server',
  help: `usage: agentauth id-jag-audiences create --issuer URL --resource URL... --client OURS=THEIRS... [options]
  --issuer URL            the target authorization server's issuer (the ID-JAG's aud)
  --resource URL          a resource of that server clients may ask for (repeatable)
  --client OURS=THEIRS    our client_id and its client_id at that server (repeatable)
  --scope SCOPE           a scope ID-JAGs may carry (repeatable; default: any the client asks for)
  --name TEXT
${ADMIN_HELP}`,
  async run(args, { env }) {
    const { values, positionals } = parseCommandLine(args, {
      ...ADMIN_OPTIONS,
      issuer: { type: 'string' },
      resource: { type: 'string', multiple: true },
      client: { type: 'string', multiple: true },
      scope: { type: 'string', multiple: true },
      name: { type: 'string' },
    });
    expectPositionals(positionals, []);
    const audience = await AdminClient.fromOptions(values, env).createIdJagAudience({
      issuer: requireOption(values.issuer, 'issuer'),
      resources: requireOption(values.resource?.length ? values.resource : undefined, 'resource'),
      clients: clientMapping(values.client),
      scopes: scopeList(values.scope),
      name: values.name,
    });
    return { json: audience, text: formatAudience(audience) };
  },
};

const list: Command = {
  name: 'id-jag-audiences list',
  summary: 'list the authorization servers ID-JAGs may be issued for',
  help: `usage: agentauth id-jag-audiences list [--limit N] [--cursor CURSOR]
${ADMIN_HELP}`,
  async run(args, { env }) {
    const { values, positionals } = parseCommandLine(args, { ...ADMIN_OPTIONS, limit: { type: 'string' }, cursor: { type: 'string' } });
    expectPositionals(positionals, []);
    const page = await AdminClient.fromOptions(values, env).listIdJagAudiences({ limit: wholeNumberOption(values.limit, 'limit'), cursor: values.cursor });
    const rows = page.items.map((audience) => [audience.issuer, audience.resources.join(' '), Object.keys(audience.clients).join(' ')]);
    return { json: page, text: page.items.length ? formatTable(['ISSUER', 'RESOURCES', 'CLIENTS'], rows, page.next_cursor) : 'no ID-JAG audiences' };
  },
};

const show: Command = {
  name: 'id-jag-audiences show',
  summary: 'show one ID-JAG audience',
  help: `usage: agentauth id-jag-audiences show ISSUER
${ADMIN_HELP}`,
  async run(args, { env }) {
    const { values, positionals } = parseCommandLine(args, { ...ADMIN_OPTIONS });
    const [issuer] = expectPositionals(positionals, ['ISSUER']);
    const audience = await AdminClient.fromOptions(values, env).getIdJagAudience(issuer);
    return { json: audience, text: formatAudience(audience) };
  },
};

const remove: Command = {
  name: 'id-jag-audiences delete',
  summary: 'stop issuing ID-JAGs for an authorization server',
  help: `usage: agentauth id-jag-audiences delete ISSUER
${ADMIN_HELP}`,
  async run(args, { env }) {
    const { values, positionals } = parseCommandLine(args, { ...ADMIN_OPTIONS });
    const [issuer] = expectPositionals(positionals, ['ISSUER']);
    await AdminClient.fromOptions(values, env).deleteIdJagAudience(issuer);
    return { json: { deleted: issuer }, text: `deleted ID-JAG audience ${issuer}` };
  },
};

export const idJagAudienceCommands: Command[] = [create, list, show, remove];
