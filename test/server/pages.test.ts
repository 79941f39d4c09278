import { describe, expect, it } from 'vitest';
import { formTargetOf, pageHeaders } from '../../server/pages.ts';

describe('page headers', () => {
  it('allow forms to reach us and the flow\'s end only', () => {
    expect(pageHeaders(formTargetOf('https://app.example/cb?x=1'))['Content-Security-Policy']).toMatch(/; form-action 'self' https:\/\/app\.example$/);
    expect(formTargetOf('http://127.0.0.1:9000/callback')).toEqual(['http://127.0.0.1:9000']);
    // RFC 8252 §7.1 private-use scheme of a native app: the scheme is the source.
    expect(formTargetOf('com.example.app:/oauth2redirect')).toEqual(['com.example.app:']);
  });

  it('add nothing for a value that is not a URL, so nothing can be smuggled into the policy', () => {
    expect(formTargetOf(undefined)).toEqual([]);
    expect(formTargetOf("x; script-src 'unsafe-inline'")).toEqual([]);
    expect(formTargetOf(['https://a.example'])).toEqual([]);
    expect(pageHeaders()['Content-Security-Policy']).toMatch(/; form-action 'self'$/);
  });
});
