// `npm run bench:exchange`: what delegation costs at our token endpoint. In one run on one server it measures
// client_credentials (the baseline), RFC 8693 token exchange of that client's own token, and transaction-token
// issuance from it, and prints each as a ratio of the baseline. Same client, same client
// authentication (client_secret_basic), same storage, so the ratio is the grant's own cost.
import { randomBytes } from 'node:crypto';
import { CONNECTIONS, DURATION, MODES, basicAuth, fmt, measure, pinned, startProcess, withStorage, type Measurement } from './harness.ts';

const ADMIN_TOKEN = randomBytes(32).toString('base64url');
const RESOURCE = 'https://api.bench.test/';
const TE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';
const TXN_TOKEN = 'urn:ietf:params:oauth:token-type:txn_token';

async function json(response: Response): Promise<Record<string, unknown>> {
  const body = (await response.json()) as Record<string, unknown>;
  if (!response.ok) throw new Error(`${response.url} answered ${response.status}: ${JSON.stringify(body)}`);
  return body;
}

async function run(env: Record<string, string>): Promise<Record<string, Measurement>> {
  const server = await startProcess('../server/main.ts', { PORT: '0', ADMIN_TOKEN, ...env });
  try {
    const admin = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
    await json(await fetch(`${server.url}/admin/resources`, { method: 'POST', headers: admin, body: JSON.stringify({ identifier: RESOURCE, scopes: ['api:read'], token_format: 'opaque', access_token_ttl: 3600 }) }));
    // One workload for every scenario: registered by the operator (so it may hold a txn_token_policy) for both grants.
    const workload = await json(await fetch(`${server.url}/reg`, {
      method: 'POST', headers: admin, body: JSON.stringify({
        grant_types: ['client_credentials', TE], response_types: [], redirect_uris: [], txn_token_policy: { allowed_scopes: ['api:*'] },
      }),
    }));
    const auth = { authorization: basicAuth(String(workload.client_id), String(workload.client_secret)) };
    const form = { ...auth, 'content-type': 'application/x-www-form-urlencoded' };
    const subject = await json(await fetch(`${server.url}/token`, { method: 'POST', headers: form, body: `grant_type=client_credentials&scope=api:read&resource=${encodeURIComponent(RESOURCE)}` }));
    const exchangeBody = new URLSearchParams({ grant_type: TE, subject_token: String(subject.access_token), subject_token_type: ACCESS_TOKEN, resource: RESOURCE }).toString();
    await json(await fetch(`${server.url}/token`, { method: 'POST', headers: form, body: exchangeBody }));

    const results: Record<string, Measurement> = {
      client_credentials: await measure(`${server.url}/token`, auth, `grant_type=client_credentials&scope=api:read&resource=${encodeURIComponent(RESOURCE)}`, server.pid),
      'token exchange': await measure(`${server.url}/token`, auth, exchangeBody, server.pid),
    };
    const txnBody = new URLSearchParams({
      grant_type: TE, subject_token: String(subject.access_token), subject_token_type: ACCESS_TOKEN, requested_token_type: TXN_TOKEN,
      audience: new URL(server.url).origin.replace('127.0.0.1', 'localhost'), scope: 'api:read',
    }).toString();
    await json(await fetch(`${server.url}/token`, { method: 'POST', headers: form, body: txnBody }));
    results['transaction token'] = await measure(`${server.url}/token`, auth, txnBody, server.pid);
    return results;
  } finally {
    await server.stop();
  }
}

console.log(`delegation benchmark: ${CONNECTIONS} connections, ${DURATION} s per scenario, node ${process.version}${pinned ? ', load on core 0, server on core 1' : ''}`);
for (const mode of MODES) {
  const results = await withStorage(mode, run);
  console.log(`\n== ${mode} storage ==`);
  for (const [scenario, measurement] of Object.entries(results)) {
    const ratio = scenario === 'client_credentials' ? '' : `  ratio to client_credentials: ${(measurement.rps / results.client_credentials.rps).toFixed(2)}`;
    console.log(`${scenario.padEnd(20)} ${fmt(measurement)}${ratio}`);
  }
}
