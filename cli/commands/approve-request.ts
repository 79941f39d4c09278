// `agentauth approve-request`: an agent asks a person to approve what it is about to do (OpenID CIBA with RFC 9396
// authorization_details) and, with --wait, waits for the decision and prints the token, or the refusal. The CIBA
// exchange itself (the backchannel request, polling with interval and slow_down) is openid-client's.
import { importJWK, type JWK } from 'jose';
import * as oidc from 'openid-client';
import { resolveServer } from '../admin-client.ts';
import { readKeyFile } from '../agent-keys.ts';
import { CliError, UsageError } from '../cli-error.ts';
import { expectPositionals, parseCommandLine, requireOption, scopeList, wholeNumberOption, type Command } from '../command.ts';
import { fetchJson } from '../fetch-json.ts';
import { tokenResult } from './token.ts';
import type { TokenResponse } from '../token-request.ts';

/** The detail type whose token is action-bound and so must be DPoP-bound (README, "Action-bound, single-use tokens"). */
const AGENT_ACTION = 'agent_action';

export const approveRequestCommand: Command = {
  name: 'approve-request',
  summary: 'as an agent, ask a person to approve an action (CIBA); with --wait, wait and print the token',
  help: `usage: agentauth approve-request --key-file PATH --binding-message TEXT [--scope SCOPE] [--resource URL]
                                [--authorization-details JSON] [--login-hint USER] [--requested-expiry S] [--dpop]
                                [--wait [--timeout S]] [--raw] [--server URL]
  --key-file PATH         the agent's key file (written by "agents create" or "agents rotate")
  --binding-message TEXT  what the approver reads, up to 100 characters (CIBA §7.1; required for agents)
  --scope SCOPE           scopes to ask for (repeatable); "openid" is added, as CIBA requires it
  --resource URL          the resource the token is for, RFC 8707 (repeatable)
  --authorization-details JSON
                          RFC 9396 authorization_details, a JSON array (e.g. one agent_action entry)
  --login-hint USER       whom to ask: a user id or username (default: owner, the agent's owner)
  --requested-expiry S    seconds the request may wait for a decision (at most 600, the default)
  --dpop                  bind the token to the key file's key (RFC 9449); always so for agent_action details
  --wait                  poll until someone decides, then print the token (exit 1 on denial or expiry)
  --timeout S             with --wait, give up after S seconds (default: until the request expires)
  --raw                   with --wait, print the access token alone`,
  async run(args, { env }) {
    const { values, positionals } = parseCommandLine(args, {
      'key-file': { type: 'string' },
      'binding-message': { type: 'string' },
      scope: { type: 'string', multiple: true },
      resource: { type: 'string', multiple: true },
      'authorization-details': { type: 'string' },
      'login-hint': { type: 'string' },
      'requested-expiry': { type: 'string' },
      dpop: { type: 'boolean' },
      wait: { type: 'boolean' },
      timeout: { type: 'string' },
      raw: { type: 'boolean' },
      server: { type: 'string' },
    });
    expectPositionals(positionals, []);
    const keyFile = await readKeyFile(requireOption(values['key-file'], 'key-file'));
    const details = values['authorization-details'] === undefined ? undefined : parseDetails(values['authorization-details']);
    const timeout = wholeNumberOption(values.timeout, 'timeout');
    if (timeout !== undefined && !values.wait) throw new UsageError('--timeout applies to --wait only');
    const config = await agentConfiguration(resolveServer(values.server ?? keyFile.server, env), keyFile.agent_id, keyFile.private_jwk);

    const parameters: Record<string, string> = {
      scope: ['openid', ...(scopeList(values.scope) ?? []).filter((scope) => scope !== 'openid')].join(' '),
      login_hint: values['login-hint'] ?? 'owner',
      binding_message: requireOption(values['binding-message'], 'binding-message'),
    };
    if (values['requested-expiry'] !== undefined) parameters.requested_expiry = String(wholeNumberOption(values['requested-expiry'], 'requested-expiry'));
    if (details) parameters.authorization_details = JSON.stringify(details);
    const search = new URLSearchParams(parameters);
    for (const resource of values.resource ?? []) search.append('resource', resource);

    const started = await ciba(() => oidc.initiateBackchannelAuthentication(config, search));
    if (!values.wait) {
      const json = { auth_req_id: started.auth_req_id, expires_in: started.expires_in, interval: started.interval ?? 5 };
      return { json, text: `auth_req_id: ${json.auth_req_id}\nexpires_in: ${json.expires_in}\ninterval: ${json.interval}` };
    }

    const bound = values.dpop === true || (details ?? []).some((detail) => detail.type === AGENT_ACTION);
    const DPoP = bound ? oidc.getDPoPHandle(config, await keyPairOf(keyFile.private_jwk)) : undefined;
    process.stderr.write(`waiting for a decision on "${parameters.binding_message}" (expires in ${started.expires_in} s)…\n`);
    const signal = AbortSignal.timeout((timeout ?? started.expires_in + 5) * 1000);
    const tokens = await ciba(() => oidc.pollBackchannelAuthenticationGrant(config, started, undefined, { DPoP, signal }).catch((error: unknown) => {
      // openid-client wraps the abort in its own error; the signal says what happened.
      if (signal.aborted) throw new CliError(`no decision within ${timeout ?? started.expires_in} seconds; the request stays pending until it expires`);
      throw error;
    }));
    return tokenResult(tokens as unknown as TokenResponse, values.raw ?? false);
  },
};

