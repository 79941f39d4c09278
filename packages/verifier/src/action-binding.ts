// Action-bound access tokens: a token whose RFC 9396 `authorization_details` hold an approved `agent_action`
// naming the exact request (`request.method`, `request.url`, `request.body_digest`) authorizes that request and no
// other. The body digest is an RFC 9530 Content-Digest style `sha-256=:<base64>:` over the action's body: the raw
// HTTP content for a plain API call, or for an MCP tool call the RFC 8785 canonical JSON of the call's `arguments`
// (MCP wraps every call in a JSON-RPC envelope with a fresh `id`, whose bytes nobody can approve in advance).
import { createHash, timingSafeEqual } from 'node:crypto';
import type { AccessTokenClaims } from './access-token-claims.ts';
import { canonicalJson } from './json-canonicalization.ts';
import { InsufficientScope, InvalidRequest, InvalidToken } from './errors.ts';

export const AGENT_ACTION = 'agent_action';

/** The request an action-bound token is presented for, as `verifyAction` compares it with the approved detail. */
export interface ActionRequest {
  /** The operation, compared with the detail's `action` (an MCP tool's name). Omit for plain HTTP calls. */
  action?: string;
  /** The bytes `body_digest` covers: the raw HTTP body, or `mcpToolCall`'s canonical arguments. */
  body: Uint8Array | string;
}

/** An approved `agent_action` entry as the token carries it (the members this verifier relies on). */
export interface AgentActionDetail {
  type: 'agent_action';
  action: string;
  locations?: string[];
  parameters?: Record<string, unknown>;
  request?: { method: string; url: string; body_digest?: string };
  [member: string]: unknown;
}

/** The action request of an MCP `tools/call`: its tool name and the JCS text of its `arguments`. */
export function mcpToolCall(name: string, args: Record<string, unknown> | undefined): ActionRequest {
  try {
    return { action: name, body: canonicalJson(args ?? {}) };
  } catch (error) {
    // The client's input (too deep, or not JSON at all): its mistake to correct, not the server's failure.
    throw new InvalidRequest(`the tool call's arguments cannot be canonicalized (RFC 8785): ${(error as Error).message}`, { cause: error });
  }
}

/** The `body_digest` to put in an `agent_action` detail for `body` (e.g. `mcpToolCall(...).body`). */
export function actionBodyDigest(body: Uint8Array | string): string {
  return `sha-256=:${createHash('sha256').update(body).digest('base64')}:`;
}

/** The token's approved `agent_action` entries that name an exact request; none means the token is not action-bound. */
export function boundActions(claims: AccessTokenClaims): AgentActionDetail[] {
  const details = claims.authorization_details;
  if (details === undefined) return [];
  if (!Array.isArray(details)) throw new InvalidToken('access token authorization_details is not an array');
  return details.filter((detail): detail is AgentActionDetail =>
    typeof detail === 'object' && detail !== null && (detail as { type?: unknown }).type === AGENT_ACTION
    && typeof (detail as { request?: unknown }).request === 'object' && (detail as { request?: unknown }).request !== null);
}

/**
 * Throws `InsufficientScope` unless one approved entry matches this request exactly: a valid token that does not
 * authorize this particular request is RFC 6750 §3.1's "requires higher privileges than provided", not a bad token.
 */
export function checkActionRequest(details: AgentActionDetail[], request: { method: string; url: string | URL }, action: ActionRequest): AgentActionDetail {
  if (details.length === 0) {
    throw new InsufficientScope('this request needs an approved agent_action naming exactly this request (authorization_details); ask for one through the backchannel (CIBA) flow', []);
  }
  const digest = actionBodyDigest(action.body);
  const url = sameUrl(request.url) ?? 'invalid request URL';
  for (const detail of details) {
    const approved = detail.request!;
    if (action.action !== undefined && detail.action !== action.action) continue;
    if (approved.method !== request.method || sameUrl(approved.url) !== url) continue;
    if (approved.body_digest !== undefined && !equalText(approved.body_digest, digest)) continue;
    return detail;
  }
  throw new InsufficientScope('the approved agent_action does not match this request (action, method, URL or body digest differ); a changed request needs a new approval', []);
}

/** Scheme and host case, default port and dot segments normalized by WHATWG URL; query kept, fragment dropped. */
function sameUrl(value: string | URL): string | undefined {
  try {
    const url = new URL(value);
    url.hash = '';
    return url.href;
  } catch {
    return undefined;
  }
}

function equalText(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}
