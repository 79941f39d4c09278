import { describe, expect, it } from 'vitest';
import { parseRateLimit } from '../../config/rate-limits.ts';
import { ConfigurationError, loadSettings } from '../../config/settings.ts';
import { rateLimitDefaults } from '../../config/defaults.ts';

describe('RATE_LIMIT_* values', () => {
  const fallback = { points: 1, window: 1, block: 42 };
  it('reads points/window[/block], keeping the default block when none is given, and off', () => {
    expect(parseRateLimit('5/900/60', fallback)).toEqual({ points: 5, window: 900, block: 60 });
    expect(parseRateLimit('5/900', fallback)).toEqual({ points: 5, window: 900, block: 42 });
    expect(parseRateLimit('off', fallback)).toBeUndefined();
  });
  it.each(['', '5', '5/', '0/60', '5/0', '-1/60', '5/60/x', '5 / 60', '1/99999999', 'OFF'])('refuses %j', (value) => {
    expect(() => parseRateLimit(value, fallback)).toThrow();
  });
  it('are read by the settings, defaults where unset, and a bad one names its variable', () => {
    const settings = loadSettings({ NODE_ENV: 'test', RATE_LIMIT_LOGIN_ADDRESS: '7/60', RATE_LIMIT_REGISTRATION: 'off' });
    expect(settings.rateLimits.loginAddress).toEqual({ points: 7, window: 60, block: rateLimitDefaults.loginAddress.block });
    expect(settings.rateLimits.registration).toBeUndefined();
    expect(settings.rateLimits.clientAuth).toEqual(rateLimitDefaults.clientAuth);
    expect(() => loadSettings({ NODE_ENV: 'test', RATE_LIMIT_CLIENT_AUTH: 'lots' })).toThrow(ConfigurationError);
    expect(() => loadSettings({ NODE_ENV: 'test', RATE_LIMIT_CLIENT_AUTH: 'lots' })).toThrow(/^RATE_LIMIT_CLIENT_AUTH: must be <points>\/<window seconds>\[\/<block seconds>\] or off \(got "lots"\)$/);
  });
  it('SCRYPT_CONCURRENCY and SCRYPT_QUEUE are settings too', () => {
    expect(loadSettings({ NODE_ENV: 'test' }).scrypt).toEqual({ concurrency: 1, queue: 64 });
    expect(loadSettings({ NODE_ENV: 'test', SCRYPT_CONCURRENCY: '2', SCRYPT_QUEUE: '0' }).scrypt).toEqual({ concurrency: 2, queue: 0 });
    expect(() => loadSettings({ NODE_ENV: 'test', SCRYPT_CONCURRENCY: '0' })).toThrow(/^SCRYPT_CONCURRENCY:/);
  });
});
