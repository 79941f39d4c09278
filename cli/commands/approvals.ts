// `agentauth approvals list|approve|deny`: the operator's view of backchannel (CIBA) requests waiting for a person,
// over /admin/approvals with the admin token. A strong-tier approval needs the approving user's password (--password);
// a second approver is named with --user.
import { AdminClient, type ApprovalView } from '../admin-client.ts';
import { ADMIN_HELP, ADMIN_OPTIONS, expectPositionals, parseCommandLine, wholeNumberOption, type Command } from '../command.ts';
import { formatFields, formatTable } from '../format-table.ts';

function approvalFields(approval: ApprovalView & { notification?: string; awaiting_second_approver?: true }): [string, string][] {
  return [
    ['id', approval.id], ['status', approval.status], ['tier', approval.tier], ['client', approval.client_id], ['user', approval.user_id],
    ['binding message', approval.binding_message ?? '-'], ['scope', approval.scope || '-'],
    ['details', approval.authorization_details ? JSON.stringify(approval.authorization_details) : '-'], ['expires', approval.expires_at],
    ...(approval.second_approvers?.length ? [['second approvers', approval.second_approvers.join(', ')] as [string, string]] : []),
    ...(approval.awaiting_second_approver ? [['awaiting', 'a second approver (approvals approve ID --user USER_ID --password …)'] as [string, string]] : []),
    ...(approval.notification ? [['notification', approval.notification] as [string, string]] : []),
  ];
}

const list: Command = {
  name: 'approvals list',
  summary: 'list backchannel requests waiting for a person, and decided ones',
  help: `usage: agentauth approvals list [--status pending|approved|denied|expired] [--user ID] [--client ID] [--limit N] [--cursor CURSOR]
${ADMIN_HELP}`,
  async run(args, { env }) {
    const { values, positionals } = parseCommandLine(args, {
      ...ADMIN_OPTIONS, status: { type: 'string' }, user: { type: 'string' }, client: { type: 'string' }, limit: { type: 'string' }, cursor: { type: 'string' },
    });
    expectPositionals(positionals, []);
    const page = await AdminClient.fromOptions(values, env).listApprovals({
      status: values.status, user_id: values.user, client_id: values.client, limit: wholeNumberOption(values.limit, 'limit'), cursor: values.cursor,
    });
    const rows = page.items.map((item) => [item.id, item.status, item.tier, item.client_id, item.user_id, item.binding_message ?? '-']);
    return { json: page, text: page.items.length ? formatTable(['ID', 'STATUS', 'TIER', 'CLIENT', 'USER', 'BINDING MESSAGE'], rows, page.next_cursor) : 'no approvals' };
  },
};

const approve: Command = {
  name: 'approvals approve',
  summary: 'approve a pending request (the client then gets its token)',
  help: `usage: agentauth approvals approve ID [--password PASSWORD] [--user USER_ID]
  --password PASSWORD   the approving user's password, required for tier "strong"
  --user USER_ID        who approves: the named user (default), or a second approver once the named user has
${ADMIN_HELP}`,
  async run(args, { env }) {
    const { values, positionals } = parseCommandLine(args, { ...ADMIN_OPTIONS, password: { type: 'string' }, user: { type: 'string' } });
    const [id] = expectPositionals(positionals, ['ID']);
    const body = { ...(values.password !== undefined ? { password: values.password } : {}), ...(values.user !== undefined ? { user_id: values.user } : {}) };
    const decided = await AdminClient.fromOptions(values, env).decideApproval(id, 'approve', body);
    return { json: decided, text: formatFields(approvalFields(decided)) };
  },
};

const deny: Command = {
  name: 'approvals deny',
  summary: 'deny a pending request (the client is told access_denied, with the reason)',
  help: `usage: agentauth approvals deny ID [--reason TEXT]
${ADMIN_HELP}`,
  async run(args, { env }) {
    const { values, positionals } = parseCommandLine(args, { ...ADMIN_OPTIONS, reason: { type: 'string' } });
    const [id] = expectPositionals(positionals, ['ID']);
    const decided = await AdminClient.fromOptions(values, env).decideApproval(id, 'deny', values.reason !== undefined ? { reason: values.reason } : {});
    return { json: decided, text: formatFields(approvalFields(decided)) };
  },
};

export const approvalCommands: Command[] = [list, approve, deny];
