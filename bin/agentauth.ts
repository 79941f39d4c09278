#!/usr/bin/env node
// The operator's command line: users, resources, agents and the audit trail through the admin API; tokens and token
// exchanges as an agent; reading a JWT.
// `agentauth --help` lists the commands. Failures the operator can fix print one line and exit 1 (2 for a command
// line that could not be understood); anything else is a bug and keeps its stack.
import { text } from 'node:stream/consumers';
import { CliError, UsageError } from '../cli/cli-error.ts';
import type { Command } from '../cli/command.ts';
import { agentCommands } from '../cli/commands/agents.ts';
import { clientCommands } from '../cli/commands/clients.ts';
import { auditCommand } from '../cli/commands/audit.ts';
import { checkCommand } from '../cli/commands/check.ts';
import { approvalCommands } from '../cli/commands/approvals.ts';
import { approveRequestCommand } from '../cli/commands/approve-request.ts';
import { decodeCommand } from '../cli/commands/decode.ts';
import { exchangeCommand } from '../cli/commands/exchange.ts';
import { idJagAudienceCommands } from '../cli/commands/id-jag-audiences.ts';
import { introspectCommand, revokeCommand } from '../cli/commands/introspect.ts';
import { keyCommands } from '../cli/commands/keys.ts';
import { loginCommand } from '../cli/commands/login.ts';
import { organizationCommands } from '../cli/commands/organizations.ts';
import { resourceCommands } from '../cli/commands/resources.ts';
import { roleCommands } from '../cli/commands/roles.ts';
import { tokenCommand } from '../cli/commands/token.ts';
import { userCommands } from '../cli/commands/users.ts';

const COMMANDS: Command[] = [...userCommands, ...approvalCommands, ...resourceCommands, ...roleCommands, ...agentCommands, ...clientCommands, ...idJagAudienceCommands, ...organizationCommands, ...keyCommands, auditCommand, loginCommand, tokenCommand, approveRequestCommand, exchangeCommand, introspectCommand, revokeCommand, decodeCommand, checkCommand];
/** The first word of every command that has several (`agents create`, `agents list`, …). */
const GROUPS = new Set(COMMANDS.filter((command) => command.name.includes(' ')).map((command) => command.name.split(' ')[0]));

async function main(argv: string[]): Promise<void> {
  const { json, help, args } = splitGlobalFlags(argv);
  const command = COMMANDS.find((candidate) => candidate.name.split(' ').every((word, index) => args[index] === word));
  if (!command) {
    const group = GROUPS.has(args[0]) ? args[0] : '';
    const incomplete = args.length === 0 || (group !== '' && args.length === 1);
    if (incomplete && help) return void console.log(usage(group));
    if (incomplete) throw new UsageError(`a command is needed\n${usage(group)}`);
    throw new UsageError(`unknown command "${args.slice(0, 2).join(' ')}"; see agentauth --help`);
  }
  if (help) return void console.log(command.help);
  // A command that reads stdin from a terminal would wait for input nobody knows to type.
  const readStdin = () => (process.stdin.isTTY ? Promise.reject(new UsageError('nothing is piped to stdin')) : text(process.stdin));
  const context = { env: process.env, readStdin };
  const result = await command.run(args.slice(command.name.split(' ').length), context).catch((error: unknown) => {
    if (error instanceof UsageError) throw new UsageError(`${error.message} (see agentauth ${command.name} --help)`);
    throw error;
  });
  console.log(json ? JSON.stringify(result.json, null, 2) : result.text);
}

/** --json and --help mean the same to every command, so they may stand anywhere before a "--". */
function splitGlobalFlags(argv: string[]): { json: boolean; help: boolean; args: string[] } {
  const end = argv.includes('--') ? argv.indexOf('--') : argv.length;
  const isGlobal = (arg: string, index: number) => index < end && ['--json', '--help', '-h'].includes(arg);
  const globals = argv.filter(isGlobal);
  return {
    json: globals.includes('--json'),
    help: globals.includes('--help') || globals.includes('-h'),
    args: argv.filter((arg, index) => !isGlobal(arg, index)),
  };
}

function usage(group: string): string {
  const shown = COMMANDS.filter((command) => !group || command.name.startsWith(`${group} `));
  const width = Math.max(...shown.map((command) => command.name.length));
  return [
    `usage: agentauth ${group ? `${group} ` : ''}<command> [options] [--json]`,
    '',
    ...shown.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}`),
    '',
    'agentauth <command> --help shows its options; --json prints JSON instead of text.',
  ].join('\n');
}

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof CliError) {
    console.error(`agentauth: ${error.message}`);
    process.exitCode = error.exitCode;
  } else {
    console.error(error);
    process.exitCode = 1;
  }
});
