// `agentauth introspect` and `agentauth revoke`: RFC 7662 and RFC 7009 as the agent of a key file, for a token the
// agent holds (a client learns about, and may revoke, the tokens issued to it).
import { resolveServer } from '../admin-client.ts';
import { readKeyFile } from '../agent-keys.ts';
import { UsageError } from '../cli-error.ts';
import { expectPositionals, parseCommandLine, requireOption, type Command, type CommandContext } from '../command.ts';
import { formatFields } from '../format-table.ts';
import { postAsAgent, type AgentEndpoint } from '../token-request.ts';

const USAGE_TAIL = `  TOKEN                   the token, or - to read it from stdin (keeps it out of shell history)
  --key-file PATH         the key file of the agent the token was issued to
  --hint TYPE             token_type_hint: access_token or refresh_token
  --server URL            overrides the server recorded in the key file`;

async function send(endpoint: AgentEndpoint, args: string[], { env, readStdin }: CommandContext): Promise<unknown> {
  const { values, positionals } = parseCommandLine(args, { 'key-file': { type: 'string' }, hint: { type: 'string' }, server: { type: 'string' } });
  const [given] = positionals.length === 0 ? ['-'] : expectPositionals(positionals, ['TOKEN']);
  const token = given === '-' ? (await readStdin()).trim() : given;
  if (!token) throw new UsageError('no token on stdin');
  if (values.hint !== undefined && values.hint !== 'access_token' && values.hint !== 'refresh_token') throw new UsageError('--hint must be access_token or refresh_token');
  const keyFile = await readKeyFile(requireOption(values['key-file'], 'key-file'));
  const form = new URLSearchParams({ token });
  if (values.hint) form.set('token_type_hint', values.hint);
  return postAsAgent({ server: resolveServer(values.server ?? keyFile.server, env), agentId: keyFile.agent_id, privateJwk: keyFile.private_jwk }, endpoint, form);
}

export const introspectCommand: Command = {
  name: 'introspect',
  summary: 'ask whether a token the agent holds is active, and what it says (RFC 7662)',
  help: `usage: agentauth introspect --key-file PATH [TOKEN|-] [--hint TYPE]
${USAGE_TAIL}`,
  async run(args, context) {
    const answer = await send('introspection_endpoint', args, context) as Record<string, unknown>;
    const rows = Object.entries(answer).map(([name, value]): [string, string] => [name, typeof value === 'string' ? value : JSON.stringify(value)]);
    return { json: answer, text: formatFields(rows) };
  },
};

export const revokeCommand: Command = {
  name: 'revoke',
  summary: 'revoke a token the agent holds, and every token exchanged from it (RFC 7009)',
  help: `usage: agentauth revoke --key-file PATH [TOKEN|-] [--hint TYPE]
${USAGE_TAIL}`,
  async run(args, context) {
    await send('revocation_endpoint', args, context);
    return { json: { revoked: true }, text: 'revoked' };
  },
};
