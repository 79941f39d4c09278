import { describe, expect, it } from 'vitest';
import { consentPage, formTargetOf, pageHeaders } from '../../server/pages.ts';

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

describe('consent page', () => {
  const base = { action: '/interaction/x/confirm', abortAction: '/interaction/x/abort', csrf: 'c', clientName: 'App', scopes: [], claims: [], resources: [] };
  const items = (html: string) => [...html.matchAll(/<li><code>([^<]*)<\/code><\/li>/g)].map((m) => m[1]);

  it('lists what is asked, per resource, and leaves out a resource with nothing new', () => {
    const html = consentPage({ ...base, scopes: ['openid'], resources: [{ indicator: 'https://files.example/', scopes: ['files:read'] }, { indicator: 'https://mail.example/', scopes: [] }] });
    expect(items(html)).toEqual(['openid', 'files:read']);
    expect(html).toContain('https://files.example/');
    expect(html).not.toContain('https://mail.example/');
  });

  it('never shows an empty list: a repeated consent names the request, a request for nothing says so', () => {
    const again = consentPage({ ...base, resources: [{ indicator: 'https://files.example/', scopes: [] }], requested: ['openid', 'files:read'] });
    expect(items(again)).toEqual(['openid', 'files:read']);
    expect(again).toContain('no new access');
    const nothing = consentPage({ ...base, requested: [] });
    expect(nothing).not.toMatch(/<ul>|<dl>/);
    expect(nothing).toContain('only to know that you signed in');
  });
});