function parseDetails(text: string): Record<string, unknown>[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new UsageError('--authorization-details is not JSON');
  }
  if (!Array.isArray(parsed) || !parsed.every((entry) => typeof entry === 'object' && entry !== null && !Array.isArray(entry))) {
    throw new UsageError('--authorization-details must be a JSON array of objects (RFC 9396 §2)');
  }
  return parsed as Record<string, unknown>[];
}

/**
 * openid-client configured for the agent: the server's RFC 8414 metadata as the server publishes it (reached at
 * `server`, which need not be the issuer's own URL), and private_key_jwt with the key file's key.
 */
async function agentConfiguration(server: string, agentId: string, privateJwk: JWK): Promise<oidc.Configuration> {
  const metadata = await fetchJson(`${server}/.well-known/oauth-authorization-server`) as oidc.ServerMetadata | null;
  if (typeof metadata?.issuer !== 'string' || typeof metadata.backchannel_authentication_endpoint !== 'string') {
    throw new CliError(`${server} does not offer CIBA (no backchannel_authentication_endpoint in its metadata)`);
  }
  const key = await importJWK(privateJwk, 'EdDSA') as oidc.CryptoKey;
  const config = new oidc.Configuration(metadata, agentId, undefined, oidc.PrivateKeyJwt({ key, kid: privateJwk.kid }));
  // The CLI's other commands reach http:// servers too (a local one); openid-client refuses them unless told.
  if (new URL(metadata.issuer).protocol === 'http:') oidc.allowInsecureRequests(config);
  return config;
}

async function keyPairOf(privateJwk: JWK): Promise<oidc.CryptoKeyPair> {
  const { d: _private, ...publicJwk } = privateJwk;
  return {
    privateKey: await importJWK(privateJwk, 'EdDSA') as oidc.CryptoKey,
    publicKey: await importJWK({ ...publicJwk, ext: true }, 'EdDSA', { extractable: true }) as oidc.CryptoKey,
  };
}

/** openid-client's failures as one line an agent's operator can act on; CIBA §11's outcomes in plain words. */
async function ciba<T>(step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (error) {
    if (error instanceof oidc.ResponseBodyError) {
      if (error.error === 'access_denied') throw new CliError(`denied: ${error.error_description ?? 'the request was denied'}`);
      if (error.error === 'expired_token') throw new CliError('expired: nobody decided before the request expired');
      throw new CliError(`${error.error}${error.error_description ? `: ${error.error_description}` : ''}`);
    }
    if (error instanceof CliError) throw error;
    throw new CliError(`the CIBA request failed: ${(error as Error).message}`);
  }
}
