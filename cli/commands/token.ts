// `agentauth token`: act as the agent of a key file and get an access token, e.g. to try a resource by hand.
import { resolveServer } from '../admin-client.ts';
import { readKeyFile } from '../agent-keys.ts';
import { expectPositionals, parseCommandLine, requireOption, scopeList, type Command } from '../command.ts';
import { requestAgentToken } from '../token-request.ts';

export const tokenCommand: Command = {
  name: 'token',
  summary: 'get an access token as the agent of a key file (client_credentials, private_key_jwt)',
  help: `usage: agentauth token --key-file PATH [--scope SCOPE] [--resource URL] [--server URL]
  --key-file PATH         the key file written by "agents create" or "agents rotate"
  --scope SCOPE           scopes to ask for (repeatable; default: the agent's default scopes)
  --resource URL          the resource the token is for, RFC 8707 (repeatable)
  --server URL            overrides the server recorded in the key file`,
  async run(args, { env }) {
    const { values, positionals } = parseCommandLine(args, {
      'key-file': { type: 'string' },
      scope: { type: 'string', multiple: true },
      resource: { type: 'string', multiple: true },
      server: { type: 'string' },
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
    const text = Object.entries(token).map(([name, value]) => `${name}: ${typeof value === 'string' ? value : JSON.stringify(value)}`);
    return { json: token, text: text.join('\n') };
  },
};
