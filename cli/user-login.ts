// A person's sign-in from the command line (RFC 8252, OAuth for native apps): authorization code with PKCE to a
// loopback redirect this process listens on, the browser opened through $BROWSER or by the person from the printed
// URL. The CLI is a public native client; it registers itself anonymously (RFC 7591) unless given a client id.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as oidc from 'openid-client';
import { CliError } from './cli-error.ts';
import type { TokenResponse } from './token-request.ts';

export interface LoginRequest {
  server: string;
  scope: string;
  resource?: string;
  /** A public client registered for loopback redirects; registered anonymously when absent. */
  clientId?: string;
  /** Where the person is told what to open (stderr). */
  tell(line: string): void;
  /** A command that opens a URL in a browser ($BROWSER), if any. */
  browser?: string;
  timeoutMs: number;
}

// RFC 8252 §7.3: the authorization server accepts any port on a loopback redirect of a native client.
const REGISTERED_REDIRECT = 'http://127.0.0.1/callback';

export async function loginWithBrowser(request: LoginRequest): Promise<{ token: TokenResponse; clientId: string }> {
  const server = new URL(request.server);
  // Plain http is what a development server on this machine speaks; anything remote must be https.
  const options = server.protocol === 'http:' ? { execute: [oidc.allowInsecureRequests] } : undefined;
  const discovered = await oidc.discovery(server, request.clientId ?? 'unregistered', undefined, oidc.None(), options).catch((error: Error) => {
    throw new CliError(`cannot read ${server.origin}'s authorization server metadata: ${error.message}`);
  });
  const config = request.clientId ? discovered : await register(server, options);
  const clientId = config.clientMetadata().client_id;

  const callback = await listenOnLoopback();
  try {
    const redirectUri = `http://127.0.0.1:${(callback.server.address() as AddressInfo).port}/callback`;
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri, scope: request.scope, state,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
      ...(request.resource ? { resource: request.resource } : {}),
    });
    request.tell(`open this URL to sign in: ${url.href}`);
    if (request.browser) {
      // $BROWSER may carry arguments ("firefox --new-window"); the URL goes last.
      const [command, ...args] = request.browser.trim().split(/\s+/);
      spawn(command, [...args, url.href], { stdio: 'ignore', detached: true }).on('error', () => undefined).unref();
    }

    const returned = await callback.next(request.timeoutMs);
    const tokens = await oidc.authorizationCodeGrant(config, returned, { pkceCodeVerifier: verifier, expectedState: state }, request.resource ? { resource: request.resource } : undefined)
      .catch((error: Error & { error?: string; error_description?: string }) => {
        throw new CliError(`sign-in failed: ${error.error ?? error.message}${error.error_description ? `: ${error.error_description}` : ''}`);
      });
    return { token: tokens as unknown as TokenResponse, clientId };
  } finally {
    callback.server.close();
  }
}

async function register(server: URL, options: Parameters<typeof oidc.discovery>[4]): Promise<oidc.Configuration> {
  return oidc.dynamicClientRegistration(server, {
    client_name: 'agentauth CLI', application_type: 'native', token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], redirect_uris: [REGISTERED_REDIRECT],
  }, oidc.None(), options).catch((error: Error & { error_description?: string }) => {
    throw new CliError(`cannot register the CLI at ${server.origin}: ${error.error_description ?? error.message}`);
  });
}

/** A one-shot HTTP server on 127.0.0.1 that hands over the first request to /callback as the returned URL. */
async function listenOnLoopback(): Promise<{ server: Server; next(timeoutMs: number): Promise<URL> }> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    server,
    next(timeoutMs) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new CliError(`no sign-in came back within ${Math.round(timeoutMs / 1000)} s`)), timeoutMs);
        server.on('request', (req, res) => {
          const returned = new URL(req.url ?? '/', `http://${req.headers.host}`);
          if (returned.pathname !== '/callback') return void res.writeHead(404).end();
          res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
            .end('<!doctype html><title>agentauth</title><p>Signed in. You can close this window and return to the terminal.</p>');
          clearTimeout(timer);
          resolve(returned);
        });
      });
    },
  };
}
