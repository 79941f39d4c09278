// `agentauth exchange`: RFC 8693 token exchange as the agent of a key file: act for a user (or another agent)
// whose token it holds, or get a Txn-Token for a call inside the trust domain.
import { readKeyFile } from '../agent-keys.ts';
import { resolveServer } from '../admin-client.ts';
import { UsageError } from '../cli-error.ts';
import { expectPositionals, parseCommandLine, requireOption, scopeList, type Command } from '../command.ts';
import { requestAsAgent } from '../token-request.ts';
import { TOKEN_EXCHANGE_GRANT, TOKEN_TYPE } from '../../tokens/token-types.ts';
import { tokenResult } from './token.ts';

/** Short names for the token types of RFC 8693 §3 an operator types by hand. */
const TYPES: Record<string, string> = {
  access_token: TOKEN_TYPE.accessToken,
  jwt: TOKEN_TYPE.jwt,
  id_token: TOKEN_TYPE.idToken,
  txn_token: TOKEN_TYPE.txnToken,
  self_signed: TOKEN_TYPE.selfSigned,
};

function tokenType(value: string | undefined, flag: string): string | undefined {
  if (value === undefined) return undefined;
  if (value.startsWith('urn:')) return value;
  const type = TYPES[value];
  if (!type) throw new UsageError(`--${flag} must be one of ${Object.keys(TYPES).join(', ')} or a token type URN`);
  return type;
}

export const exchangeCommand: Command = {
  name: 'exchange',
  summary: 'exchange a token as the agent of a key file (RFC 8693; --txn-token for a Txn-Token)',
  help: `usage: agentauth exchange --key-file PATH --subject-token TOKEN|- [options]
  --subject-token TOKEN   the token to act on; - reads it from stdin (keeps it out of shell history)
  --subject-token-type T  access_token (default), jwt, id_token, txn_token, self_signed, or a URN
  --actor-token TOKEN     the acting party's own token, for a delegation chain
  --actor-token-type T    as --subject-token-type (default access_token)
  --resource URL          the resource the new token is for (RFC 8707)
  --audience VALUE        the audience the new token is for
  --scope SCOPE           scopes to ask for, within the subject token's (repeatable)
  --txn-token             ask for a Txn-Token (requested_token_type txn_token)
  --request-context JSON  with --txn-token: the request context to record (rctx)
  --request-details JSON  with --txn-token: the details to carry (tctx)
  --server URL            overrides the server recorded in the key file
  --raw                   print the issued token alone`,
  async run(args, { env, readStdin }) {
    const { values, positionals } = parseCommandLine(args, {
      'key-file': { type: 'string' },
      'subject-token': { type: 'string' },
      'subject-token-type': { type: 'string' },
      'actor-token': { type: 'string' },
      'actor-token-type': { type: 'string' },
      resource: { type: 'string' },
      audience: { type: 'string' },
      scope: { type: 'string', multiple: true },
      'txn-token': { type: 'boolean' },
      'request-context': { type: 'string' },
      'request-details': { type: 'string' },
      server: { type: 'string' },
      raw: { type: 'boolean' },
    });
    expectPositionals(positionals, []);
    const keyFile = await readKeyFile(requireOption(values['key-file'], 'key-file'));
    const given = requireOption(values['subject-token'], 'subject-token');
    const subjectToken = given === '-' ? (await readStdin()).trim() : given;
    if (!subjectToken) throw new UsageError('no subject token on stdin');
    if (!values['txn-token'] && (values['request-context'] || values['request-details'])) throw new UsageError('--request-context and --request-details go with --txn-token');

    const form = new URLSearchParams({
      grant_type: TOKEN_EXCHANGE_GRANT,
      subject_token: subjectToken,
      subject_token_type: tokenType(values['subject-token-type'], 'subject-token-type') ?? TOKEN_TYPE.accessToken,
    });
    if (values['actor-token']) {
      form.set('actor_token', values['actor-token']);
      form.set('actor_token_type', tokenType(values['actor-token-type'], 'actor-token-type') ?? TOKEN_TYPE.accessToken);
    }
    if (values['txn-token']) form.set('requested_token_type', TOKEN_TYPE.txnToken);
    const optional = { resource: values.resource, audience: values.audience, scope: scopeList(values.scope)?.join(' '), request_context: values['request-context'], request_details: values['request-details'] };
    for (const [name, value] of Object.entries(optional)) if (value) form.set(name, value);

    const token = await requestAsAgent({ server: resolveServer(values.server ?? keyFile.server, env), agentId: keyFile.agent_id, privateJwk: keyFile.private_jwk }, form);
    return tokenResult(token, values.raw ?? false);
  },
};
