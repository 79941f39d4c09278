// The baseline: oidc-provider as its documentation configures it for the same grants, with no code of ours
// on the request path except the storage adapter, which is the one ours uses in that mode (same storage, same
// cost). oidc-provider's own in-memory adapter is no baseline: it keeps the last 1,000 records only, so under
// benchmark load the token being introspected is long evicted and the "same" request does less work.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import Provider from 'oidc-provider';
import { clockTolerance } from '../config/defaults.ts';
import { generateSigningKey } from '../keys/signing-keys.ts';
import { memoryAdapterFactory } from '../adapters/memory-adapter.ts';
import { redisAdapterFactory } from '../adapters/redis-adapter.ts';

const storage = process.env.BENCH_STORAGE ?? 'memory';
const resource = process.env.BENCH_RESOURCE!;

const server = createServer();
server.listen(0, '127.0.0.1', async () => {
  const { port } = server.address() as AddressInfo;
  const issuer = `http://localhost:${port}`;
  const redis = storage === 'redis' ? new Redis(process.env.REDIS_URL!, { enableAutoPipelining: true }) : undefined;
  const { privateJwk } = await generateSigningKey('RS256');
  const provider = new Provider(issuer, {
    adapter: (redis
      ? redisAdapterFactory(redis, { prefix: process.env.REDIS_KEY_PREFIX!, clockTolerance })
      : memoryAdapterFactory({ clockTolerance })) as never,
    jwks: { keys: [privateJwk as never] },
    ttl: { ClientCredentials: 600 },
    features: {
      devInteractions: { enabled: false },
      // The benchmark client registers here as it does at ours (RFC 7591 with an initial access token), so both
      // servers load the same client metadata on every request.
      registration: { enabled: true, initialAccessToken: process.env.BENCH_ADMIN_TOKEN! },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      resourceIndicators: {
        enabled: true,
        getResourceServerInfo: async () => ({ scope: 'read write', audience: resource, accessTokenFormat: 'jwt', accessTokenTTL: 600, jwt: { sign: { alg: 'RS256' } } }),
      },
    },
  });
  server.on('request', provider.callback());
  console.log(`listening on http://127.0.0.1:${port}`);
});

// Exit normally on a signal so `node --cpu-prof` can write its profile when comparing hot paths.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(0));
