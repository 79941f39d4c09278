// RFC 9449 §4.3 item 9: htu compared with the request URI after RFC 3986 normalization, without query and fragment.
import { describe, expect, it } from 'vitest';
import { sameTargetUri } from '../../packages/verifier/src/dpop-proof.ts';

describe('sameTargetUri', () => {
  it.each([
    ['case of scheme and host', 'HTTPS://RS.Example/mcp', 'https://rs.example/mcp'],
    ['default port', 'https://rs.example:443/mcp', 'https://rs.example/mcp'],
    ['query and fragment', 'https://rs.example/mcp', 'https://rs.example/mcp?page=2#top'],
    ['dot segments', 'https://rs.example/a/../mcp', 'https://rs.example/mcp'],
    ['percent-encoded unreserved characters', 'https://rs.example/%6Dcp', 'https://rs.example/mcp'],
    ['case of percent-encodings', 'https://rs.example/a%2fb', 'https://rs.example/a%2Fb'],
    ['an empty path', 'https://rs.example', 'https://rs.example/'],
  ])('equal despite %s', (_label, htu, url) => {
    expect(sameTargetUri(htu, url)).toBe(true);
  });

  it.each([
    ['another path', 'https://rs.example/other', 'https://rs.example/mcp'],
    ['another scheme', 'http://rs.example/mcp', 'https://rs.example/mcp'],
    ['another port', 'https://rs.example:8443/mcp', 'https://rs.example/mcp'],
    ['an encoded slash vs a slash', 'https://rs.example/a%2Fb', 'https://rs.example/a/b'],
    ['not a URL', 'mcp', 'https://rs.example/mcp'],
  ])('different for %s', (_label, htu, url) => {
    expect(sameTargetUri(htu, url)).toBe(false);
  });
});
