// A cookie-keeping HTTP client that walks the login and consent pages the way a person's browser would:
// it follows redirects on the server's origin, fills the forms it is shown, and stops at the client's
// redirect URI (which nobody serves in tests).

export class CookieJar {
  #cookies = new Map<string, string>();

  store(response: Response): void {
    for (const header of response.headers.getSetCookie()) {
      const [pair, ...attributes] = header.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attributes.some((a) => /^\s*max-age=0\s*$/i.test(a))
        || attributes.some((a) => /^\s*expires=/i.test(a) && Date.parse(a.split('=')[1]) < Date.now());
      if (expired || value === '') this.#cookies.delete(name);
      else this.#cookies.set(name, value);
    }
  }

  header(): string {
    return [...this.#cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }
}

export interface Page {
  status: number;
  url: string;
  html: string;
}

export class Browser {
  readonly jar = new CookieJar();

  async request(url: string, init: { method?: string; form?: Record<string, string> } = {}): Promise<Response> {
    const response = await fetch(url, {
      method: init.method ?? (init.form ? 'POST' : 'GET'),
      redirect: 'manual',
      headers: {
        cookie: this.jar.header(),
        ...(init.form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
      },
      body: init.form ? new URLSearchParams(init.form).toString() : undefined,
    });
    this.jar.store(response);
    return response;
  }

  /**
   * Follows redirects from `url` until a page is shown (returned) or a redirect leaves for `stopAt`
   * (its URL is returned).
   */
  async navigate(url: string, stopAt: string, init: { form?: Record<string, string> } = {}): Promise<Page | URL> {
    let response = await this.request(url, init);
    let current = url;
    for (let hops = 0; hops < 20; hops += 1) {
      const location = response.headers.get('location');
      if (response.status >= 300 && response.status < 400 && location) {
        const next = new URL(location, current);
        if (next.href.startsWith(stopAt)) return next;
        current = next.href;
        response = await this.request(current);
        continue;
      }
      return { status: response.status, url: current, html: await response.text() };
    }
    throw new Error('too many redirects');
  }

  /** Submits the first form on the page whose action matches, with its hidden fields plus `fields`. */
  async submit(page: Page, actionPattern: RegExp, fields: Record<string, string>, stopAt: string): Promise<Page | URL> {
    const form = [...page.html.matchAll(/<form[^>]*action="([^"]+)"[^>]*>([\s\S]*?)<\/form>/g)].find((m) => actionPattern.test(m[1]));
    if (!form) throw new Error(`no form matching ${actionPattern} on ${page.url}:\n${page.html}`);
    const hidden = Object.fromEntries(
      [...form[2].matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((m) => [m[1], decodeEntities(m[2])]),
    );
    return this.navigate(new URL(decodeEntities(form[1]), page.url).href, stopAt, { form: { ...hidden, ...fields } });
  }
}

function decodeEntities(value: string): string {
  return value.replaceAll('&quot;', '"').replaceAll('&#39;', "'").replaceAll('&lt;', '<').replaceAll('&gt;', '>').replaceAll('&amp;', '&');
}

/** Signs in and consents; returns the redirect to the client (carrying `code` or `error`). */
export async function signInAndConsent(authorizationUrl: URL, redirectUri: string, user: { username: string; password: string }, browser = new Browser()): Promise<URL> {
  let step = await browser.navigate(authorizationUrl.href, redirectUri);
  for (let i = 0; i < 4 && !(step instanceof URL); i += 1) {
    if (/name="password"/.test(step.html)) {
      step = await browser.submit(step, /\/login$/, { username: user.username, password: user.password }, redirectUri);
    } else if (/\/confirm"/.test(step.html)) {
      step = await browser.submit(step, /\/confirm$/, {}, redirectUri);
    } else {
      throw new Error(`unexpected page ${step.status} at ${step.url}:\n${step.html}`);
    }
  }
  if (!(step instanceof URL)) throw new Error('the flow did not return to the client');
  return step;
}

/** A user signed in at the approvals inbox (/approvals): the browser keeping the session, and the inbox page. */
export async function signInToInbox(serverUrl: string, username: string, password: string): Promise<{ browser: Browser; page: Page }> {
  const browser = new Browser();
  const form = await browser.navigate(`${serverUrl}/approvals`, 'never:') as Page;
  const page = await browser.submit(form, /\/approvals\/sign-in$/, { username, password }, 'never:') as Page;
  return { browser, page };
}
