// The permission check (OpenID AuthZEN Authorization API 1.0) end to end over HTTP on both storage modes: the
// PDP metadata, every request example of the spec's Access Evaluation and Access Evaluations sections replayed
// with the decisions its response examples show, decisions from roles (inherited too), the kill switch and a
// delegation chain's policy, the caller's token refused three ways with RFC 6750 challenges, and malformed
// bodies answered 400 with the member named, never 5xx.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { generateKeyPair, generateProof } from 'dpop';
import { base64url } from 'jose';
import { adminRequest, createResource, createUser } from '../support/admin.ts';
import { createKeyAgent, type KeyAgent } from '../support/delegation.ts';
import { STORAGE_MODES, startTestServer, type TestServer } from '../support/server.ts';

const FILES = 'https://files.example.test/';
const TE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';
const BIN = fileURLToPath(new URL('../../bin/agentauth.ts', import.meta.url));

describe.each(STORAGE_MODES)('AuthZEN permission check on %s storage', (mode) => {
  let server: TestServer;
  let pdpResource: string;
  let alice: { id: string; username: string };
  let owner: string;
  let gateway: KeyAgent;
  let pepToken: string;

  beforeAll(async () => {
    server = await startTestServer(mode, `e2e-authzen-${mode}`);
    pdpResource = `${server.issuer}/access/v1`;
    // The operator registers the PDP as a resource and grants its scope to the PEP (a gateway agent).
    await createResource(server, { identifier: pdpResource, scopes: ['authzen:evaluate', 'authzen:other'], token_format: 'jwt', access_token_ttl: 300 });
    await createResource(server, { identifier: FILES, scopes: ['files:read', 'files.reports:read', 'files.archive:read'], token_format: 'jwt', access_token_ttl: 300 });
    const created = await adminRequest(server, 'POST', '/admin/users', { username: 'alice@example.com', password: 'correct horse battery staple' });
    expect(created.status, await created.clone().text()).toBe(201);
    alice = (await created.json()) as { id: string; username: string };
    owner = (await createUser(server, 'owner', 'correct horse battery staple')).id;
    gateway = await createKeyAgent(server, owner, { name: 'gateway', scopes: ['authzen:*'], default_scopes: [] });
    pepToken = (await oidc.clientCredentialsGrant(gateway.config, { scope: 'authzen:evaluate', resource: pdpResource })).access_token;

    // The spec's examples' subject reads what the examples permit, through a role that inherits another.
    await role('document-base', { scopes: ['document.1:read', 'document.3:read'] });
    await role('document-reader', { scopes: ['document.boxcarring.md:can_read', 'account.123:can_read', 'todo.1:can_read'], inherits: ['document-base'] });
    await hold('document-reader', { user_id: alice.id });
  });
  afterAll(() => server?.stop());

  async function role(name: string, body: { scopes: string[]; inherits?: string[]; org_id?: string }) {
    const response = await adminRequest(server, 'POST', '/admin/roles', { name, ...body });
    expect(response.status, await response.clone().text()).toBe(201);
  }
  async function hold(name: string, holder: { user_id: string } | { client_id: string }) {
    const response = await adminRequest(server, 'POST', `/admin/roles/${name}/holders`, holder);
    expect(response.status, await response.clone().text()).toBe(201);
  }

  function pdp(path: string, body: unknown, options: { token?: string | null; headers?: Record<string, string>; raw?: string } = {}) {
    const token = options.token === undefined ? pepToken : options.token;
    return fetch(`${server.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}), ...options.headers },
      body: options.raw ?? JSON.stringify(body),
    });
  }
  async function decide(body: unknown): Promise<{ decision: boolean; context?: { reason: string; rule: string } }> {
    const response = await pdp('/access/v1/evaluation', body);
    expect(response.status, await response.clone().text()).toBe(200);
    return response.json() as Promise<{ decision: boolean; context?: { reason: string; rule: string } }>;
  }
  /** An AuthZEN answer, a batch answer or an error, as a test reads it. */
  interface Answer {
    decision?: boolean;
    context?: { reason: string; rule: string };
    evaluations: { decision: boolean; context: { reason: string; rule: string } }[];
    error?: string;
  }
  const answer = (response: Response) => response.json() as Promise<Answer>;
  const decisions = (body: { evaluations: { decision: boolean }[] }) => body.evaluations.map((evaluation) => evaluation.decision);

  it('publishes PDP metadata at /.well-known/authzen-configuration (§9)', async () => {
    const response = await fetch(`${server.url}/.well-known/authzen-configuration`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await answer(response)).toEqual({
      policy_decision_point: server.issuer,
      access_evaluation_endpoint: `${server.issuer}/access/v1/evaluation`,
      access_evaluations_endpoint: `${server.issuer}/access/v1/evaluations`,
    });
    // The PDP is a protected resource like any other (RFC 9728), naming the scope a PEP needs.
    const resourceMetadata = await (await fetch(`${server.url}/.well-known/oauth-protected-resource/access/v1`)).json();
    expect(resourceMetadata).toMatchObject({ resource: pdpResource, authorization_servers: [server.issuer], scopes_supported: expect.arrayContaining(['authzen:evaluate']) });
  });

  describe('the spec\'s examples, replayed', () => {
    it('§6.1 Access Evaluation request → a Decision', async () => {
      expect(await decide({
        subject: { type: 'user', id: 'alice@example.com' },
        resource: { type: 'account', id: '123' },
        action: { name: 'can_read', properties: { method: 'GET' } },
        context: { time: '1985-10-26T01:22-07:00' },
      })).toEqual({ decision: true });
    });

    it('§10 HTTPS Access Evaluation request with X-Request-ID → the same id and {"decision": true}', async () => {
      const response = await pdp('/access/v1/evaluation', {
        subject: { type: 'user', id: 'alice@example.com' }, resource: { type: 'todo', id: '1' }, action: { name: 'can_read' }, context: { time: '1985-10-26T01:22-07:00' },
      }, { headers: { 'x-request-id': 'bfe9eb29-ab87-4ca3-be83-a1d5d8305716' } });
      expect(response.status).toBe(200);
      expect(response.headers.get('x-request-id')).toBe('bfe9eb29-ab87-4ca3-be83-a1d5d8305716');
      expect(response.headers.get('content-type')).toMatch(/^application\/json/);
      expect(await answer(response)).toEqual({ decision: true });
    });

    it('§7.1 three evaluations with no defaults', async () => {
      const evaluation = (id: string) => ({
        subject: { type: 'user', id: 'alice@example.com' }, action: { name: 'can_read' }, resource: { type: 'document', id }, context: { time: '2024-05-31T15:22-07:00' },
      });
      const response = await pdp('/access/v1/evaluations', { evaluations: [evaluation('boxcarring.md'), evaluation('subject-search.md'), evaluation('resource-search.md')] });
      expect(response.status).toBe(200);
      const body = await answer(response);
      expect(decisions(body)).toEqual([true, false, false]);
      // §7.2: with an evaluations array the top-level decision is omitted; a deny says why.
      expect(body).not.toHaveProperty('decision');
      expect(body.evaluations[1].context).toMatchObject({ rule: 'scope_not_allowed', reason: expect.stringContaining('document.subject-search.md:can_read') });
    });

    it('§7.1.1 defaults: one subject and context for three evaluations', async () => {
      const response = await pdp('/access/v1/evaluations', {
        subject: { type: 'user', id: 'alice@example.com' },
        context: { time: '2024-05-31T15:22-07:00' },
        evaluations: [
          { action: { name: 'can_read' }, resource: { type: 'document', id: 'boxcarring.md' } },
          { action: { name: 'can_read' }, resource: { type: 'document', id: 'subject-search.md' } },
          { action: { name: 'can_read' }, resource: { type: 'document', id: 'resource-search.md' } },
        ],
      });
      expect(decisions(await answer(response))).toEqual([true, false, false]);
    });

    it('§7.1.1 / §10 defaults with an action the third evaluation overrides', async () => {
      const response = await pdp('/access/v1/evaluations', {
        subject: { type: 'user', id: 'alice@example.com' },
        context: { time: '2024-05-31T15:22-07:00' },
        action: { name: 'can_read' },
        evaluations: [
          { resource: { type: 'document', id: 'boxcarring.md' } },
          { resource: { type: 'document', id: 'subject-search.md' } },
          { action: { name: 'can_edit' }, resource: { type: 'document', id: 'resource-search.md' } },
        ],
      }, { headers: { 'x-request-id': 'bfe9eb29-ab87-4ca3-be83-a1d5d8305716' } });
      expect(response.headers.get('x-request-id')).toBe('bfe9eb29-ab87-4ca3-be83-a1d5d8305716');
      const body = await answer(response);
      expect(decisions(body)).toEqual([true, false, false]);
      expect(body.evaluations[2].context.reason).toContain('document.resource-search.md:can_edit');
    });

    it('§7.1.2 options with an option we do not know, which is ignored', async () => {
      const response = await pdp('/access/v1/evaluations', {
        evaluations: [{ resource: { type: 'doc', id: '1' }, subject: { type: 'doc', id: '2' } }],
        options: { evaluations_semantic: 'execute_all', another_option: 'value' },
        action: { name: 'read' },
      });
      expect(response.status).toBe(200);
      expect(await answer(response)).toEqual({ evaluations: [{ decision: false, context: { rule: 'unknown_subject_type', reason: expect.any(String) } }] });
    });

    const threeDocuments = (semantic: string) => ({
      subject: { type: 'user', id: 'alice@example.com' },
      action: { name: 'read' },
      options: { evaluations_semantic: semantic },
      evaluations: [{ resource: { type: 'document', id: '1' } }, { resource: { type: 'document', id: '2' } }, { resource: { type: 'document', id: '3' } }],
    });

    it('§7.1.2.1 execute_all → every decision, in order', async () => {
      expect(decisions(await answer(await pdp('/access/v1/evaluations', threeDocuments('execute_all'))))).toEqual([true, false, true]);
    });

    it('§7.1.2.1 deny_on_first_deny → up to and including the first deny', async () => {
      const body = await answer(await pdp('/access/v1/evaluations', threeDocuments('deny_on_first_deny')));
      expect(decisions(body)).toEqual([true, false]);
      expect(body.evaluations[1].context.rule).toBe('scope_not_allowed');
    });

    it('§7.1.2.1 permit_on_first_permit → only the first permit', async () => {
      expect(await answer(await pdp('/access/v1/evaluations', threeDocuments('permit_on_first_permit')))).toEqual({ evaluations: [{ decision: true }] });
    });

    it('§7.1 an evaluations request without evaluations is a single evaluation', async () => {
      const response = await pdp('/access/v1/evaluations', { subject: { type: 'user', id: 'alice@example.com' }, action: { name: 'read' }, resource: { type: 'document', id: '1' }, evaluations: [] });
      expect(await answer(response)).toEqual({ decision: true });
    });
  });

  describe('decisions from what the server knows', () => {
    it('a role-granted permission, an inherited one, and one no role grants', async () => {
      const analyst = await createKeyAgent(server, owner, { name: 'analyst', scopes: ['files.archive:read'], default_scopes: [] });
      await role('reports-base', { scopes: ['files.reports.q3:read'] });
      await role('reports', { scopes: ['files.reports:read'], inherits: ['reports-base'] });
      await hold('reports', { client_id: analyst.id });
      const ask = (type: string, id: string, resourceId: string) =>
        decide({ subject: { type, id }, action: { name: 'read' }, resource: { type: 'files', id: resourceId } });
      expect(await ask('agent', analyst.id, 'archive')).toEqual({ decision: true });
      expect(await ask('agent', analyst.id, 'reports')).toEqual({ decision: true });
      expect(await ask('client', analyst.id, 'reports.q3')).toEqual({ decision: true });
      expect(await ask('agent', analyst.id, 'secrets')).toMatchObject({ decision: false, context: { rule: 'scope_not_allowed' } });
      // A user by id or by username.
      expect(await decide({ subject: { type: 'user', id: alice.id }, action: { name: 'read' }, resource: { type: 'document', id: '3' } })).toEqual({ decision: true });
      // Revoking the role takes the permission away at once.
      expect((await adminRequest(server, 'DELETE', `/admin/roles/reports/holders/clients/${analyst.id}`)).status).toBeLessThan(300);
      expect(await ask('agent', analyst.id, 'reports')).toMatchObject({ decision: false, context: { rule: 'scope_not_allowed' } });
    });

    it('another organization\'s resource is denied (organization_mismatch), whatever the roles allow; its own members are permitted', async () => {
      expect((await adminRequest(server, 'POST', '/admin/organizations', { id: 'beta', name: 'Beta' })).status).toBe(201);
      await createResource(server, { identifier: 'https://ledger.beta.example.test/', scopes: ['ledger:read'], token_format: 'jwt', org_id: 'beta' });
      const bob = (await (await adminRequest(server, 'POST', '/admin/users', { username: 'bob@beta.example', password: 'correct horse battery staple', org_id: 'beta' })).json()) as { id: string };
      // The same permission from a role of each one's organization (a role is held only in its own).
      await role('ledger-reader', { scopes: ['ledger:**'] });
      await role('beta-ledger-reader', { scopes: ['ledger:**'], org_id: 'beta' });
      await hold('ledger-reader', { user_id: alice.id });
      await hold('beta-ledger-reader', { user_id: bob.id });
      const question = (id: string) => ({ subject: { type: 'user', id }, action: { name: 'read' }, resource: { type: 'ledger', id: '2024' } });
      expect(await decide(question(alice.id))).toEqual({
        decision: false, context: { rule: 'organization_mismatch', reason: `resource "ledger" belongs to organization "beta", and user "${alice.id}" to "default"` },
      });
      expect(await decide(question(bob.id))).toEqual({ decision: true });
      // A family no registered resource names belongs to no organization: the scope rules alone decide.
      expect(await decide({ subject: { type: 'user', id: alice.id }, action: { name: 'read' }, resource: { type: 'document', id: '1' } })).toEqual({ decision: true });
    });

    it('a suspended agent is denied, an unknown subject is denied', async () => {
      const agent = await createKeyAgent(server, owner, { name: 'soon-suspended', scopes: ['files:**'], default_scopes: [] });
      const ask = (id: string) => decide({ subject: { type: 'agent', id }, action: { name: 'read' }, resource: { type: 'files', id: 'reports' } });
      expect(await ask(agent.id)).toEqual({ decision: true });
      expect((await adminRequest(server, 'POST', `/admin/agents/${agent.id}/suspend`)).status).toBe(200);
      expect(await ask(agent.id)).toMatchObject({ decision: false, context: { rule: 'subject_inactive', reason: expect.stringContaining('suspended') } });
      expect(await ask('agent_nobody')).toMatchObject({ decision: false, context: { rule: 'unknown_subject' } });
      expect(await decide({ subject: { type: 'user', id: 'nobody' }, action: { name: 'read' }, resource: { type: 'files', id: 'x' } }))
        .toMatchObject({ decision: false, context: { rule: 'unknown_subject' } });
    });

    it('audits every decision with the PEP that asked, the subject, the request and the verdict', async () => {
      const agent = await createKeyAgent(server, owner, { name: 'audited', scopes: ['files.reports:read'], default_scopes: [] });
      const ask = (resourceId: string) => ({ subject: { type: 'agent', id: agent.id }, action: { name: 'read' }, resource: { type: 'files', id: resourceId } });
      expect(await decide(ask('reports'))).toEqual({ decision: true });
      const batch = await pdp('/access/v1/evaluations', { evaluations: [ask('archive'), ask('reports')] });
      expect(batch.status).toBe(200);
      await server.audit.flush();
      const listed = await adminRequest(server, 'GET', `/admin/audit?event=access.evaluated&client_id=${encodeURIComponent(gateway.id)}&limit=200`);
      const rows = ((await listed.json()) as { items: { subject: string; outcome: string; reason: string | null; details: Record<string, unknown> }[] }).items
        .filter((row) => row.subject === `agent:${agent.id}`);
      // Exactly the three evaluations asked about this agent: one single, two in the batch.
      expect(rows).toHaveLength(3);
      expect(rows.filter((row) => row.outcome === 'success')).toHaveLength(2);
      expect(rows.find((row) => row.outcome === 'failure')).toMatchObject({ reason: 'scope_not_allowed', details: { action: 'read', resource: 'files:archive', decision: false } });
    });

    it('a delegation chain in context: allowed, then too deep once the root client\'s policy lowers max_depth', async () => {
      const root = await createKeyAgent(server, owner, { name: 'root', scopes: ['files:**'], default_scopes: [] });
      const middle = await createKeyAgent(server, owner, { name: 'middle', scopes: ['files:**'], default_scopes: [] });
      const actor = await createKeyAgent(server, owner, { name: 'actor', scopes: ['files:**'], default_scopes: [] });
      const own = (await oidc.clientCredentialsGrant(root.config, { scope: 'files.reports:read', resource: FILES })).access_token;
      const one = (await oidc.genericGrantRequest(middle.config, TE, { subject_token: own, subject_token_type: ACCESS_TOKEN, resource: FILES })).access_token;
      const two = (await oidc.genericGrantRequest(actor.config, TE, { subject_token: one, subject_token_type: ACCESS_TOKEN, resource: FILES })).access_token;
      const ask = (id: string, resourceId = 'reports', accessToken: unknown = two) =>
        decide({ subject: { type: 'agent', id }, action: { name: 'read' }, resource: { type: 'files', id: resourceId }, context: { access_token: accessToken } });

      expect(await ask(actor.id)).toEqual({ decision: true });
      expect(await ask(middle.id)).toMatchObject({ decision: false, context: { rule: 'token_subject_mismatch' } });
      expect(await ask(actor.id, 'archive')).toMatchObject({ decision: false, context: { rule: 'token_scope' } });
      expect(await ask(actor.id, 'reports', 'not-a-token')).toMatchObject({ decision: false, context: { rule: 'token_inactive' } });
      expect(await ask(actor.id, 'reports', 42)).toMatchObject({ decision: false, context: { rule: 'token_inactive' } });

      const patched = await adminRequest(server, 'PATCH', `/admin/agents/${root.id}`, { delegation_policy: { max_depth: 1 } });
      expect(patched.status, await patched.clone().text()).toBe(200);
      expect(await ask(actor.id)).toMatchObject({ decision: false, context: { rule: 'max_depth', reason: expect.stringContaining('2 actors') } });
    });
  });

  describe('the caller\'s credentials (RFC 6750)', () => {
    const question = { subject: { type: 'user', id: 'alice@example.com' }, action: { name: 'read' }, resource: { type: 'document', id: '1' } };

    it('none → 401 with a challenge naming the realm and the resource metadata, and no error code', async () => {
      for (const path of ['/access/v1/evaluation', '/access/v1/evaluations']) {
        const response = await pdp(path, question, { token: null });
        expect(response.status).toBe(401);
        const challenge = response.headers.get('www-authenticate')!;
        expect(challenge).toContain(`Bearer realm="${server.issuer}"`);
        expect(challenge).toContain(`resource_metadata="${server.issuer}/.well-known/oauth-protected-resource/access/v1"`);
        expect(challenge).not.toContain('error=');
        expect(await answer(response)).toMatchObject({ error: 'invalid_request', error_description: expect.stringContaining('authzen:evaluate') });
      }
    });

    it('an invalid token, one for another resource, or a suspended PEP\'s → 401 invalid_token', async () => {
      const other = await createKeyAgent(server, owner, { name: 'pep-2', scopes: ['authzen:evaluate', 'files:**'], default_scopes: [] });
      const forFiles = (await oidc.clientCredentialsGrant(other.config, { scope: 'files:read', resource: FILES })).access_token;
      const own = (await oidc.clientCredentialsGrant(other.config, { scope: 'authzen:evaluate', resource: pdpResource })).access_token;
      expect((await pdp('/access/v1/evaluation', question, { token: own })).status).toBe(200);
      await adminRequest(server, 'POST', `/admin/agents/${other.id}/suspend`);
      for (const token of ['garbage', forFiles, own]) {
        const response = await pdp('/access/v1/evaluation', question, { token });
        expect(response.status).toBe(401);
        expect(response.headers.get('www-authenticate')).toMatch(/^Bearer realm="[^"]+", resource_metadata="[^"]+", error="invalid_token", error_description="[^"]+"$/);
        expect((await answer(response)).error).toBe('invalid_token');
      }
    });

    it('a DPoP-bound token with a proof of its key (RFC 9449 §7); every wrong proof or scheme → 401 with the DPoP challenge', async () => {
      const key = await generateKeyPair('ES256');
      const bound = (await oidc.clientCredentialsGrant(gateway.config, { scope: 'authzen:evaluate', resource: pdpResource }, { DPoP: oidc.getDPoPHandle(gateway.config, key) })).access_token;
      const url = `${server.issuer}/access/v1/evaluation`;
      const send = (authorization: string, proof?: string, at = server.url) => fetch(`${at}/access/v1/evaluation`, {
        method: 'POST', headers: { 'content-type': 'application/json', authorization, ...(proof ? { dpop: proof } : {}) }, body: JSON.stringify(question),
      });
      const refusal = async (response: Response) => ({ status: response.status, challenge: response.headers.get('www-authenticate'), error: (await answer(response)).error });
      const dpopChallenge = (error: string) => expect.stringMatching(new RegExp(`^DPoP realm="[^"]+", algs="[^"]+", error="${error}", error_description="[^"]+"$`));

      const proof = await generateProof(key, url, 'POST', undefined, bound);
      expect(await answer(await send(`DPoP ${bound}`, proof))).toEqual({ decision: true });
      // The same proof again, here or at another instance: used once.
      expect(await refusal(await send(`DPoP ${bound}`, proof))).toEqual({ status: 401, challenge: dpopChallenge('invalid_dpop_proof'), error: 'invalid_dpop_proof' });
      if (mode === 'redis+postgres') {
        const sibling = await server.startSibling();
        const fresh = await generateProof(key, url, 'POST', undefined, bound);
        expect((await send(`DPoP ${bound}`, fresh, sibling.url)).status).toBe(200);
        expect(await refusal(await send(`DPoP ${bound}`, fresh))).toMatchObject({ status: 401, error: 'invalid_dpop_proof' });
      }
      // As a bearer token; without a proof; a proof for another URL, another method, another token, another key.
      expect(await refusal(await send(`Bearer ${bound}`))).toEqual({ status: 401, challenge: dpopChallenge('invalid_token'), error: 'invalid_token' });
      expect(await refusal(await send(`DPoP ${bound}`))).toMatchObject({ status: 401, error: 'invalid_dpop_proof' });
      expect(await refusal(await send(`DPoP ${bound}`, await generateProof(key, `${server.issuer}/access/v1/evaluations`, 'POST', undefined, bound)))).toMatchObject({ status: 401, error: 'invalid_dpop_proof' });
      expect(await refusal(await send(`DPoP ${bound}`, await generateProof(key, url, 'GET', undefined, bound)))).toMatchObject({ status: 401, error: 'invalid_dpop_proof' });
      expect(await refusal(await send(`DPoP ${bound}`, await generateProof(key, url, 'POST', undefined, pepToken)))).toMatchObject({ status: 401, error: 'invalid_dpop_proof' });
      expect(await refusal(await send(`DPoP ${bound}`, await generateProof(await generateKeyPair('ES256'), url, 'POST', undefined, bound)))).toMatchObject({ status: 401, error: 'invalid_token' });
      // An unsigned proof (alg none) with the right claims.
      const [header, payload] = proof.split('.').slice(0, 2).map((part) => JSON.parse(Buffer.from(part, 'base64url').toString()) as Record<string, unknown>);
      const unsigned = [{ ...header, alg: 'none' }, { ...payload, jti: 'another' }].map((part) => base64url.encode(JSON.stringify(part))).join('.') + '.';
      expect(await refusal(await send(`DPoP ${bound}`, unsigned))).toMatchObject({ status: 401, error: 'invalid_dpop_proof' });
      // An unbound token with the DPoP scheme.
      expect(await refusal(await send(`DPoP ${pepToken}`, await generateProof(key, url, 'POST', undefined, pepToken)))).toEqual({ status: 401, challenge: dpopChallenge('invalid_token'), error: 'invalid_token' });
    });

    it('a token for the PDP without authzen:evaluate → 403 insufficient_scope', async () => {
      const token = (await oidc.clientCredentialsGrant(gateway.config, { scope: 'authzen:other', resource: pdpResource })).access_token;
      const response = await pdp('/access/v1/evaluations', question, { token });
      expect(response.status).toBe(403);
      expect(response.headers.get('www-authenticate')).toContain('error="insufficient_scope"');
      expect(response.headers.get('www-authenticate')).toContain('scope="authzen:evaluate"');
      expect((await answer(response)).error).toBe('insufficient_scope');
    });

    it('the operator\'s ADMIN_TOKEN is accepted (agentauth check sends it)', async () => {
      expect(await answer(await pdp('/access/v1/evaluation', question, { token: server.adminToken }))).toEqual({ decision: true });
    });
  });

  // The CLI runs as operators run it (its own process, the admin token from the environment); once is enough.
  it.runIf(mode === 'embedded')('agentauth check prints the decision and the reason, and --json the AuthZEN answer', async () => {
    const cli = (args: string[]) => new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH ?? '', AGENTAUTH_URL: server.url, ADMIN_TOKEN: server.adminToken } });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk) => { stdout += chunk; });
      child.stderr.on('data', (chunk) => { stderr += chunk; });
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
    const permit = await cli(['check', '--subject', 'user:alice@example.com', '--action', 'read', '--resource', 'document:1']);
    expect(permit).toMatchObject({ code: 0, stdout: 'permit\n' });
    const deny = await cli(['check', '--subject', 'user:alice@example.com', '--action', 'read', '--resource', 'document:2']);
    expect(deny.code).toBe(0);
    expect(deny.stdout).toBe('deny: user "' + alice.id + '" is not allowed "document.2:read" by its scopes or roles (scope_not_allowed)\n');
    const json = await cli(['check', '--json', '--subject', 'agent:agent_nobody', '--action', 'read', '--resource', 'files:reports']);
    expect(JSON.parse(json.stdout)).toEqual({ decision: false, context: { rule: 'unknown_subject', reason: 'no agent "agent_nobody" is known to this server' } });
    const usage = await cli(['check', '--subject', 'alice', '--action', 'read', '--resource', 'document:1']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('--subject must be TYPE:ID');
    const noToken = await cli(['check', '--subject', 'user:alice', '--action', 'read', '--resource', 'document:1', '--admin-token', 'wrong']);
    expect(noToken.code).toBe(1);
    expect(noToken.stderr).toContain('invalid_token');
  });

  describe('malformed requests → 400 naming the member, never 5xx', () => {
    const valid = { subject: { type: 'user', id: 'alice@example.com' }, action: { name: 'read' }, resource: { type: 'document', id: '1' } };
    const cases: [string, unknown, string][] = [
      ['no subject', { action: valid.action, resource: valid.resource }, 'subject'],
      ['no action', { subject: valid.subject, resource: valid.resource }, 'action'],
      ['no resource', { subject: valid.subject, action: valid.action }, 'resource'],
      ['a subject without id', { ...valid, subject: { type: 'user' } }, 'subject.id'],
      ['a numeric subject id', { ...valid, subject: { type: 'user', id: 7 } }, 'subject.id'],
      ['an action name that is an object', { ...valid, action: { name: {} } }, 'action.name'],
      ['a resource that is a string', { ...valid, resource: 'document:1' }, 'resource'],
      ['a context that is an array', { ...valid, context: [] }, 'context'],
      ['properties that are a string', { ...valid, subject: { ...valid.subject, properties: 'x' } }, 'subject.properties'],
      ['an array body', [valid], 'body'],
      ['a null body', null, 'body'],
    ];
    it.each(cases)('%s', async (_name, body, field) => {
      for (const path of ['/access/v1/evaluation', '/access/v1/evaluations']) {
        const response = await pdp(path, body);
        expect(response.status, path).toBe(400);
        expect(await answer(response)).toMatchObject({ error: 'invalid_request', field });
      }
    });

    it('batch: an evaluation lacking a member with no default, an unknown evaluations_semantic, too many evaluations', async () => {
      const missing = await pdp('/access/v1/evaluations', { subject: valid.subject, evaluations: [{ action: valid.action, resource: valid.resource }, { resource: valid.resource }] });
      expect(missing.status).toBe(400);
      expect(await answer(missing)).toMatchObject({ field: 'evaluations.1.action', error_description: expect.stringContaining('top-level default') });
      const semantic = await pdp('/access/v1/evaluations', { ...valid, evaluations: [{}], options: { evaluations_semantic: 'first_wins' } });
      expect(semantic.status).toBe(400);
      expect(await answer(semantic)).toMatchObject({ field: 'options.evaluations_semantic', error_description: expect.stringContaining('deny_on_first_deny') });
      const many = await pdp('/access/v1/evaluations', { ...valid, evaluations: Array.from({ length: 101 }, () => ({})) });
      expect(many.status).toBe(400);
      expect(await answer(many)).toMatchObject({ field: 'evaluations' });
      const notArray = await pdp('/access/v1/evaluations', { ...valid, evaluations: { 0: {} } });
      expect(notArray.status).toBe(400);
    });

    it('not JSON, not application/json, oversized, and a GET', async () => {
      const broken = await pdp('/access/v1/evaluation', undefined, { raw: '{"subject": ' });
      expect(broken.status).toBe(400);
      expect(await answer(broken)).toMatchObject({ error: 'invalid_request', error_description: expect.stringContaining('JSON') });
      const form = await pdp('/access/v1/evaluation', undefined, { raw: 'subject=alice', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      expect(form.status).toBe(415);
      const huge = await pdp('/access/v1/evaluation', { ...valid, context: { padding: 'x'.repeat(200_000) } });
      expect(huge.status).toBe(413);
      const get = await fetch(`${server.url}/access/v1/evaluation`, { headers: { authorization: `Bearer ${pepToken}` } });
      expect(get.status).toBe(405);
    });
  });
});
