// Plain server-rendered HTML for the people who meet this server: sign-in, consent, sign-out and errors.
// No scripts and no external assets, so the pages work under a strict Content-Security-Policy.

export function escapeHtml(value: unknown): string {
  return String(value ?? '')
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

/** `default-src 'none'` and inline styles only; framing is refused to stop clickjacking of the consent button. */
export const PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'";

/**
 * The headers of every HTML page we serve. `form-action` limits where a form on the page may send the user:
 * to us, and to where the flow itself ends (the client's redirect URI), because browsers apply it to the
 * redirects that follow a form submission too. X-Frame-Options repeats frame-ancestors for browsers without
 * CSP 2; no-referrer keeps the interaction id in our URLs from leaking to the next site; nosniff stops a page
 * or JSON from being reinterpreted as script; no-store keeps sign-in pages, CSRF tokens and errors out of
 * shared and back/forward caches.
 */
export function pageHeaders(formTargets: readonly string[] = []): Record<string, string> {
  return {
    'Content-Security-Policy': `${PAGE_CSP}; form-action ${["'self'", ...formTargets].join(' ')}`,
    'X-Frame-Options': 'DENY',
    'Referrer-Policy': 'no-referrer',
    'X-Content-Type-Options': 'nosniff',
    'Cache-Control': 'no-store',
  };
}

/**
 * The CSP source for a redirect URI: its origin (https, loopback http), or its scheme for a native app's
 * private-use URI scheme (RFC 8252 §7.1). Anything unparsable adds nothing; the URL parser's output cannot
 * carry a space or semicolon into the policy.
 */
export function formTargetOf(redirectUri: unknown): string[] {
  if (typeof redirectUri !== 'string') return [];
  const url = URL.parse(redirectUri);
  if (!url) return [];
  if (url.protocol === 'https:' || url.protocol === 'http:') return [url.origin];
  return /^[a-z][a-z0-9+.-]*:$/i.test(url.protocol) ? [url.protocol] : [];
}

const STYLE = `body{font-family:system-ui,sans-serif;background:#f4f5f7;margin:0;padding:40px 16px;color:#1d2330}
main{max-width:380px;margin:0 auto;background:#fff;border-radius:8px;padding:24px 28px;box-shadow:0 1px 3px rgba(0,0,0,.15)}
h1{font-size:1.3em;margin:0 0 16px}label{display:block;margin:12px 0 4px;font-size:.9em}
input[type=text],input[type=password]{width:100%;box-sizing:border-box;padding:8px;font-size:1em;border:1px solid #b8bdc7;border-radius:4px}
button{margin-top:18px;width:100%;padding:10px;font-size:1em;border:0;border-radius:4px;background:#2456d6;color:#fff;cursor:pointer}
button.secondary{background:#e6e8ec;color:#1d2330}.error{background:#fde8e8;color:#8a1c1c;padding:8px 10px;border-radius:4px}
ul{padding-left:20px}code{font-size:.9em}dl dt{font-weight:600}dl dd{margin:0 0 8px}`;

function page(title: string, body: string): string {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body><main>${body}</main></body></html>`;
}

export function loginPage(input: { action: string; csrf: string; clientName: string; username?: string; error?: string }): string {
  return page('Sign in', `<h1>Sign in to continue to ${escapeHtml(input.clientName)}</h1>
${input.error ? `<p class="error" role="alert">${escapeHtml(input.error)}</p>` : ''}
<form method="post" action="${escapeHtml(input.action)}" autocomplete="off">
<input type="hidden" name="csrf" value="${escapeHtml(input.csrf)}">
<label for="username">Username</label><input id="username" type="text" name="username" value="${escapeHtml(input.username ?? '')}" required autofocus>
<label for="password">Password</label><input id="password" type="password" name="password" required>
<button type="submit">Sign in</button>
</form>`);
}

export function consentPage(input: {
  action: string;
  abortAction: string;
  csrf: string;
  clientName: string;
  scopes: string[];
  claims: string[];
  resources: { indicator: string; scopes: string[] }[];
  /** The request's scope, shown when consent is asked (prompt=consent) for nothing new. */
  requested?: string[];
}): string {
  const list = (items: string[]) => `<ul>${items.map((item) => `<li><code>${escapeHtml(item)}</code></li>`).join('')}</ul>`;
  const nothingNew = !input.scopes.length && !input.claims.length && !input.resources.some((r) => r.scopes.length);
  // The page never shows an empty list: a person asked to allow something is told what it is.
  const body = !nothingNew
    ? `<dl>
${input.scopes.length ? `<dt>Scopes</dt><dd>${list(input.scopes)}</dd>` : ''}
${input.claims.length ? `<dt>Claims</dt><dd>${list(input.claims)}</dd>` : ''}
${input.resources.filter((r) => r.scopes.length).map((r) => `<dt>At <code>${escapeHtml(r.indicator)}</code></dt><dd>${list(r.scopes)}</dd>`).join('\n')}
</dl>`
    : input.requested?.length
      ? `<p>It asks for no new access. The request names:</p>\n${list(input.requested)}`
      : '<p>It asks only to know that you signed in, with no access to anything else.</p>';
  return page('Authorize access', `<h1>${escapeHtml(input.clientName)} asks for access</h1>
${body}
<form method="post" action="${escapeHtml(input.action)}">
<input type="hidden" name="csrf" value="${escapeHtml(input.csrf)}">
<button type="submit" name="decision" value="allow">Allow</button>
</form>
<form method="post" action="${escapeHtml(input.abortAction)}">
<input type="hidden" name="csrf" value="${escapeHtml(input.csrf)}">
<button type="submit" class="secondary">Deny</button>
</form>`);
}

export function errorPage(input: { error: string; description?: string }): string {
  return page('Something went wrong', `<h1>This request could not be completed</h1>
<p class="error" role="alert"><strong>${escapeHtml(input.error)}</strong>${input.description ? `: ${escapeHtml(input.description)}` : ''}</p>`);
}

/** `form` is oidc-provider's own hidden logout form (its markup carries the xsrf token and the target). */
export function logoutPage(input: { host: string; form: string }): string {
  return page('Sign out', `<h1>Sign out of ${escapeHtml(input.host)}?</h1>
${input.form}
<button autofocus type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>
<button type="submit" form="op.logoutForm" class="secondary">No, stay signed in</button>`);
}

export function loggedOutPage(input: { clientName?: string }): string {
  return page('Signed out', `<h1>You are signed out${input.clientName ? ` of ${escapeHtml(input.clientName)}` : ''}</h1>`);
}
