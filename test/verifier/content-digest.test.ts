// RFC 9530 digest values as the MCP DPoP profile's content_digest claim carries them.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { checkContentDigest } from '../../packages/verifier/src/content-digest.ts';
import { InvalidDpopProof } from '../../packages/verifier/src/errors.ts';

const body = new TextEncoder().encode('{"jsonrpc":"2.0","id":1,"method":"tools/list"}');
const sha = (name: 'sha256' | 'sha512', bytes: Uint8Array) => createHash(name).update(bytes).digest('base64');

describe('checkContentDigest', () => {
  it('accepts a matching sha-256 or sha-512 value, alone or in a dictionary with unknown algorithms', () => {
    checkContentDigest(`sha-256=:${sha('sha256', body)}:`, body);
    checkContentDigest(`sha-512=:${sha('sha512', body)}:`, body);
    checkContentDigest(`unixsum=:AAAA:, sha-256=:${sha('sha256', body)}:`, body);
  });

  it('matches the profile\'s example: an empty body hashes to 47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=', () => {
    checkContentDigest('sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:', new Uint8Array());
  });

  it.each([
    ['another body\'s digest', `sha-256=:${sha('sha256', new TextEncoder().encode('{}'))}:`, 'does not match the request body'],
    ['one of two digests wrong', `sha-256=:${sha('sha256', body)}:, sha-512=:${sha('sha512', new Uint8Array())}:`, 'does not match the request body'],
    ['base64url instead of base64', `sha-256=:${createHash('sha256').update(body).digest('base64url')}:`, 'not an RFC 9530 digest value'],
    ['no colons', `sha-256=${sha('sha256', body)}`, 'not an RFC 9530 digest value'],
    ['only unknown algorithms', 'md5=:AAAA:', 'uses no supported algorithm'],
    ['not a string', 42, 'is not a string'],
  ])('refuses %s', (_label, claim, message) => {
    expect(() => checkContentDigest(claim, body)).toThrow(InvalidDpopProof);
    expect(() => checkContentDigest(claim, body)).toThrow(message);
  });
});
