// REDIS_URL, parsed once into the Redis deployment it names: one server, a Redis Cluster, or a master found
// through Sentinel. ioredis takes a URL only for one server, so the Cluster and Sentinel forms (several hosts in
// one authority, a master name in the path) are read here. Errors never quote the URL: in a malformed one we
// cannot tell where the password ends, and errors go to logs.
//
//   redis[s]://[user:password@]host[:port][/db]
//   redis[s]+cluster://[user:password@]host:port[,host:port…]
//   redis[s]+sentinel://[user:password@]host:port[,host:port…]/master-name[/db][?sentinel_username=…&sentinel_password=…]
//
// In the Sentinel form the userinfo is the data password (of the master and its replicas); the sentinels' own
// password, when they have one, is the `sentinel_password` parameter. The two are often different, and ioredis
// never sends one for the other.

export interface RedisNode {
  host: string;
  port: number;
}

export interface RedisCredentials {
  username?: string;
  password?: string;
}

interface Common {
  /** `rediss…`: TLS to every node (and to the sentinels). */
  tls: boolean;
  credentials: RedisCredentials;
}

export type RedisTarget =
  | (Common & { topology: 'standalone'; node: RedisNode; db: number })
  | (Common & { topology: 'cluster'; nodes: RedisNode[] })
  | (Common & { topology: 'sentinel'; sentinels: RedisNode[]; masterName: string; db: number; sentinelCredentials: RedisCredentials });

/** What is wrong with a REDIS_URL, in words of our own (never a piece of the URL). */
export class RedisUrlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RedisUrlError';
  }
}

const DATA_PORT = 6379;
const SENTINEL_PORT = 26379;
const FORM = /^(rediss?)(?:\+(cluster|sentinel))?:\/\/([^/?#]*)([^?#]*)(?:\?([^#]*))?$/;
const HOST = /^(?:\[[0-9a-f:.]+\]|[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?)$/i;
const SENTINEL_PARAMETERS = new Set(['sentinel_username', 'sentinel_password']);

export function parseRedisUrl(value: string): RedisTarget {
  const form = FORM.exec(value);
  if (!form) throw new RedisUrlError('must be redis://, rediss://, redis+cluster:// or redis+sentinel:// followed by hosts');
  const [, scheme, topology = 'standalone', authority, path, query] = form;
  const tls = scheme === 'rediss';
  const at = authority.lastIndexOf('@');
  const credentials = parseUserinfo(at === -1 ? '' : authority.slice(0, at));
  const hosts = (at === -1 ? authority : authority.slice(at + 1)).split(',');
  const parameters = new URLSearchParams(query ?? '');
  for (const name of parameters.keys()) {
    if (topology !== 'sentinel' || !SENTINEL_PARAMETERS.has(name)) {
      throw new RedisUrlError('has a query parameter other than sentinel_username and sentinel_password (redis+sentinel:// only)');
    }
  }

  if (topology === 'standalone') {
    if (hosts.length !== 1) throw new RedisUrlError('names several hosts: use redis+cluster:// or redis+sentinel:// for those');
    return { topology, tls, credentials, node: parseNode(hosts[0], DATA_PORT, 0), db: parseDb(path.slice(1)) };
  }
  if (topology === 'cluster') {
    if (path !== '' && path !== '/') throw new RedisUrlError('has a path, but a Redis Cluster has only database 0');
    return { topology, tls, credentials, nodes: hosts.map((host, i) => parseNode(host, DATA_PORT, i)) };
  }
  const [masterName = '', db = '', ...rest] = path.slice(1).split('/');
  if (!/^[\w.-]+$/.test(masterName)) throw new RedisUrlError('needs the master name as its path (redis+sentinel://host:port/mymaster)');
  if (rest.length) throw new RedisUrlError('has a path longer than /master-name/db');
  return {
    topology: 'sentinel',
    tls,
    credentials,
    sentinels: hosts.map((host, i) => parseNode(host, SENTINEL_PORT, i)),
    masterName,
    db: parseDb(db),
    sentinelCredentials: definedOnly({ username: parameters.get('sentinel_username') ?? undefined, password: parameters.get('sentinel_password') ?? undefined }),
  };
}

function parseUserinfo(userinfo: string): RedisCredentials {
  if (!userinfo) return {};
  const colon = userinfo.indexOf(':');
  const decode = (part: string, what: string) => {
    try {
      return decodeURIComponent(part);
    } catch {
      throw new RedisUrlError(`has a ${what} that is not valid percent-encoding`);
    }
  };
  const username = decode(colon === -1 ? userinfo : userinfo.slice(0, colon), 'user name');
  const password = colon === -1 ? undefined : decode(userinfo.slice(colon + 1), 'password');
  // `redis://:password@host` is the classic form for a server with only `requirepass`.
  return definedOnly({ username: username || undefined, password: password || undefined });
}

function parseNode(text: string, defaultPort: number, index: number): RedisNode {
  const match = /^(\[[^\]]*\]|[^:]*)(?::(\d{1,5}))?$/.exec(text);
  const host = match?.[1] ?? '';
  if (!match || !HOST.test(host)) throw new RedisUrlError(`has an invalid host or port (host ${index + 1}; a password with "/", "?", "#", "@" or "," must be percent-encoded)`);
  const port = match[2] === undefined ? defaultPort : Number(match[2]);
  if (port < 1 || port > 65535) throw new RedisUrlError(`has a port out of range (host ${index + 1})`);
  return { host: host.startsWith('[') ? host.slice(1, -1) : host, port };
}

function parseDb(text: string): number {
  if (text === '') return 0;
  if (!/^\d{1,5}$/.test(text)) throw new RedisUrlError('has a database number that is not a number');
  return Number(text);
}

function definedOnly(credentials: RedisCredentials): RedisCredentials {
  return Object.fromEntries(Object.entries(credentials).filter(([, v]) => v !== undefined));
}
