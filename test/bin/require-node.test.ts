// The Node version check every entry point runs first (bin/require-node.mjs), in plain JavaScript so that it can
// speak on a Node too old for our TypeScript.
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs module without type declarations, on purpose (see its header).
import { nodeVersionProblem } from '../../bin/require-node.mjs';

const ENTRY_POINTS = ['start.mjs', 'agentauth.mjs', 'keys.mjs', 'require-node.mjs'].map((name) => fileURLToPath(new URL(`../../bin/${name}`, import.meta.url)));

describe('the Node version check', () => {
  it('accepts the engines minimum and newer, and names the minimum otherwise', () => {
    for (const version of ['22.18.0', '22.20.1', '23.0.0', '24.21.0', '25.1.0']) expect(nodeVersionProblem(version)).toBeUndefined();
    for (const version of ['22.17.1', '22.12.0', '20.20.2', '18.19.0']) {
      expect(nodeVersionProblem(version)).toBe(`agentauth needs Node.js 22.18.0 or newer (24 LTS recommended) and this is ${version}: install it from https://nodejs.org or with your version manager (\`nvm install\` reads .nvmrc)`);
    }
  });

  it('makes every entry point (and npm test, through require-node.mjs) refuse an older Node with that one line, before loading any TypeScript', () => {
    // The machine's other Node binaries (the system one is older here); the one running this test is new enough.
    const found = spawnSync('sh', ['-c', 'which -a node'], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
    const older = [...new Set(found)].filter((binary) => nodeVersionProblem(execFileSync(binary, ['-p', 'process.versions.node'], { encoding: 'utf8' }).trim()));
    for (const binary of older) {
      for (const entry of ENTRY_POINTS) {
        const run = spawnSync(binary, [entry, '--help'], { encoding: 'utf8', timeout: 10_000 });
        expect(run.status).toBe(1);
        expect(run.stdout).toBe('');
        expect(run.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^agentauth needs Node\.js 22\.18\.0 or newer .* and this is \d+\.\d+\.\d+: /)]);
      }
    }
    // And the running Node gets past the check: the CLI answers its help.
    const current = spawnSync(process.execPath, [ENTRY_POINTS[1], '--help'], { encoding: 'utf8', timeout: 20_000 });
    expect(spawnSync(process.execPath, [ENTRY_POINTS[3]], { encoding: 'utf8' })).toMatchObject({ status: 0, stdout: '', stderr: '' });
    expect(current.status).toBe(0);
    expect(current.stdout).toMatch(/agentauth/);
  });
});
