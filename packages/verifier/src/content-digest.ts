// The MCP DPoP profile's `content_digest` claim (modelcontextprotocol/ext-auth, dpop-extension): an RFC 9530
// Content-Digest value over the raw request body, e.g. `sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:`.
// MCP sends every JSON-RPC call as a POST to one URL, so `htm`/`htu` cannot tell two calls apart; the digest binds
// the proof to this body, so a captured proof cannot carry another call.
import { createHash, timingSafeEqual } from 'node:crypto';
import { InvalidDpopProof } from './errors.ts';

// RFC 9530 §5 algorithms with standing "Active"; insecure ones (md5, sha, crc32c...) are ignored like unknown ones.
const HASHES: Record<string, string> = { 'sha-256': 'sha256', 'sha-512': 'sha512' };

// RFC 8941 dictionary member whose value is a byte sequence: key=:base64:
const MEMBER = /^([a-z*][a-z0-9_\-.*]*)=:([A-Za-z0-9+/]*={0,2}):$/;

/** Throws unless every digest we know in `claim` matches `body`, and there is at least one. */
export function checkContentDigest(claim: unknown, body: Uint8Array): void {
  if (typeof claim !== 'string') throw new InvalidDpopProof('DPoP proof content_digest is not a string');
  let known = 0;
  for (const member of claim.split(',')) {
    const match = MEMBER.exec(member.trim());
    if (!match) throw new InvalidDpopProof('DPoP proof content_digest is not an RFC 9530 digest value');
    const hash = HASHES[match[1]];
    if (!hash) continue;
    known += 1;
    const expected = Buffer.from(match[2], 'base64');
    const actual = createHash(hash).update(body).digest();
    if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) {
      throw new InvalidDpopProof('DPoP proof content_digest does not match the request body');
    }
  }
  if (known === 0) throw new InvalidDpopProof('DPoP proof content_digest uses no supported algorithm (sha-256, sha-512)');
}
