// Signs JWTs that are not oidc-provider tokens (transaction tokens) with our own active signing key, so anyone
// holding our published JWKS (`jwks_uri`) can verify them. The key is chosen the way oidc-provider chooses it:
// the first key of the algorithm in the list keys/signing-keys.ts loads, which puts active keys first.
import { importJWK, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { keyFitsAlg, type SigningAlg } from './signing-keys.ts';

export class NoSigningKeyError extends Error {
  readonly code = 'ERR_NO_SIGNING_KEY';

  constructor(alg: string) {
    super(`no signing key for ${alg} is loaded`);
    this.name = 'NoSigningKeyError';
  }
}

interface ImportedKey {
  key: CryptoKey;
  kid: string;
}

export class TokenSigner {
  readonly #privateJwks: JWK[];
  readonly #imported = new Map<SigningAlg, Promise<ImportedKey>>();

  /** `privateJwks`: our signing keys, active keys first (loadSigningKeys). */
  constructor(privateJwks: JWK[]) {
    this.#privateJwks = privateJwks;
  }

  /** A compact JWS of `payload`, signed with the active `alg` key; its `kid` and `typ` go in the header. */
  async sign(payload: JWTPayload, header: { alg: SigningAlg; typ: string }): Promise<string> {
    const { key, kid } = await this.#keyFor(header.alg);
    return new SignJWT(payload).setProtectedHeader({ alg: header.alg, typ: header.typ, kid }).sign(key);
  }

  #keyFor(alg: SigningAlg): Promise<ImportedKey> {
    let imported = this.#imported.get(alg);
    if (!imported) {
      imported = this.#import(alg);
      // A failed import is not cached: the next request tries again and reports the same error.
      imported.catch(() => this.#imported.delete(alg));
      this.#imported.set(alg, imported);
    }
    return imported;
  }

  async #import(alg: SigningAlg): Promise<ImportedKey> {
    const jwk = this.#privateJwks.find((candidate) => candidate.d !== undefined && typeof candidate.kid === 'string' && keyFitsAlg(candidate, alg));
    if (!jwk) throw new NoSigningKeyError(alg);
    return { key: (await importJWK(jwk, alg)) as CryptoKey, kid: jwk.kid! };
  }
}
