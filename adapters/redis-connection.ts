// The one place the server opens Redis: REDIS_URL's target (one server, a Redis Cluster, or a master found
// through Sentinel) becomes an ioredis client. Everything that talks to Redis takes a `RedisClient`, so the same
// adapter, change feed and scripts run on any of the three.
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { RedisTarget } from '../config/redis-url.ts';

/** An ioredis client of any topology. Commands that name keys are routed by ioredis to the node owning the slot. */
export type RedisClient = Redis | Cluster;

/**
 * How the connections behave (timeouts, retries, queueing); where they go and with which credentials is the
 * URL's business. `tls` refines TLS (a private CA, say) but only `rediss…` switches it on.
 */
export type RedisConnectionOptions = Omit<RedisOptions,
  'host' | 'port' | 'path' | 'db' | 'username' | 'password' | 'sentinels' | 'name' | 'role' | 'readOnly'
  | 'sentinelUsername' | 'sentinelPassword' | 'enableTLSForSentinelMode' | 'sentinelTLS' | 'Connector'>;

export function connectRedis(target: RedisTarget, options: RedisConnectionOptions = {}): RedisClient {
  const { tls: tlsOptions, ...behaviour } = options;
  const tls = target.tls ? { ...tlsOptions } : undefined;
  switch (target.topology) {
    case 'standalone':
      return new Redis({ ...behaviour, ...target.node, db: target.db, ...target.credentials, ...(tls ? { tls } : {}) });
    case 'sentinel':
      return new Redis({
        ...behaviour,
        sentinels: target.sentinels,
        name: target.masterName,
        db: target.db,
        ...target.credentials,
        sentinelUsername: target.sentinelCredentials.username,
        sentinelPassword: target.sentinelCredentials.password,
        // Follow +switch-master at once. Otherwise, after a failover that leaves the old master up (SENTINEL
        // FAILOVER, a healed partition), ioredis keeps writing to it until Sentinel demotes it seconds later,
        // and those writes (consumed codes, replay records) vanish when it resyncs as a replica.
        failoverDetector: true,
        ...(tls ? { tls, enableTLSForSentinelMode: true, sentinelTLS: tls } : {}),
      });
    case 'cluster':
      return new Cluster(target.nodes, clusterOptions(behaviour, target.credentials, tls));
  }
}

// A Cluster has options of its own (queueing, pipelining, reconnecting to the cluster as a whole) and passes
// the rest to the connection it opens to each node.
function clusterOptions(behaviour: Omit<RedisConnectionOptions, 'tls'>, credentials: RedisTarget['credentials'], tls: RedisOptions['tls']): ClusterOptions {
  const { enableOfflineQueue, enableAutoPipelining, autoPipeliningIgnoredCommands, enableReadyCheck, lazyConnect, scripts, retryStrategy, ...perNode } = behaviour;
  const clusterLevel: ClusterOptions = { enableOfflineQueue, enableAutoPipelining, autoPipeliningIgnoredCommands, enableReadyCheck, lazyConnect, scripts, clusterRetryStrategy: retryStrategy };
  return {
    // ioredis refreshes its map of slots on MOVED, or when a node connection closes while retries are left. A
    // master that dies sends no MOVED, and with maxRetriesPerRequest the commands fail before the connection
    // gives up, so after a failover its slots would stay mapped to the dead node for good. Asking every second
    // costs one CLUSTER SLOTS and bounds that to a second after the replica takes over.
    slotsRefreshInterval: 1000,
    ...Object.fromEntries(Object.entries(clusterLevel).filter(([, value]) => value !== undefined)),
    redisOptions: { ...perNode, ...credentials, ...(tls ? { tls } : {}) },
  };
}
