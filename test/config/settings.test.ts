import { describe, expect, it } from 'vitest';
import { ConfigurationError, loadSettings } from '../../config/settings.ts';

describe('loadSettings', () => {
  it('defaults to development on embedded storage with a generated admin token', () => {
    const settings = loadSettings({});
    expect(settings).toMatchObject({ nodeEnv: 'development', port: 3000, issuer: undefined, redis: undefined, databaseUrl: undefined, adminTokenGenerated: true });
    expect(settings.adminToken.length).toBeGreaterThanOrEqual(32);
  });

  it('reads every documented variable', () => {
    const settings = loadSettings({
      PORT: '8080', ISSUER: 'https://auth.example.com', TRUST_DOMAIN: 'example.com', REDIS_URL: 'redis://10.0.0.1:6379',
      DATABASE_URL: 'postgres://u@db/agentauth', ADMIN_TOKEN: 'a'.repeat(32), NODE_ENV: 'production', TRUST_PROXY: 'true', DPOP_REQUIRE_NONCE: '1',
    });
    expect(settings).toMatchObject({
      port: 8080, issuer: 'https://auth.example.com', trustDomain: 'example.com', nodeEnv: 'production', trustProxy: true, dpopRequireNonce: true, adminTokenGenerated: false,
    });
  });

  it('transaction tokens: five minutes and 4 KiB of context unless configured', () => {
    expect(loadSettings({}).transactionTokens).toEqual({ lifetime: 300, maxContextBytes: 4096 });
    expect(loadSettings({ TXN_TOKEN_LIFETIME: '60', TXN_TOKEN_MAX_CONTEXT_BYTES: '8192' }).transactionTokens).toEqual({ lifetime: 60, maxContextBytes: 8192 });
  });

  it('observability: info logs, open /metrics and no tracing unless configured; the metrics token is never quoted', () => {
    expect(loadSettings({})).toMatchObject({ logLevel: 'info', metricsToken: undefined, tracing: 'off' });
    expect(loadSettings({ LOG_LEVEL: 'debug', METRICS_TOKEN: 'm'.repeat(16), TRACING: 'otlp' })).toMatchObject({ logLevel: 'debug', metricsToken: 'm'.repeat(16), tracing: 'otlp' });
    expect(() => loadSettings({ METRICS_TOKEN: 'short-secret' })).toThrow(/^METRICS_TOKEN: must be at least 16 characters$/);
  });

  it.each([
    [{ LOG_LEVEL: 'verbose' }, 'LOG_LEVEL'],
    [{ TRACING: 'jaeger' }, 'TRACING'],
    [{ PORT: 'eighty' }, 'PORT'],
    [{ PORT: '70000' }, 'PORT'],
    [{ ISSUER: 'https://auth.example.com/' }, 'ISSUER'],
    [{ ISSUER: 'https://auth.example.com?x=1' }, 'ISSUER'],
    [{ ISSUER: 'not a url' }, 'ISSUER'],
    [{ REDIS_URL: 'http://localhost:6379' }, 'REDIS_URL'],
    [{ DATABASE_URL: 'mysql://localhost/db' }, 'DATABASE_URL'],
    [{ ADMIN_TOKEN: 'short' }, 'ADMIN_TOKEN'],
    [{ NODE_ENV: 'staging' }, 'NODE_ENV'],
    [{ TRUST_PROXY: 'yes' }, 'TRUST_PROXY'],
    [{ TXN_TOKEN_LIFETIME: '0' }, 'TXN_TOKEN_LIFETIME'],
    [{ TXN_TOKEN_LIFETIME: '7200' }, 'TXN_TOKEN_LIFETIME'],
    [{ TXN_TOKEN_MAX_CONTEXT_BYTES: 'lots' }, 'TXN_TOKEN_MAX_CONTEXT_BYTES'],
  ])('names the bad variable in %j', (env, variable) => {
    const error = (() => { try { loadSettings(env); } catch (e) { return e; } })() as ConfigurationError;
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error.variable).toBe(variable);
    expect(error.message.startsWith(`${variable}: `)).toBe(true);
  });

  it.each(['REDIS_URL', 'DATABASE_URL', 'ADMIN_TOKEN'])('refuses production without %s', (missing) => {
    const env: Record<string, string> = { NODE_ENV: 'production', REDIS_URL: 'redis://r:6379', DATABASE_URL: 'postgres://p/db', ADMIN_TOKEN: 'a'.repeat(40) };
    delete env[missing];
    expect(() => loadSettings(env)).toThrow(new RegExp(`^${missing}: `));
  });
});

describe('configuration errors never repeat a secret', () => {
  it.each([
    [{ ADMIN_TOKEN: 'short' }, 'ADMIN_TOKEN', 'short'],
    [{ DATABASE_URL: 'mysql://u:hunter2@db.example/agentauth' }, 'DATABASE_URL', 'hunter2'],
    [{ REDIS_URL: 'redis://u:hunter2@cache.example:99999' }, 'REDIS_URL', 'hunter2'],
    [{ REDIS_URL: 'http://u:hunter2@cache.example' }, 'REDIS_URL', 'hunter2'],
    [{ ISSUER: 'ftp://u:hunter2@auth.example' }, 'ISSUER', 'hunter2'],
    [{ TRUSTED_ISSUERS: '[{"issuer":"https://u:hunter2@idp.example"}]' }, 'TRUSTED_ISSUERS', 'hunter2'],
  ])('%j names %s and never shows %s', (env, variable, secret) => {
    const error = (() => {
      try {
        loadSettings(env);
      } catch (caught) {
        return caught as ConfigurationError;
      }
      throw new Error('expected a configuration error');
    })();
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error.variable).toBe(variable);
    expect(error.message.startsWith(`${variable}: `)).toBe(true);
    expect(error.message).not.toContain(secret);
  });

  it('still quotes a harmless value, so the operator sees what was read', () => {
    expect(() => loadSettings({ PORT: 'eighty' })).toThrow('(got "eighty")');
  });
});

describe('SESSION_TTL', () => {
  it('is eight hours unless configured, and bounded', () => {
    expect(loadSettings({}).sessionTtl).toBe(8 * 3600);
    expect(loadSettings({ SESSION_TTL: '900' }).sessionTtl).toBe(900);
    expect(() => loadSettings({ SESSION_TTL: '10' })).toThrow(/^SESSION_TTL: /);
    expect(() => loadSettings({ SESSION_TTL: String(31 * 24 * 3600) })).toThrow(/^SESSION_TTL: /);
  });
});
