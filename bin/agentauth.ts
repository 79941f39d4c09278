#!/usr/bin/env node
// The operator's command line: manage agents through the admin API, get a token as an agent, read a JWT.
// `agentauth --help` lists the commands. Failures the operator can fix print one line and exit 1 (2 for a command
// line that could not be understood); anything else is a bug and keeps its stack.
import { text } from 'node:stream/consumers';
import { CliError, UsageError } from '../cli/cli-error.ts';
import type { Command } from '../cli/command.ts';
import { agentCommands } from '../cli/commands/agents.ts';
import { decodeCommand } from '../cli/commands/decode.ts';
import { tokenCommand } from '../cli/commands/token.ts';

const COMMANDS: Command[] = [...agentCommands, tokenCommand, decodeCommand];

async function main(argv: string[]): Promise<void> {
  const { json, help, args } = splitGlobalFlags(argv);
  const command = COMMANDS.find((candidate) => candidate.name.split(' ').every((word, index) => args[index] === word));
  if (!command) {
    const group = args[0] === 'agents' ? 'agents' : '';
    const incomplete = args.length === 0 || (group !== '' && args.length === 1);
    if (incomplete && help) return void console.log(usage(group));
    if (incomplete) throw new UsageError(`a command is needed\n${usage(group)}`);
    throw new UsageError(`unknown command "${args.slice(0, 2).join(' ')}"; see agentauth --help`);
  }
  if (help) return void console.log(command.help);
  const context = { env: process.env, readStdin: () => text(process.stdin) };
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
  const shown = COMMANDS.filter((command) => command.name.startsWith(group));
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
