// The one way the CLI talks HTTP: JSON (or a form) out, JSON back, and every failure turned into a CliError whose
// message an operator can act on (server unreachable, error answer, not JSON).
import { ApiError, CliError } from './cli-error.ts';

export interface JsonRequest {
  method?: string;
  headers?: Record<string, string>;
  /** Sent as JSON; a URLSearchParams is sent as a form (the token endpoint only takes forms). */
  body?: unknown;
}

/** Resolves to the parsed JSON body, or undefined for 204 No Content. */
export async function fetchJson(url: string | URL, request: JsonRequest = {}): Promise<unknown> {
  const headers: Record<string, string> = { accept: 'application/json', ...request.headers };
  let body: string | URLSearchParams | undefined;
  if (request.body instanceof URLSearchParams) {
    body = request.body;
  } else if (request.body !== undefined) {
    body = JSON.stringify(request.body);
    headers['content-type'] = 'application/json';
  }

  let response: Response;
  try {
    // No redirects: a request carrying the admin token or a client assertion goes to the configured server only.
    response = await fetch(url, { method: request.method ?? 'GET', headers, body, redirect: 'error' });
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    throw new CliError(`cannot reach ${new URL(url).origin}: ${cause?.code ?? cause?.message ?? (error as Error).message}`);
  }
  if (response.status === 204) return undefined;

  const text = await response.text();
  // RFC 7009 §2.2: a successful revocation answers 200 with no body.
  if (response.ok && text === '') return undefined;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    if (response.ok) throw new CliError(`${response.url} answered ${response.status} with a body that is not JSON`);
  }
  if (!response.ok) {
    const answer = (json ?? {}) as { error?: unknown; error_description?: unknown; field?: unknown };
    throw new ApiError(
      response.status,
      typeof answer.error === 'string' ? answer.error : response.statusText || 'error',
      typeof answer.error_description === 'string' ? answer.error_description : undefined,
      typeof answer.field === 'string' ? answer.field : undefined,
    );
  }
  return json;
}
