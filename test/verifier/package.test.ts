// @agentauth/verifier as others get it: packed by npm, installed from the tarball into a package of its own, imported
// by plain Node (no type stripping) and type-checked by tsc in a consumer. It must bring jose and nothing else.
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PACKAGE = join(ROOT, 'packages/verifier');
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');

describe('the @agentauth/verifier package', () => {
  let scratch: string;
  let packed: { filename: string; files: { path: string }[] };

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'agentauth-verifier-consumer-'));
    await run(process.execPath, [TSC, '-p', join(PACKAGE, 'tsconfig.build.json')]);
    // Built just above, so npm's prepack (the same build) is not needed here.
    const { stdout } = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', scratch], { cwd: PACKAGE });
    [packed] = JSON.parse(stdout);
    await writeFile(join(scratch, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', join(scratch, packed.filename)], { cwd: scratch });
  }, 120_000);
  afterAll(async () => {
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it('ships the built JavaScript, its declarations and its README, nothing else', () => {
    const paths = packed.files.map((file) => file.path);
    expect(paths.filter((path) => !path.startsWith('dist/')).sort()).toEqual(['README.md', 'package.json']);
    expect(paths).toEqual(expect.arrayContaining(['dist/index.js', 'dist/index.d.ts', 'dist/mcp-sdk.js', 'dist/mcp-sdk.d.ts']));
    expect(paths.some((path) => path.endsWith('.ts') && !path.endsWith('.d.ts'))).toBe(false);
  });

  it('installs with jose as its only dependency', async () => {
    const installed = (await readdir(join(scratch, 'node_modules'))).filter((name) => !name.startsWith('.'));
    expect(installed.sort()).toEqual(['@agentauth', 'jose']);
  });

  it('is imported by plain Node, without type stripping', async () => {
    const script = "const v = await import('@agentauth/verifier'); console.log(JSON.stringify([typeof v.createVerifier, typeof v.verifyTransactionToken, typeof v.InvalidToken]));";
    const { stdout } = await run(process.execPath, ['--no-experimental-strip-types', '--input-type=module', '-e', script], { cwd: scratch });
    expect(JSON.parse(stdout)).toEqual(['function', 'function', 'function']);
  });

  it('type-checks a consumer under tsc', async () => {
    await writeFile(join(scratch, 'consumer.ts'), [
      "import { createVerifier, InsufficientScope, type VerifiedAccess, type Verifier } from '@agentauth/verifier';",
      "const verifier: Verifier = createVerifier({ issuer: 'https://as.example.com', resource: 'https://mcp.example.com/mcp', resourceMetadataUrl: 'https://mcp.example.com/.well-known/oauth-protected-resource/mcp' });",
      "export async function check(token: string): Promise<string> {",
      "  const access: VerifiedAccess = await verifier.verifyToken(token);",
      "  return access instanceof InsufficientScope ? 'never' : access.claims.sub;",
      '}',
    ].join('\n'));
    await writeFile(join(scratch, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', strict: true, noEmit: true, types: ['node'], typeRoots: [join(ROOT, 'node_modules/@types')] },
      files: ['consumer.ts'],
    }));
    const checked = await run(process.execPath, [TSC, '-p', scratch]).then(() => 'ok', (error: { stdout: string }) => error.stdout);
    expect(checked).toBe('ok');
  });
});
