// The shape every command has, and the parsing every command shares: flags through node:util parseArgs, with a
// malformed command line becoming a UsageError (exit 2) instead of a stack trace.
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import { UsageError } from './cli-error.ts';

export interface CommandContext {
  env: NodeJS.ProcessEnv;
  readStdin(): Promise<string>;
}

/** A command never prints: it answers both ways and the entry point picks one (`--json` or text). */
export interface CommandResult {
  json: unknown;
  text: string;
}

export interface Command {
  /** The words that select it: `agents create`, `token`. */
  name: string;
  summary: string;
  /** The full `--help` text. */
  help: string;
  run(args: string[], context: CommandContext): Promise<CommandResult>;
}

/** Every command that calls the admin API takes these. */
export const ADMIN_OPTIONS = {
  server: { type: 'string' },
  'admin-token': { type: 'string' },
} as const satisfies ParseArgsOptionsConfig;

export const ADMIN_HELP = `  --server URL            the server (default: $AGENTAUTH_URL, else http://localhost:3000)
  --admin-token TOKEN     the admin token (default: $ADMIN_TOKEN, which keeps it out of the process list)`;

export function parseCommandLine<const Options extends ParseArgsOptionsConfig>(args: string[], options: Options) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    if ((error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) throw new UsageError((error as Error).message);
    throw error;
  }
}

/** The positional arguments a command takes, by name, all required, none extra. */
export function expectPositionals(positionals: string[], names: string[]): string[] {
  if (positionals.length < names.length) throw new UsageError(`missing ${names.slice(positionals.length).join(' ')}`);
  if (positionals.length > names.length) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[names.length])}`);
  return positionals;
}

export function requireOption<T>(value: T | undefined, flag: string): T {
  if (value === undefined || value === '') throw new UsageError(`--${flag} is required`);
  return value;
}

export function wholeNumberOption(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) throw new UsageError(`--${flag} must be a whole number, not ${JSON.stringify(value)}`);
  return Number(value);
}

/** `--scope a --scope "b c"` → [a, b, c]: an OAuth scope value is space-separated (RFC 6749 §3.3) either way. */
export function scopeList(values: string[] | undefined): string[] | undefined {
  return values?.flatMap((value) => value.split(/\s+/)).filter(Boolean);
}
