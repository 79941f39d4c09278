// The approvals inbox as HTML: sign-in, the pending requests with their details, the history. No scripts, no
// external assets; the one inline stylesheet is allowed by its hash, so the CSP needs no 'unsafe-inline'.
import { createHash } from 'node:crypto';
import type { Approval } from '../adapters/approval-store.ts';
import { escapeHtml } from './pages.ts';

const STYLE = `body{font-family:system-ui,sans-serif;background:#f4f5f7;margin:0;padding:16px;color:#1d2330}
main{max-width:640px;margin:0 auto}section,.card{background:#fff;border-radius:8px;padding:16px;margin:0 0 16px;box-shadow:0 1px 3px rgba(0,0,0,.15)}
h1{font-size:1.3em}h2{font-size:1.1em}label{display:block;margin:8px 0 4px}
input[type=text],input[type=password]{width:100%;box-sizing:border-box;padding:8px;font-size:1em}
button{padding:10px 16px;font-size:1em;border:0;border-radius:4px;background:#2456d6;color:#fff;margin:8px 8px 0 0}
button.secondary{background:#e6e8ec;color:#1d2330}.error{background:#fde8e8;color:#8a1c1c;padding:8px}
dl{margin:0}dt{font-weight:600}dd{margin:0 0 6px;word-break:break-word}code{font-size:.9em}`;

export const INBOX_CSP = `default-src 'none'; style-src 'sha256-${createHash('sha256').update(STYLE).digest('base64')}'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`;

export function inboxHeaders(): Record<string, string> {
  return { 'Content-Security-Policy': INBOX_CSP, 'X-Frame-Options': 'DENY', 'Referrer-Policy': 'no-referrer', 'X-Content-Type-Options': 'nosniff', 'Cache-Control': 'no-store' };
}

function page(title: string, body: string): string {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body><main>${body}</main></body></html>`;
}

export function inboxSignInPage(input: { csrf: string; username?: string; error?: string }): string {
  return page('Approvals: sign in', `<section><h1>Sign in to your approvals</h1>
${input.error ? `<p class="error" role="alert">${escapeHtml(input.error)}</p>` : ''}
<form method="post" action="/approvals/sign-in" autocomplete="off">
<input type="hidden" name="csrf" value="${escapeHtml(input.csrf)}">
<label for="username">Username</label><input id="username" type="text" name="username" value="${escapeHtml(input.username ?? '')}" required>
<label for="password">Password</label><input id="password" type="password" name="password" required>
<button type="submit">Sign in</button>
</form></section>`);
}

/** A value of a detail, readably: scalars as text, lists and objects nested as definition lists. */
function value(input: unknown): string {
  if (Array.isArray(input)) return `<ul>${input.map((item) => `<li>${value(item)}</li>`).join('')}</ul>`;
  if (input && typeof input === 'object') return `<dl>${Object.entries(input).map(([key, item]) => `<dt>${escapeHtml(key)}</dt><dd>${value(item)}</dd>`).join('')}</dl>`;
  return `<code>${escapeHtml(input)}</code>`;
}

export interface InboxEntry {
  approval: Approval;
  clientName: string;
  ownerName?: string;
  /** Where a second approver is involved: who approved first, or that one is needed. */
  note?: string;
  /** False for a pending request this user cannot approve now (their approval is in; a second is awaited). */
  canApprove?: boolean;
}

function entry(item: InboxEntry, csrf: string, decidable: boolean): string {
  const { approval } = item;
  const details = (approval.authorizationDetails ?? []).map((detail, index) => `<dt>Detail ${index + 1}</dt><dd>${value(detail)}</dd>`).join('');
  const form = (action: string, label: string, extra = '', secondary = false) => `<form method="post" action="/approvals/${escapeHtml(encodeURIComponent(approval.id))}/${action}">
<input type="hidden" name="csrf" value="${escapeHtml(csrf)}">${extra}<button type="submit"${secondary ? ' class="secondary"' : ''}>${label}</button></form>`;
  const reauth = approval.tier === 'strong'
    ? `<label for="password-${escapeHtml(approval.id)}">Your password (this request needs it again)</label><input id="password-${escapeHtml(approval.id)}" type="password" name="password" required autocomplete="current-password">`
    : '';
  return `<article class="card" data-approval="${escapeHtml(approval.id)}">
<h2>${escapeHtml(approval.bindingMessage ?? '(no binding message)')}</h2>
<dl><dt>Agent</dt><dd>${escapeHtml(item.clientName)} (<code>${escapeHtml(approval.clientId)}</code>)</dd>
${item.ownerName ? `<dt>Owner</dt><dd>${escapeHtml(item.ownerName)}</dd>` : ''}
<dt>Scopes</dt><dd>${approval.scope.map((scope) => `<code>${escapeHtml(scope)}</code>`).join(' ')}</dd>
${details}
<dt>Tier</dt><dd>${escapeHtml(approval.tier)}</dd>
<dt>${decidable ? 'Expires' : 'Status'}</dt><dd>${decidable ? escapeHtml(approval.expiresAt.toISOString()) : `${escapeHtml(approval.status)}${approval.decidedAt ? ` at ${escapeHtml(approval.decidedAt.toISOString())}` : ''}`}</dd></dl>
${item.note ? `<p class="note">${escapeHtml(item.note)}</p>` : ''}
${decidable ? (item.canApprove === false ? '' : form('approve', 'Approve', reauth)) + form('deny', 'Deny', '', true) : ''}
</article>`;
}

export function inboxPage(input: { username: string; csrf: string; pending: InboxEntry[]; history: InboxEntry[]; notice?: string }): string {
  return page('Approvals', `<h1>Approvals for ${escapeHtml(input.username)}</h1>
${input.notice ? `<p class="error" role="alert">${escapeHtml(input.notice)}</p>` : ''}
<h2>Pending</h2>
${input.pending.length ? input.pending.map((item) => entry(item, input.csrf, true)).join('\n') : '<p>Nothing waits for you.</p>'}
<h2>History</h2>
${input.history.length ? input.history.map((item) => entry(item, input.csrf, false)).join('\n') : '<p>No decided requests yet.</p>'}
<form method="post" action="/approvals/sign-out"><input type="hidden" name="csrf" value="${escapeHtml(input.csrf)}"><button type="submit" class="secondary">Sign out</button></form>`);
}

export function inboxErrorPage(input: { error: string; description: string }): string {
  return page('Approvals: error', `<section><h1>This request could not be completed</h1>
<p class="error" role="alert"><strong>${escapeHtml(input.error)}</strong>: ${escapeHtml(input.description)}</p>
<p><a href="/approvals">Back to your approvals</a></p></section>`);
}
