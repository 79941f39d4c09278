// `agentauth check`: the permission check (OpenID AuthZEN Access Evaluation, POST /access/v1/evaluation) as the
// operator asks it, with the admin token: may this subject do this action on this resource, and if not, why.
import { AdminClient } from '../admin-client.ts';
import { UsageError } from '../cli-error.ts';
import { ADMIN_HELP, ADMIN_OPTIONS, expectPositionals, parseCommandLine, requireOption, type Command } from '../command.ts';

/** `TYPE:ID`, split at the first colon (an id may hold more). */
function typedId(value: string, flag: string): { type: string; id: string } {
  const colon = value.indexOf(':');
  if (colon <= 0 || colon === value.length - 1) throw new UsageError(`--${flag} must be TYPE:ID (e.g. agent:agent_abc, user:alice, files:reports), not ${JSON.stringify(value)}`);
  return { type: value.slice(0, colon), id: value.slice(colon + 1) };
}

function contextOption(value: string | undefined): Record<string, unknown> | undefined {
  if (value === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw new UsageError('--context must be a JSON object');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new UsageError('--context must be a JSON object');
  return parsed as Record<string, unknown>;
}

export const checkCommand: Command = {
  name: 'check',
  summary: 'ask whether a subject may perform an action on a resource (OpenID AuthZEN permission check)',
  help: `usage: agentauth check --subject TYPE:ID --action NAME --resource TYPE:ID [--access-token TOKEN] [--context JSON]
  --subject TYPE:ID       agent:<client_id>, client:<client_id>, or user:<user id or username>
  --action NAME           the action; with the resource it names the scope <type>.<id>:<name>
  --resource TYPE:ID      e.g. files:reports for files.reports:<action>
  --access-token TOKEN    a token the subject presented: its chain is checked too (context.access_token)
  --context JSON          the evaluation's context object
${ADMIN_HELP}`,
  async run(args, { env }) {
    const { values, positionals } = parseCommandLine(args, {
      ...ADMIN_OPTIONS, subject: { type: 'string' }, action: { type: 'string' }, resource: { type: 'string' }, context: { type: 'string' }, 'access-token': { type: 'string' },
    });
    expectPositionals(positionals, []);
    const subject = typedId(requireOption(values.subject, 'subject'), 'subject');
    const resource = typedId(requireOption(values.resource, 'resource'), 'resource');
    const action = { name: requireOption(values.action, 'action') };
    const given = contextOption(values.context);
    const context = values['access-token'] !== undefined ? { ...given, access_token: values['access-token'] } : given;
    const answer = await AdminClient.fromOptions(values, env).evaluateAccess({ subject, action, resource, ...(context ? { context } : {}) });
    const text = answer.decision ? 'permit' : `deny: ${answer.context?.reason ?? 'no reason given'}${answer.context?.rule ? ` (${answer.context.rule})` : ''}`;
    return { json: answer, text };
  },
};
