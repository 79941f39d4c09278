// `agentauth resources …`: the APIs tokens are issued for (RFC 8707 resource indicators), through the admin API.
import { AdminClient, type Resource } from '../admin-client.ts';
import { UsageError } from '../cli-error.ts';
import { ADMIN_HELP, ADMIN_OPTIONS, expectPositionals, parseCommandLine, requireOption, scopeList, wholeNumberOption, type Command } from '../command.ts';
import { formatFields, formatTable } from '../format-table.ts';

const formatResource = (resource: Resource) => formatFields([
  ['identifier', resource.identifier],
  ['name', resource.name ?? '-'],
  ['scopes', resource.scopes.join(' ') || '-'],
  ['token format', resource.token_format],
  ['signing alg', resource.signing_alg ?? 'default (ES256)'],
  ['organization', resource.org_id],
  ['token lifetime', `${resource.access_token_ttl}s`],
  ['DPoP required', resource.dpop_required ? 'yes' : 'no'],
  ['metadata', resource.resource_metadata_url],
]);

const create: Command = {
  name: 'resources create',
  summary: 'register a resource (an API) and its scopes',
  help: `usage: agentauth resources create --identifier URL --scope SCOPE... [options]
  --identifier URL        the resource indicator clients name (RFC 8707), an absolute URL
  --scope SCOPE           a scope the resource defines (repeatable)
  --name TEXT
  --format jwt|opaque     access token format (default: the server's, jwt)
  --ttl SECONDS           access token lifetime
  --dpop-required         issue only DPoP-bound tokens for it (RFC 9449)
  --signing-alg ALG       JWS algorithm of its JWT access tokens: RS256, ES256 or EdDSA (default: ES256);
                          RS256 for a resource server that verifies only what RFC 9068 requires
  --org ORG_ID            the organization it belongs to: only its principals get tokens for it (default: the default one)
${ADMIN_HELP}`,
  async run(args, { env }) {
    const { values, positionals } = parseCommandLine(args, {
      ...ADMIN_OPTIONS,
      identifier: { type: 'string' },
      scope: { type: 'string', multiple: true },
      name: { type: 'string' },
      format: { type: 'string' },
      ttl: { type: 'string' },
      'dpop-required': { type: 'boolean' },
      'signing-alg': { type: 'string' },
      org: { type: 'string' },
    });
    expectPositionals(positionals, []);
    if (values.format !== undefined && values.format !== 'jwt' && values.format !== 'opaque') throw new UsageError(`--format must be jwt or opaque, not ${JSON.stringify(values.format)}`);
    const resource = await AdminClient.fromOptions(values, env).createResource({
      identifier: requireOption(values.identifier, 'identifier'),
      scopes: scopeList(values.scope),
      name: values.name,
      token_format: values.format,
      access_token_ttl: wholeNumberOption(values.ttl, 'ttl'),
      dpop_required: values['dpop-required'],
      // Checked by the server, which knows the algorithms it holds keys for.
      signing_alg: values['signing-alg'],
      org_id: values.org,
    });
    return { json: resource, text: formatResource(resource) };
  },
};

const list: Command = {
  name: 'resources list',
  summary: 'list resources, a page at a time',
  help: `usage: agentauth resources list [--limit N] [--cursor CURSOR]
${ADMIN_HELP}`,
  async run(args, { env }) {
    const { values, positionals } = parseCommandLine(args, { ...ADMIN_OPTIONS, limit: { type: 'string' }, cursor: { type: 'string' } });
    expectPositionals(positionals, []);
    const page = await AdminClient.fromOptions(values, env).listResources({ limit: wholeNumberOption(values.limit, 'limit'), cursor: values.cursor });
    const rows = page.items.map((resource) => [resource.identifier, resource.token_format, resource.scopes.join(' ') || '-']);
    return { json: page, text: page.items.length ? formatTable(['IDENTIFIER', 'FORMAT', 'SCOPES'], rows, page.next_cursor) : 'no resources' };
  },
};

const remove: Command = {
  name: 'resources delete',
  summary: 'delete a resource',
  help: `usage: agentauth resources delete URL
${ADMIN_HELP}`,
  async run(args, { env }) {
    const { values, positionals } = parseCommandLine(args, { ...ADMIN_OPTIONS });
    const [identifier] = expectPositionals(positionals, ['URL']);
    await AdminClient.fromOptions(values, env).deleteResource(identifier);
    return { json: { deleted: identifier }, text: `deleted resource ${identifier}` };
  },
};

export const resourceCommands: Command[] = [create, list, remove];
