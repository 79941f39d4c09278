// `agentauth keys …`: signing-key rotation through the running server's admin API (rotate → promote → prune), so
// it works on embedded storage while the server holds DATA_DIR. Every instance picks up a step when restarted.
import { AdminClient } from '../admin-client.ts';
import { ADMIN_HELP, ADMIN_OPTIONS, expectPositionals, parseCommandLine, wholeNumberOption, type Command } from '../command.ts';
import { formatTable } from '../format-table.ts';

const RESTART = 'restart every instance (one at a time) for it to take effect';

const list: Command = {
  name: 'keys list',
  summary: 'show every signing key with its status',
  help: `usage: agentauth keys list
${ADMIN_HELP}`,
  async run(args, { env }) {
    const { values, positionals } = parseCommandLine(args, { ...ADMIN_OPTIONS });
    expectPositionals(positionals, []);
    const keys = await AdminClient.fromOptions(values, env).listKeys();
    return { json: keys, text: formatTable(['KID', 'ALG', 'STATUS', 'CREATED'], keys.items.map((key) => [key.kid, key.alg, key.status, key.created_at])) };
  },
};

const rotate: Command = {
  name: 'keys rotate',
  summary: 'publish a next key per algorithm in the JWKS (not yet signing)',
  help: `usage: agentauth keys rotate [--alg RS256 --alg ES256 --alg EdDSA]
${ADMIN_HELP}`,
  async run(args, { env }) {
    const { values, positionals } = parseCommandLine(args, { ...ADMIN_OPTIONS, alg: { type: 'string', multiple: true } });
    expectPositionals(positionals, []);
    const answer = await AdminClient.fromOptions(values, env).keyStep('rotate', values.alg ? { algs: values.alg } : {});
    return { json: answer, text: `published next keys ${(answer.published as string[]).join(', ')}; ${RESTART}, then "keys promote"` };
  },
};

const promote: Command = {
  name: 'keys promote',
  summary: 'next keys start signing; active ones retire (still published)',
  help: `usage: agentauth keys promote
${ADMIN_HELP}`,
  async run(args, { env }) {
    const { values, positionals } = parseCommandLine(args, { ...ADMIN_OPTIONS });
    expectPositionals(positionals, []);
    const answer = await AdminClient.fromOptions(values, env).keyStep('promote');
    return { json: answer, text: `promoted ${(answer.promoted as string[]).join(', ') || 'nothing'}; ${RESTART}` };
  },
};

const prune: Command = {
  name: 'keys prune',
  summary: 'delete keys retired longer ago than --after seconds (default a day)',
  help: `usage: agentauth keys prune [--after SECONDS]
${ADMIN_HELP}`,
  async run(args, { env }) {
    const { values, positionals } = parseCommandLine(args, { ...ADMIN_OPTIONS, after: { type: 'string' } });
    expectPositionals(positionals, []);
    const after = wholeNumberOption(values.after, 'after');
    const answer = await AdminClient.fromOptions(values, env).keyStep('prune', after === undefined ? {} : { retired_for_seconds: after });
    const deleted = answer.deleted as string[];
    return { json: answer, text: deleted.length ? `deleted ${deleted.join(', ')}; ${RESTART}` : 'nothing to prune' };
  },
};

export const keyCommands: Command[] = [list, rotate, promote, prune];
