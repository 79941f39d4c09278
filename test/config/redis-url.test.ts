import { describe, expect, it } from 'vitest';
import { parseRedisUrl, RedisUrlError } from '../../config/redis-url.ts';
import { ConfigurationError, loadSettings } from '../../config/settings.ts';

describe('parseRedisUrl', () => {
  it.each([
    ['redis://127.0.0.1', { topology: 'standalone', tls: false, credentials: {}, node: { host: '127.0.0.1', port: 6379 }, db: 0 }],
    ['redis://:s3cret@cache:6380/2', { topology: 'standalone', tls: false, credentials: { password: 's3cret' }, node: { host: 'cache', port: 6380 }, db: 2 }],
    ['rediss://app:p%40ss%2Fw@cache.example.com:6390', { topology: 'standalone', tls: true, credentials: { username: 'app', password: 'p@ss/w' }, node: { host: 'cache.example.com', port: 6390 }, db: 0 }],
    ['redis://[::1]:7000', { topology: 'standalone', node: { host: '::1', port: 7000 } }],
    ['redis+cluster://app:pw@10.0.0.1:7000,10.0.0.2:7001,node-3', {
      topology: 'cluster', tls: false, credentials: { username: 'app', password: 'pw' },
      nodes: [{ host: '10.0.0.1', port: 7000 }, { host: '10.0.0.2', port: 7001 }, { host: 'node-3', port: 6379 }],
    }],
    ['rediss+cluster://c1:7000/', { topology: 'cluster', tls: true, nodes: [{ host: 'c1', port: 7000 }] }],
    ['redis+sentinel://:data-pw@s1:26380,s2/mymaster/3?sentinel_password=sentinel-pw', {
      topology: 'sentinel', tls: false, credentials: { password: 'data-pw' }, sentinelCredentials: { password: 'sentinel-pw' },
      sentinels: [{ host: 's1', port: 26380 }, { host: 's2', port: 26379 }], masterName: 'mymaster', db: 3,
    }],
    ['rediss+sentinel://s1:26379/primary?sentinel_username=watch&sentinel_password=x', {
      topology: 'sentinel', tls: true, credentials: {}, sentinelCredentials: { username: 'watch', password: 'x' }, masterName: 'primary', db: 0,
    }],
  ])('reads %s', (url, expected) => {
    expect(parseRedisUrl(url)).toMatchObject(expected);
  });

  it.each([
    ['http://cache:6379', /must be redis:\/\//],
    ['redis://', /invalid host/],
    ['redis://cache:0', /port out of range/],
    ['redis://cache:99999', /port out of range/],
    ['redis://cache:port', /invalid host or port/],
    ['redis://cache/zero', /database number/],
    ['redis://a:1,b:2', /several hosts/],
    ['redis+cluster://a:1,b:2/1', /only database 0/],
    ['redis+sentinel://s1:26379', /master name/],
    ['redis+sentinel://s1:26379/mymaster/1/2', /longer than/],
    ['redis://cache?family=6', /query parameter/],
    ['redis+cluster://a:1?sentinel_password=x', /query parameter/],
    ['redis+mesh://a:1', /must be redis:\/\//],
  ])('refuses %s', (url, message) => {
    expect(() => parseRedisUrl(url)).toThrow(RedisUrlError);
    expect(() => parseRedisUrl(url)).toThrow(message);
  });
});

describe('REDIS_URL in the settings', () => {
  it('is parsed once into its target', () => {
    expect(loadSettings({ REDIS_URL: 'redis+cluster://127.0.0.1:7000,127.0.0.1:7001' }).redis).toMatchObject({ topology: 'cluster' });
    expect(loadSettings({}).redis).toBeUndefined();
  });

  it.each([
    'redis://user:hunter2-secret@cache:notaport',
    'redis://user:hunter2-secret/with-slash@cache:6379',
    'redis://user:hunter2-secret?x@cache:6379',
    'redis+sentinel://user:hunter2-secret@s1:26379',
    'redis+sentinel://s1:26379/m?sentinel_password=hunter2-secret&other=1',
    'redis://user:hunter2-secret#@cache',
  ])('names REDIS_URL but never repeats a password: %s', (url) => {
    const error = (() => { try { loadSettings({ REDIS_URL: url }); } catch (e) { return e; } })() as ConfigurationError;
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error.variable).toBe('REDIS_URL');
    expect(error.message).not.toContain('hunter2');
  });
});
