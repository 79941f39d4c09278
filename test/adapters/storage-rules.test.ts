import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { hashId } from '../../adapters/storage-rules.ts';

// Storage keys outlive a deployment (tokens live in Redis across an upgrade), so their derivation is pinned.
describe('hashId', () => {
  it('is SHA-256 of the UTF-8 id in base64url', () => {
    for (const id of ['abc', 'token-with-é-and-😀', '']) {
      expect(hashId(id)).toBe(createHash('sha256').update(id, 'utf8').digest('base64url'));
    }
  });
});
