// A real oidc-provider token endpoint with one grant handler of ours registered on it, for the grant unit tests
// (test/grants/): the handler gets the TokenEndpointGrantContext oidc-provider builds for a real request (client
// authenticated, parameters parsed, its resource and DPoP helpers bound), and everything the handler stores goes
// through an adapter that keeps a log of its writes, so a test can say that a refusal stored nothing.
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { calculateJwkThumbprint, decodeJwt, exportJWK, generateKeyPair, SignJWT } from 'jose';
import Provider, { errors, type Adapter, type AdapterPayload, type ClientMetadata, type Configuration } from 'oidc-provider';
import type { Agent } from '../../adapters/agent-store.ts';
import { agentRecordMetadata } from '../../adapters/client-adapter.ts';
import { lifetimes } from '../../config/defaults.ts';
import { RECORD_MEMBERS } from '../../policy/client-record.ts';
import type { GrantHandler } from '../../grants/grant.ts';
import { apiScopes, defaultResourceFor } from '../../policy/scope-resolution.ts';

/** A registered resource (RFC 8707), as the resource registry describes it to oidc-provider. */
export interface TestResource {
  identifier: string;
  scopes: string[];
  accessTokenTtl?: number;
  tokenFormat?: 'opaque' | 'jwt';
}

export interface Write {
  model: string;
  id: string;
  payload: AdapterPayload;
  expiresIn: number | undefined;
}

export interface EndpointOptions {
  grantType: string;
  parameters: readonly string[];
  allowedDuplicateParameters?: readonly string[];
  /** Builds the handler under test; called once the provider exists, for handlers that need it. */
  handler: (provider: Provider) => GrantHandler;
  clients: ClientMetadata[];
  resources?: TestResource[];
  /** Anything else the grant's feature needs (features.ciba, say). */
  configuration?: Partial<Configuration>;
}

export interface Answer {
  status: number;
  body: Record<string, unknown>;
}

export interface TokenEndpoint {
  provider: Provider;
  url: string;
  /** Every adapter upsert, in order. */
  writes: Write[];
  /** Writes of the token models (AccessToken, ClientCredentials) only. */
  tokenWrites(): Write[];
  /** POSTs a token request with client_secret_post (or `none`, for a client without a secret). */
  token(body: Record<string, string | string[] | undefined>, headers?: Record<string, string>): Promise<Answer>;
  /** POSTs to another endpoint of the provider (`/backchannel`, say), authenticated the same way. */
  post(path: string, body: Record<string, string | string[] | undefined>, headers?: Record<string, string>): Promise<Answer>;
  close(): Promise<void>;
}

/** A confidential client that authenticates with client_secret_post (its secret: `<id>-secret`). */
export function confidentialClient(clientId: string, grantTypes: string[], metadata: Record<string, unknown> = {}): ClientMetadata {
  return {
    client_id: clientId, client_secret: `${clientId}-secret`, token_endpoint_auth_method: 'client_secret_post',
    grant_types: grantTypes, response_types: [], redirect_uris: [], ...metadata,
  };
}

/**
 * The clients with each agent's rules in their metadata, as the agent store hands an agent to oidc-provider
 * (adapters/client-adapter.ts): the grants read them from the client record, not from the registry.
 */
export function withAgentRecords(clients: ClientMetadata[], agents: Iterable<Agent>): ClientMetadata[] {
  const byId = new Map([...agents].map((agent) => [agent.id, agent]));
  return clients.map((client) => {
    const agent = byId.get(client.client_id);
    return agent ? { ...client, ...agentRecordMetadata(agent) } : client;
  });
}

/**
 * Organization lookups for a deployment with only the default organization: every principal and resource is in
 * it, so the isolation rules (issuance/token-organization.ts) let everything through and every token says `default`.
 */
export function singleOrganization() {
  return {
    agents: { get: async () => undefined },
    users: { findById: async () => undefined },
    resources: { get: async () => undefined },
    organizations: { allowsActor: async () => false },
  };
}

export const ISSUER = 'http://127.0.0.1';

export const OIDC_SCOPES = ['openid', 'offline_access', 'profile', 'email'];

