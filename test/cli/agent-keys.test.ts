import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { calculateJwkThumbprint, compactVerify, CompactSign, importJWK } from 'jose';
import {
  ensureKeyFileWritable, generateAgentKeyPair, InvalidKeyFileError, KeyFileExistsError, readKeyFile, writeKeyFile,
  type AgentKeyFile,
} from '../../cli/agent-keys.ts';
import { CliError } from '../../cli/cli-error.ts';

let dir: string;
beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'agentauth-keys-')); });
afterEach(() => rm(dir, { recursive: true, force: true }));

async function keyFile(agentId = 'agent_1'): Promise<AgentKeyFile> {
  const { privateJwk } = await generateAgentKeyPair();
  return { agent_id: agentId, server: 'http://localhost:3000', private_jwk: privateJwk };
}

const mode = async (path: string) => (await stat(path)).mode & 0o777;

describe('generateAgentKeyPair', () => {
  it('makes an Ed25519 pair whose kid is the RFC 7638 thumbprint, the private part only in privateJwk', async () => {
    const { publicJwk, privateJwk } = await generateAgentKeyPair();
    expect(publicJwk).toEqual({ kty: 'OKP', crv: 'Ed25519', x: expect.any(String), kid: expect.any(String), alg: 'EdDSA', use: 'sig' });
    expect(publicJwk.kid).toBe(await calculateJwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x: publicJwk.x }));
    expect(privateJwk).toEqual({ kty: 'OKP', crv: 'Ed25519', x: publicJwk.x, d: expect.any(String), kid: publicJwk.kid, alg: 'EdDSA' });
  });
});

describe('key files', () => {
  it('are created 0600 whatever the umask, and read back to a key that signs for the public key', async () => {
    const path = join(dir, 'agent.key.json');
    const { publicJwk, privateJwk } = await generateAgentKeyPair();
    const previous = process.umask(0); // the mode must come from creation itself, not from a friendly umask
    try {
      await writeKeyFile(path, { agent_id: 'agent_1', server: 'http://localhost:3000', private_jwk: privateJwk });
    } finally {
      process.umask(previous);
    }
    expect(await mode(path)).toBe(0o600);

    const read = await readKeyFile(path);
    expect(read).toEqual({ agent_id: 'agent_1', server: 'http://localhost:3000', private_jwk: privateJwk });
    const signed = await new CompactSign(new TextEncoder().encode('hello'))
      .setProtectedHeader({ alg: 'EdDSA' })
      .sign(await importJWK(read.private_jwk, 'EdDSA'));
    await expect(compactVerify(signed, await importJWK(publicJwk, 'EdDSA'))).resolves.toBeTruthy();
  });

  it('refuse to overwrite an existing file, leaving it as it was and no temporary file behind', async () => {
    const path = join(dir, 'agent.key.json');
    await writeKeyFile(path, await keyFile('agent_1'));
    const before = await readFile(path, 'utf8');
    await expect(writeKeyFile(path, await keyFile('agent_2'))).rejects.toBeInstanceOf(KeyFileExistsError);
    expect(await readFile(path, 'utf8')).toBe(before);
    expect(await readdir(dir)).toEqual(['agent.key.json']);
  });

  it('replace an existing file with force, and the replacement is 0600 even if the old file was not', async () => {
    const path = join(dir, 'agent.key.json');
    await writeFile(path, 'old', { mode: 0o644 });
    await writeKeyFile(path, await keyFile('agent_2'), { force: true });
    expect((await readKeyFile(path)).agent_id).toBe('agent_2');
    expect(await mode(path)).toBe(0o600);
    expect(await readdir(dir)).toEqual(['agent.key.json']);
  });

  it('are checked for writability before anything is registered', async () => {
    const path = join(dir, 'agent.key.json');
    await expect(ensureKeyFileWritable(path)).resolves.toBeUndefined();
    await writeFile(path, 'x');
    await expect(ensureKeyFileWritable(path)).rejects.toBeInstanceOf(KeyFileExistsError);
    await expect(ensureKeyFileWritable(path, { force: true })).resolves.toBeUndefined();
    await expect(ensureKeyFileWritable(join(dir, 'missing', 'agent.key.json'))).rejects.toBeInstanceOf(CliError);
  });

  it('that are missing, not JSON or hold no private key are refused with a one-line error', async () => {
    await expect(readKeyFile(join(dir, 'missing.json'))).rejects.toThrow(/cannot read key file .*missing\.json/);
    await writeFile(join(dir, 'garbage.json'), 'not json');
    await expect(readKeyFile(join(dir, 'garbage.json'))).rejects.toThrow(InvalidKeyFileError);
    const { publicJwk } = await generateAgentKeyPair();
    await writeFile(join(dir, 'public.json'), JSON.stringify({ agent_id: 'a', server: 'http://s', private_jwk: publicJwk }));
    await expect(readKeyFile(join(dir, 'public.json'))).rejects.toThrow(/private_jwk is not an Ed25519 private JWK/);
    await writeFile(join(dir, 'no-agent.json'), JSON.stringify({ server: 'http://s', private_jwk: (await keyFile()).private_jwk }));
    await expect(readKeyFile(join(dir, 'no-agent.json'))).rejects.toThrow(/agent_id is missing/);
  });
});
