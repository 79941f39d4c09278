// `agentauth decode`: what a JWT says (header, claims, who acts for whom), without verifying it.
import { UsageError } from '../cli-error.ts';
import { expectPositionals, parseCommandLine, type Command } from '../command.ts';
import { decodeToken, formatDecodedToken } from '../decode-token.ts';

export const decodeCommand: Command = {
  name: 'decode',
  summary: 'show a JWT\'s header, claims and act chain (not verified)',
  help: `usage: agentauth decode TOKEN
       agentauth decode [-]      read the token from stdin (keeps it out of shell history), e.g. … --raw | agentauth decode
The signature is NOT verified: never decide access on what this prints.`,
  async run(args, { readStdin }) {
    const { positionals } = parseCommandLine(args, {});
    const [argument] = positionals.length === 0 ? ['-'] : expectPositionals(positionals, ['TOKEN']);
    const token = argument === '-' ? (await readStdin()).trim() : argument;
    if (!token) throw new UsageError('no token on stdin');
    const decoded = decodeToken(token);
    return { json: decoded, text: formatDecodedToken(decoded) };
  },
};
