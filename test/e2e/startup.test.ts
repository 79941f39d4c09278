// `npm start` on a fresh clone with nothing configured, and production refusing unsafe defaults.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { logLines, runServerProcess, startServerProcess } from '../support/process.ts';

describe('start-up', () => {
  it('serves discovery within a few seconds on embedded storage with no configuration', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'agentauth-startup-'));
    const started = Date.now();
    const server = await startServerProcess({ PORT: '0', DATA_DIR: dataDir });
    try {
      const response = await fetch(new URL('/.well-known/openid-configuration', server.url));
      expect(response.status).toBe(200);
      expect(Date.now() - started).toBeLessThan(15_000);
      expect(server.output()).toMatch(/storage: sessions in process memory, records in embedded PGlite/);
      expect(server.output()).toMatch(/development admin token/);
      // Everything the server says is a JSON log line, and the slow steps of a first start are said before they run.
      const messages = logLines(server.output()).map((line) => String(line.msg));
      expect(messages.slice(0, 3)).toEqual([
        expect.stringMatching(/^opening the embedded database in .* \(a first start creates it/),
        expect.stringMatching(/^database ready after \d+ ms$/),
        'created signing keys for RS256, ES256, EdDSA',
      ]);
      expect(messages[3]).toMatch(/^agentauth listening on /);
    } finally {
      expect(await server.stop()).toBe(0);
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it.each([
    [{}, 'REDIS_URL'],
    [{ REDIS_URL: 'redis://127.0.0.1:6379' }, 'DATABASE_URL'],
    [{ REDIS_URL: 'redis://127.0.0.1:6379', DATABASE_URL: 'postgres://postgres@127.0.0.1/test' }, 'ADMIN_TOKEN'],
  ])('refuses NODE_ENV=production with %j, naming %s', async (env, variable) => {
    const { code, output } = await runServerProcess({ NODE_ENV: 'production', PORT: '0', ...env });
    expect(code).not.toBe(0);
    expect(logLines(output)).toEqual([expect.objectContaining({ level: 60, variable, msg: expect.stringMatching(new RegExp(`^Invalid configuration: ${variable}: `)) })]);
  });

  it('stops with one clear line on a bad value', async () => {
    const { code, output } = await runServerProcess({ PORT: 'not-a-port' });
    expect(code).toBe(1);
    expect(logLines(output)).toEqual([expect.objectContaining({ level: 60, msg: expect.stringMatching(/^Invalid configuration: PORT: /) })]);
  });
});
