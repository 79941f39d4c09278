// An agent's Ed25519 key pair: generated here so the private half never leaves the operator's machine, its public
// half registered with the server, and the private half kept in a key file only its owner can read.
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, link, lstat, open, readFile, rename, rm, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import { CliError } from './cli-error.ts';

export interface AgentKeyPair {
  /** kty, crv, x, kid, alg, use: what the server may see. */
  publicJwk: JWK;
  /** The public members plus `d`, with kid and alg so the key file alone is enough to sign. */
  privateJwk: JWK;
}

/** What `agentauth token` needs to act as the agent, and nothing else. */
export interface AgentKeyFile {
  agent_id: string;
  server: string;
  private_jwk: JWK;
}

export class KeyFileExistsError extends CliError {
  constructor(path: string) {
    super(`${path} already exists; pass --force to replace it or --key-file to write elsewhere`);
    this.name = 'KeyFileExistsError';
  }
}

export class InvalidKeyFileError extends CliError {
  constructor(path: string, problem: string) {
    super(`key file ${path}: ${problem}`);
    this.name = 'InvalidKeyFileError';
  }
}

export async function generateAgentKeyPair(): Promise<AgentKeyPair> {
  const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const { kty, crv, x } = await exportJWK(publicKey);
  // RFC 7638 thumbprint: a kid the server and this file agree on without either choosing it.
  const kid = await calculateJwkThumbprint({ kty, crv, x });
  const { d } = await exportJWK(privateKey);
  return {
    publicJwk: { kty, crv, x, kid, alg: 'EdDSA', use: 'sig' },
    privateJwk: { kty, crv, x, d, kid, alg: 'EdDSA' },
  };
}

/**
 * Writes the key file with mode 0600. The content goes to a fresh temporary file in the same directory first (created
 * exclusively with 0600, so no other user can read it at any moment and no pre-planted file or symlink is reused),
 * then appears under its name in one step: link() fails if the name is taken, rename() replaces it with --force.
 */
export async function writeKeyFile(path: string, contents: AgentKeyFile, options: { force?: boolean } = {}): Promise<void> {
  const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  let handle: FileHandle | undefined;
  try {
    handle = await open(temporary, 'wx', 0o600);
    await handle.writeFile(`${JSON.stringify(contents, null, 2)}\n`);
    await handle.close();
    if (options.force) await rename(temporary, path);
    else await link(temporary, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST' && handle) throw new KeyFileExistsError(path);
    throw new CliError(`cannot write key file ${path}: ${(error as Error).message}`);
  } finally {
    if (handle) {
      await handle.close().catch(() => {});
      await rm(temporary, { force: true });
    }
  }
}

/**
 * Checked before the server is changed, so the usual reasons a key file cannot be written (name taken, directory
 * missing or read-only) stop the command before a key nobody holds is registered. writeKeyFile still decides.
 */
export async function ensureKeyFileWritable(path: string, options: { force?: boolean } = {}): Promise<void> {
  if (!options.force) {
    const existing = await lstat(path).catch(() => undefined);
    if (existing) throw new KeyFileExistsError(path);
  }
  try {
    await access(dirname(path), constants.W_OK);
  } catch (error) {
    throw new CliError(`cannot write key file ${path}: ${(error as Error).message}`);
  }
}

export async function readKeyFile(path: string): Promise<AgentKeyFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new CliError(`cannot read key file ${path}: ${(error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new InvalidKeyFileError(path, 'is not JSON');
  }
  const file = parsed as Partial<AgentKeyFile> | null;
  if (typeof file?.agent_id !== 'string' || !file.agent_id) throw new InvalidKeyFileError(path, 'agent_id is missing');
  if (typeof file.server !== 'string' || !file.server) throw new InvalidKeyFileError(path, 'server is missing');
  const jwk = file.private_jwk;
  if (typeof jwk !== 'object' || jwk === null || jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519'
    || typeof jwk.x !== 'string' || typeof jwk.d !== 'string' || typeof jwk.kid !== 'string') {
    throw new InvalidKeyFileError(path, 'private_jwk is not an Ed25519 private JWK with a kid');
  }
  return { agent_id: file.agent_id, server: file.server, private_jwk: jwk };
}

/** Where a key file goes when the operator does not say: the current directory, named after the agent. */
export function defaultKeyFilePath(agentId: string): string {
  return `${agentId.replace(/[^\w.-]/g, '_')}.key.json`;
}
