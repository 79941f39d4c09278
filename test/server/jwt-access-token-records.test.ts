import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { JwtRecordIds } from '../../server/jwt-access-token-records.ts';

// Records written by an earlier release (or another instance) must still be found: the id derivation is pinned.
describe('JwtRecordIds', () => {
  it('names a record by HMAC-SHA-256 of the jti under the shared key, never the jti itself', () => {
    const key = randomBytes(32);
    const ids = new JwtRecordIds(key);
    for (const jti of ['a-jti', 'jti-é']) {
      expect(ids.of(jti)).toBe(`jwt.${createHmac('sha256', key).update(jti).digest('base64url')}`);
      expect(ids.of(jti)).not.toContain(jti);
    }
    expect(new JwtRecordIds(randomBytes(32)).of('a-jti')).not.toBe(ids.of('a-jti'));
  });
});
