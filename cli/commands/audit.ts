// `agentauth audit`: the audit trail, newest first, filtered as the admin API allows.
import { AdminClient } from '../admin-client.ts';
import { ADMIN_HELP, ADMIN_OPTIONS, expectPositionals, parseCommandLine, wholeNumberOption, type Command } from '../command.ts';
import { formatTable } from '../format-table.ts';

export const auditCommand: Command = {
  name: 'audit',
  summary: 'show audit events, newest first',
  help: `usage: agentauth audit [--client-id ID] [--event NAME] [--from TIME] [--to TIME] [--limit N] [--cursor CURSOR]
  --client-id ID          events of one client or agent
  --event NAME            one kind of event, e.g. token.issued, token.refused, agent.suspended
  --from TIME, --to TIME  ISO 8601 times (from inclusive, to exclusive)
${ADMIN_HELP}`,
  async run(args, { env }) {
    const { values, positionals } = parseCommandLine(args, {
      ...ADMIN_OPTIONS,
      'client-id': { type: 'string' },
      event: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      limit: { type: 'string' },
      cursor: { type: 'string' },
    });
    expectPositionals(positionals, []);
    const page = await AdminClient.fromOptions(values, env).listAudit({
      client_id: values['client-id'], event: values.event, from: values.from, to: values.to, limit: wholeNumberOption(values.limit, 'limit'), cursor: values.cursor,
    });
    const rows = page.items.map((record) => [record.at, record.event, record.outcome, record.client_id ?? '-', record.subject ?? '-', record.reason ?? '']);
    return { json: page, text: page.items.length ? formatTable(['AT', 'EVENT', 'OUTCOME', 'CLIENT', 'SUBJECT', 'REASON'], rows, page.next_cursor) : 'no events' };
  },
};