/** A stand-in storage adapter: a Map per model, and a log of every write across models. */
function recordingAdapter(writes: Write[]) {
  const stores = new Map<string, Map<string, AdapterPayload>>();
  return class RecordingAdapter implements Adapter {
    readonly #model: string;
    readonly #items: Map<string, AdapterPayload>;

    constructor(model: string) {
      this.#model = model;
      this.#items = stores.get(model) ?? new Map();
      stores.set(model, this.#items);
    }

    async upsert(id: string, payload: AdapterPayload, expiresIn?: number) {
      writes.push({ model: this.#model, id, payload: structuredClone(payload), expiresIn });
      this.#items.set(id, payload);
    }

    async find(id: string) {
      return this.#items.get(id);
    }

    async findByUid(uid: string) {
      return [...this.#items.values()].find((item) => item.uid === uid);
    }

    async findByUserCode(userCode: string) {
      return [...this.#items.values()].find((item) => item.userCode === userCode);
    }

    async consume(id: string) {
      const item = this.#items.get(id);
      if (item) item.consumed = Math.floor(Date.now() / 1000);
    }

    async destroy(id: string) {
      this.#items.delete(id);
    }

    async revokeByGrantId(grantId: string) {
      for (const [id, item] of this.#items) if (item.grantId === grantId) this.#items.delete(id);
    }
  };
}

export async function tokenEndpoint(options: EndpointOptions): Promise<TokenEndpoint> {
  const writes: Write[] = [];
  const resources = options.resources ?? [];
  const provider = new Provider(ISSUER, {
    adapter: recordingAdapter(writes),
    clients: options.clients,
    clientAuthMethods: ['client_secret_post', 'none'],
    // The client record's members (policy/client-record.ts), as server/provider.ts declares them.
    extraClientMetadata: { properties: [...RECORD_MEMBERS, 'org_id'] },
    scopes: OIDC_SCOPES,
    jwks: { keys: [{ ...(await exportJWK((await generateKeyPair('RS256', { extractable: true })).privateKey)), kid: 'test-rs256', alg: 'RS256', use: 'sig' }] },
    // As server/provider.ts does: the claims our grants put on a token (`act`, `owner`, `may_act`…) are kept.
    extraTokenClaims: async (_ctx, token) => (token as { extra?: Record<string, unknown> }).extra,
    ...options.configuration,
    // As server/provider.ts: the resource's lifetime, else the grant's default (config/defaults.ts).
    ttl: {
      AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? lifetimes.accessToken,
      ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? lifetimes.clientCredentials,
      Grant: lifetimes.grant,
      IdToken: lifetimes.idToken,
      ...options.configuration?.ttl,
    },
    features: {
      devInteractions: { enabled: false },
      dPoP: { enabled: true },
      // The resource registry's rules as server/provider.ts applies them (policy/scope-resolution.ts).
      resourceIndicators: {
        enabled: true,
        useGrantedResource: () => true,
        async defaultResource(ctx) {
          const requested = apiScopes((ctx.oidc.params?.scope as string | undefined)?.split(' ') ?? [], OIDC_SCOPES);
          const decided = defaultResourceFor(requested, resources);
          if ('refusal' in decided) throw new errors.InvalidScope(decided.refusal.description, decided.refusal.scope as string);
          return decided.resource as string;
        },
        async getResourceServerInfo(_ctx, indicator) {
          const resource = resources.find((candidate) => candidate.identifier === indicator);
          if (!resource) throw new errors.InvalidTarget(`resource "${indicator}" is not registered at this authorization server`);
          return {
            scope: resource.scopes.join(' '),
            audience: resource.identifier,
            accessTokenTTL: resource.accessTokenTtl,
            accessTokenFormat: resource.tokenFormat ?? 'opaque',
            ...(resource.tokenFormat === 'jwt' ? { jwt: { sign: { alg: 'RS256' as const } } } : {}),
          };
        },
      },
      ...options.configuration?.features,
    },
  });
  provider.registerGrantType(options.grantType, options.handler(provider) as never, [...options.parameters], [...(options.allowedDuplicateParameters ?? [])]);

  const server: Server = createServer(provider.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const url = `${origin}/token`;

  const secrets = new Map(options.clients.map((client) => [client.client_id, client.client_secret]));
  async function post(path: string, body: Record<string, string | string[] | undefined>, headers: Record<string, string> = {}) {
    const form = new URLSearchParams();
    const secret = secrets.get(body.client_id as string);
    const params = path === '/token' ? { grant_type: options.grantType, ...body } : body;
    for (const [name, value] of Object.entries({ ...(secret ? { client_secret: secret } : {}), ...params })) {
      for (const one of [value ?? []].flat()) form.append(name, one);
    }
    const response = await fetch(`${origin}${path}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: form });
    return { status: response.status, body: await response.json() as Record<string, unknown> };
  }
  return {
    provider,
    url,
    writes,
    tokenWrites: () => writes.filter((write) => write.model === 'AccessToken' || write.model === 'ClientCredentials'),
    token: (body, headers) => post('/token', body, headers),
    post,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The stored payload of the one token a request wrote. */
export function onlyToken(endpoint: TokenEndpoint): Write['payload'] {
  const written = endpoint.tokenWrites();
  if (written.length !== 1) throw new Error(`expected one stored token, saw ${written.length}`);
  return written[0].payload;
}

export const claimsOf = (jwt: unknown) => decodeJwt(jwt as string);

/** A DPoP key (RFC 9449): its JWK thumbprint, and fresh proofs for a token request to `url`. */
export async function dpopKey(): Promise<{ thumbprint: string; proof(url: string): Promise<string> }> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwk = await exportJWK(publicKey);
  return {
    thumbprint: await calculateJwkThumbprint(jwk),
    proof: (url) => new SignJWT({ htm: 'POST', htu: url, jti: randomUUID() }).setIssuedAt().setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk }).sign(privateKey),
  };
}
