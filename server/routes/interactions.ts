// Our own sign-in and consent pages (oidc-provider's devInteractions accept any password and are off).
// The login form has fields `username` and `password`; the consent form has a submit button. Both carry a
// CSRF token bound to the interaction, and every response forbids framing.
import { createHmac, timingSafeEqual } from 'node:crypto';
import Router from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import { StorageUnavailable } from '../../adapters/dependency-faults.ts';
import type { AuditLog } from '../../adapters/audit-log.ts';
import { PasswordHashingBusy } from '../../adapters/scrypt-gate.ts';
import type { UserStore } from '../../adapters/user-store.ts';
import { organizationFacts, type OrganizationLookups } from '../../issuance/token-organization.ts';
import { organizationRefusal } from '../../policy/organizations.ts';
import type { GuessThrottle } from '../throttles.ts';
import { passwordSignIn } from '../password-sign-in.ts';
import { consentPage, errorPage, formTargetOf, loginPage, pageHeaders } from '../pages.ts';
import { readForm } from '../read-body.ts';

export function interactionRoutes(deps: {
  provider: Provider; users: UserStore; csrfKey: string; audit?: AuditLog; throttle?: GuessThrottle;
  /** A user of one organization is not signed in to another's client unless it may act for them (policy/organizations.ts). */
  organizations: OrganizationLookups;
}): Router {
  const { provider, users } = deps;
  const router = new Router({ prefix: '/interaction' });

  /**
   * Sends the browser back to the client with RFC 6749 §4.1.2.1 `unauthorized_client` when the signed-in user is
   * of an organization this client may not act for: the token endpoint would refuse the code anyway, so the user is
   * not asked to consent to it. True when it did.
   */
  async function refusedAcrossOrganizations(ctx: Context, clientId: string, accountId: string): Promise<boolean> {
    const refusal = organizationRefusal(await organizationFacts({ clientId, accountId }, deps.organizations));
    if (!refusal) return false;
    const redirectTo = await provider.interactionResult(ctx.req, ctx.res, { error: refusal.error, error_description: refusal.description }, { mergeWithLastSubmission: false });
    ctx.status = 303;
    ctx.redirect(redirectTo);
    return true;
  }

  const csrfFor = (uid: string) => createHmac('sha256', deps.csrfKey).update(`interaction-csrf:${uid}`).digest('base64url');
  const csrfValid = (uid: string, presented: string | null) => {
    const expected = Buffer.from(csrfFor(uid));
    const actual = Buffer.from(presented ?? '');
    return actual.length === expected.length && timingSafeEqual(actual, expected);
  };

  router.use(async (ctx, next) => {
    ctx.set(pageHeaders());
    try {
      await next();
      // The page's forms lead, through our redirects, to the client's redirect URI (known once a handler
      // has loaded the interaction).
      if (ctx.state.redirectUri) ctx.set(pageHeaders(formTargetOf(ctx.state.redirectUri)));
    } catch (error) {
      // The interaction cookie is missing or expired, or the flow was already finished in another tab.
      const { name, message, error_description: description } = error as { name?: string; message?: string; error_description?: string };
      if (name === 'SessionNotFound' || name === 'InvalidRequest') {
        ctx.status = 400;
        ctx.type = 'html';
        ctx.body = errorPage({ error: 'invalid_request', description: description ?? message });
        return;
      }
      if (error instanceof StorageUnavailable) {
        ctx.status = error.statusCode;
        ctx.type = 'html';
        ctx.body = errorPage({ error: error.error, description: error.error_description });
        return;
      }
      if (error instanceof PasswordHashingBusy) {
        ctx.status = error.statusCode;
        ctx.set('Retry-After', '1');
        ctx.type = 'html';
        ctx.body = errorPage({ error: error.error, description: error.error_description });
        return;
      }
      throw error;
    }
  });

  router.get('/:uid', async (ctx) => {
    const interaction = await provider.interactionDetails(ctx.req, ctx.res);
    ctx.state.redirectUri = interaction.params.redirect_uri;
    const client = await provider.Client.find(String(interaction.params.client_id));
    const clientName = client?.clientName ?? String(interaction.params.client_id);
    const csrf = csrfFor(interaction.uid);
    ctx.type = 'html';
    if (interaction.prompt.name === 'login') {
      ctx.body = loginPage({ action: `/interaction/${interaction.uid}/login`, csrf, clientName });
      return;
    }
    const details = interaction.prompt.details as {
      missingOIDCScope?: string[];
      missingOIDCClaims?: string[];
      missingResourceScopes?: Record<string, string[]>;
    };
    ctx.body = consentPage({
      action: `/interaction/${interaction.uid}/confirm`,
      abortAction: `/interaction/${interaction.uid}/abort`,
      csrf,
      clientName,
      scopes: details.missingOIDCScope ?? [],
      claims: details.missingOIDCClaims ?? [],
      resources: Object.entries(details.missingResourceScopes ?? {}).map(([indicator, scopes]) => ({ indicator, scopes })),
      requested: typeof interaction.params.scope === 'string' ? interaction.params.scope.split(' ').filter(Boolean) : [],
    });
  });

  router.post('/:uid/login', async (ctx) => {
    const interaction = await provider.interactionDetails(ctx.req, ctx.res);
    ctx.state.redirectUri = interaction.params.redirect_uri;
    const form = await readForm(ctx);
    if (!csrfValid(interaction.uid, form.get('csrf'))) return refuseCsrf(ctx);
    if (interaction.prompt.name !== 'login') return wrongStep(ctx);
    const username = form.get('username') ?? '';
    const clientId = String(interaction.params.client_id);
    // The form again, with what went wrong; the username is what was typed (it may not exist).
    const signInAgain = async (status: number, error: string) => {
      const client = await provider.Client.find(clientId);
      ctx.status = status;
      ctx.type = 'html';
      ctx.body = loginPage({ action: `/interaction/${interaction.uid}/login`, csrf: csrfFor(interaction.uid), clientName: client?.clientName ?? clientId, username, error });
    };
    const result = await passwordSignIn({ users, throttle: deps.throttle, audit: deps.audit }, {
      username, password: form.get('password') ?? '', address: ctx.ip, requestId: ctx.state.requestId as string | undefined, clientId,
    });
    if ('refused' in result) {
      if (result.refused === 'throttled') {
        ctx.set('Retry-After', String(result.retryAfter));
        return signInAgain(429, `Too many failed sign-in attempts for this username. Try again in ${describeWait(result.retryAfter)}.`);
      }
      // 400, not 401: a 401 must carry a WWW-Authenticate challenge (RFC 9110 §15.5.2), and this sign-in is a
      // form, not an HTTP authentication scheme.
      return signInAgain(400, 'Invalid username or password.');
    }
    const { user } = result;
    if (await refusedAcrossOrganizations(ctx, clientId, user.id)) return;
    const redirectTo = await provider.interactionResult(ctx.req, ctx.res, { login: { accountId: user.id } }, { mergeWithLastSubmission: false });
    ctx.status = 303;
    ctx.redirect(redirectTo);
  });

  router.post('/:uid/confirm', async (ctx) => {
    const interaction = await provider.interactionDetails(ctx.req, ctx.res);
    ctx.state.redirectUri = interaction.params.redirect_uri;
    const form = await readForm(ctx);
    if (!csrfValid(interaction.uid, form.get('csrf'))) return refuseCsrf(ctx);
    if (interaction.prompt.name !== 'consent' || !interaction.session?.accountId) return wrongStep(ctx);
    // Signed in earlier, for another client: the consent is where this client meets the user.
    if (await refusedAcrossOrganizations(ctx, String(interaction.params.client_id), interaction.session.accountId)) return;
    const details = interaction.prompt.details as {
      missingOIDCScope?: string[];
      missingOIDCClaims?: string[];
      missingResourceScopes?: Record<string, string[]>;
    };
    const grant = (interaction.grantId ? await provider.Grant.find(interaction.grantId) : undefined)
      ?? new provider.Grant({ accountId: interaction.session.accountId, clientId: String(interaction.params.client_id) });
    if (details.missingOIDCScope) grant.addOIDCScope(details.missingOIDCScope.join(' '));
    if (details.missingOIDCClaims) grant.addOIDCClaims(details.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(details.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    const redirectTo = await provider.interactionResult(ctx.req, ctx.res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    ctx.status = 303;
    ctx.redirect(redirectTo);
  });

  router.post('/:uid/abort', async (ctx) => {
    const interaction = await provider.interactionDetails(ctx.req, ctx.res);
    ctx.state.redirectUri = interaction.params.redirect_uri;
    const form = await readForm(ctx);
    if (!csrfValid(interaction.uid, form.get('csrf'))) return refuseCsrf(ctx);
    const redirectTo = await provider.interactionResult(
      ctx.req,
      ctx.res,
      { error: 'access_denied', error_description: 'the user denied the request' },
      { mergeWithLastSubmission: false },
    );
    ctx.status = 303;
    ctx.redirect(redirectTo);
  });

  return router;
}

function refuseCsrf(ctx: Context): void {
  ctx.status = 403;
  ctx.type = 'html';
  ctx.body = errorPage({ error: 'invalid_request', description: 'the form is stale or was not served by this server; go back and try again' });
}

function wrongStep(ctx: Context): void {
  ctx.status = 400;
  ctx.type = 'html';
  ctx.body = errorPage({ error: 'invalid_request', description: 'this step of the sign-in is not expected now' });
}

/** "45 seconds", "3 minutes": the wait as a person reads it. */
function describeWait(seconds: number): string {
  if (seconds < 90) return `${seconds} second${seconds === 1 ? '' : 's'}`;
  const minutes = Math.ceil(seconds / 60);
  return `${minutes} minutes`;
}
