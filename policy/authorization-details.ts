// RFC 9396 authorization_details: the one type we define, `agent_action`, and the limits every request meets.
// oidc-provider parses the parameter, checks the common members (§2.2) and refuses types we do not list with
// `invalid_authorization_details` (§5); this module is the `validate` it calls for each entry of our type.
//
//   {
//     "type": "agent_action",
//     "action": "payments.create",                  what the agent wants to do (a tool or operation name)
//     "locations": ["https://api.example.com/"],     RFC 9396 §2.2: the resource server(s) it happens at
//     "parameters": {"amount": "1200.00", ...},      the action's arguments, shown to the approver, tiered on
//     "request": {"method": "POST", "url": "https://api.example.com/payments", "body_digest": "sha-256=:…:"}
//   }                                                the exact HTTP request, when the agent knows it
//
// Registered nowhere: the type is ours (RFC 9396 §2 lets an AS define its own types by name).
import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import { z } from 'zod';

export const AGENT_ACTION = 'agent_action';

/** The whole parameter, as sent (JSON text): an approver reads it, and it is stored with the request. */
export const MAX_AUTHORIZATION_DETAILS_CHARS = 8 * 1024;
export const MAX_AUTHORIZATION_DETAILS_ENTRIES = 10;

// Where authorization_details are accepted: a backchannel request asks a person for them, and client_credentials
// gets them only when the client's approval tiers let it act alone (policy/approval-tiers.ts).
const ACCEPTED_AT_TOKEN_ENDPOINT = new Set(['client_credentials']);

const text = (max: number) => z.string().min(1).max(max);
const absoluteUrl = z.url({ protocol: /^https?$/, error: 'must be an absolute http(s) URL' }).max(2048);
// Argument values an approver can read and a tier rule can test: scalars, or one level of them.
const scalar = z.union([z.string().max(1024), z.number().finite(), z.boolean(), z.null()]);
const argument = z.union([scalar, z.array(scalar).max(50), z.record(z.string().max(64), scalar)]);

export const agentAction = z.strictObject({
  type: z.literal(AGENT_ACTION),
  action: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/, 'must be 1–128 letters, digits, ".", "_", ":", "/" or "-"'),
  locations: z.array(absoluteUrl).min(1).max(10).optional(),
  actions: z.array(text(128)).min(1).max(20).optional(),
  identifier: text(256).optional(),
  parameters: z.record(z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'names must be 1–64 letters, digits, "_" or "-"'), argument)
    .refine((value) => Object.keys(value).length <= 32, 'must have at most 32 members').optional(),
  request: z.strictObject({
    method: z.string().regex(/^[A-Z]{1,16}$/, 'must be an HTTP method in capitals'),
    url: absoluteUrl,
    // RFC 9530 Content-Digest syntax for one algorithm: sha-256=:<base64>:
    body_digest: z.string().regex(/^sha-256=:[A-Za-z0-9+/]{43}=:$/, 'must be an RFC 9530 digest "sha-256=:<base64>:"').optional(),
  }).optional(),
});
export type AgentAction = z.infer<typeof agentAction>;

function refuse(description: string): never {
  throw new errors.InvalidAuthorizationDetails(description);
}

/** features.richAuthorizationRequests.types[agent_action].validate */
export function validateAgentAction(ctx: KoaContextWithOIDC, detail: unknown): void {
  const { route, params } = ctx.oidc;
  if (route === 'token') {
    const grantType = params?.grant_type as string | undefined;
    if (!grantType || !ACCEPTED_AT_TOKEN_ENDPOINT.has(grantType)) {
      refuse('authorization_details are not accepted with this grant type: a backchannel request fixes them when it is made');
    }
  } else if (route !== 'backchannel_authentication') {
    refuse('authorization_details are accepted at the backchannel authentication endpoint (CIBA), where a person approves them');
  }
  const raw = params?.authorization_details as string | undefined;
  if (raw && raw.length > MAX_AUTHORIZATION_DETAILS_CHARS) {
    refuse(`authorization_details must be at most ${MAX_AUTHORIZATION_DETAILS_CHARS} characters`);
  }
  if (raw && (JSON.parse(raw) as unknown[]).length > MAX_AUTHORIZATION_DETAILS_ENTRIES) {
    refuse(`authorization_details must have at most ${MAX_AUTHORIZATION_DETAILS_ENTRIES} entries`);
  }
  const parsed = agentAction.safeParse(detail);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    refuse(`${AGENT_ACTION}${issue.path.length ? `.${issue.path.join('.')}` : ''}: ${issue.message}`);
  }
}

/** The entries a request carries, already validated by oidc-provider's checkRar and validateAgentAction. */
export function requestedAuthorizationDetails(raw: unknown): Record<string, unknown>[] {
  if (typeof raw !== 'string' || !raw) return [];
  const parsed = JSON.parse(raw) as unknown;
  return Array.isArray(parsed) ? (parsed as Record<string, unknown>[]) : [];
}
