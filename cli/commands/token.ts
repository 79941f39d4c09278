// `agentauth token`: act as the agent of a key file and get an access token, e.g. to try a resource by hand.
import { resolveServer } from '../admin-client.ts';
import { readKeyFile } from '../agent-keys.ts';
import { expectPositionals, parseCommandLine, requireOption, scopeList, type Command } from '../command.ts';
import { requestAgentToken, type TokenResponse } from '../token-request.ts';

export const tokenCommand: Command = {
  name: 'token',
  summary: 'get an access token as the agent of a key file (client_credentials, private_key_jwt)',
  help: `usage: agentauth token --key-file PATH [--scope SCOPE] [--resource URL] [--server URL] [--raw]
  --key-file PATH         the key file written by "agents create" or "agents rotate"
  --scope SCOPE           scopes to ask for (repeatable; default: the agent's default scopes)
  --resource URL          the resource the token is for, RFC 8707 (repeatable)
  --server URL            overrides the server recorded in the key file
  --raw                   print the access token alone (for TOKEN=$(agentauth token … --raw))`,
  async run(args, { env }) {
    const { values, positionals } = parseCommandLine(args, {
      'key-file': { type: 'string' },
      scope: { type: 'string', multiple: true },
      resource: { type: 'string', multiple: true },
      server: { type: 'string' },
      raw: { type: 'boolean' },
    });
    expectPositionals(positionals, []);
    const keyFile = await readKeyFile(requireOption(values['key-file'], 'key-file'));
    const token = await requestAgentToken({
      server: resolveServer(values.server ?? keyFile.server, env),
      agentId: keyFile.agent_id,
      privateJwk: keyFile.private_jwk,
      scope: scopeList(values.scope)?.join(' '),
      resources: values.resource,
    });
    return tokenResult(token, values.raw ?? false);
  },
};

/** A token response as text: every member, or with `raw` the access token alone. */
export function tokenResult(token: TokenResponse, raw: boolean): { json: unknown; text: string } {
  if (raw) return { json: token, text: token.access_token };
  const text = Object.entries(token).map(([name, value]) => `${name}: ${typeof value === 'string' ? value : JSON.stringify(value)}`);
  return { json: token, text: text.join('\n') };
}
