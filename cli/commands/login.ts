// `agentauth login`: a user's access token, the way a person gets one: signing in at the login page in a browser.
import { resolveServer } from '../admin-client.ts';
import { expectPositionals, parseCommandLine, wholeNumberOption, type Command } from '../command.ts';
import { loginWithBrowser } from '../user-login.ts';
import { tokenResult } from './token.ts';

export const loginCommand: Command = {
  name: 'login',
  summary: 'sign in as a user in a browser and get the user\'s token (authorization code + PKCE, loopback redirect)',
  help: `usage: agentauth login [--scope SCOPE] [--resource URL] [--client-id ID] [--server URL] [--raw]
  --scope SCOPE           scopes to ask for (repeatable; default: openid)
  --resource URL          the resource the access token is for (RFC 8707)
  --client-id ID          a public client registered with the redirect URI http://127.0.0.1/callback
                          (default: $AGENTAUTH_LOGIN_CLIENT_ID, else the CLI registers one and prints its id)
  --timeout SECONDS       how long to wait for the sign-in (default 300)
  --server URL            the server (default: $AGENTAUTH_URL, else http://localhost:3000)
  --raw                   print the access token alone
The URL to open is printed on stderr, and opened with $BROWSER when it is set.`,
  async run(args, { env }) {
    const { values, positionals } = parseCommandLine(args, {
      scope: { type: 'string', multiple: true },
      resource: { type: 'string' },
      'client-id': { type: 'string' },
      timeout: { type: 'string' },
      server: { type: 'string' },
      raw: { type: 'boolean' },
    });
    expectPositionals(positionals, []);
    const given = values['client-id'] ?? env.AGENTAUTH_LOGIN_CLIENT_ID;
    const { token, clientId } = await loginWithBrowser({
      server: resolveServer(values.server, env),
      scope: values.scope?.join(' ') || 'openid',
      resource: values.resource,
      clientId: given,
      browser: env.BROWSER,
      tell: (line) => console.error(line),
      timeoutMs: (wholeNumberOption(values.timeout, 'timeout') ?? 300) * 1000,
    });
    if (!given) console.error(`registered the CLI as client ${clientId}; export AGENTAUTH_LOGIN_CLIENT_ID=${clientId} to reuse it`);
    return tokenResult(token, values.raw ?? false);
  },
};
