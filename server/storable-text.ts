// PostgreSQL text and jsonb cannot hold U+0000, nor a lone UTF-16 surrogate (JSON can carry one as an escape). A
// client can put either in any parameter, identifier or metadata value, and if it reaches a query the database
// answers with an error that used to surface as a 500. These are refused where the value enters storage or a
// lookup, as the bad input they are: a lookup finds nothing, a write is refused as invalid metadata.
import { errors, type Adapter } from 'oidc-provider';

import { isStorableText } from '../adapters/storage-rules.ts';

export { isStorableText };

/** Nesting beyond which a JSON value is refused rather than walked (nothing we store nests deeper than a few levels). */
export const MAX_JSON_DEPTH = 64;

export type TextProblem = { path: (string | number)[]; problem: 'unstorable' | 'too deep' };

/**
 * The first string (or key) in `value` PostgreSQL cannot store, or the first place nested deeper than
 * MAX_JSON_DEPTH. Iterative: a 25,000-deep document must not overflow the stack of the check meant to refuse it.
 */
export function findUnstorableText(value: unknown): TextProblem | undefined {
  const stack: { value: unknown; path: (string | number)[] }[] = [{ value, path: [] }];
  while (stack.length > 0) {
    const { value: current, path } = stack.pop()!;
    if (typeof current === 'string') {
      if (!isStorableText(current)) return { path, problem: 'unstorable' };
      continue;
    }
    if (typeof current !== 'object' || current === null) continue;
    // The top-level member names the field; sixty-four indexes after it would say nothing more.
    if (path.length >= MAX_JSON_DEPTH) return { path: path.slice(0, 1), problem: 'too deep' };
    const isArray = Array.isArray(current);
    for (const [key, member] of Object.entries(current)) {
      if (!isStorableText(key)) return { path: [...path, key], problem: 'unstorable' };
      stack.push({ value: member, path: [...path, isArray ? Number(key) : key] });
    }
  }
  return undefined;
}

/** What is wrong, for an error naming the field: "is nested …" / "must not contain …". */
export function textProblemMessage({ problem }: TextProblem): string {
  return problem === 'too deep' ? `is nested more than ${MAX_JSON_DEPTH} levels deep` : 'must not contain NUL characters or unpaired surrogates';
}

export function describeTextProblem(problem: TextProblem, what = 'body'): string {
  return `${problem.path.length ? problem.path.join('.') : what} ${textProblemMessage(problem)}`;
}

/**
 * The Client model's adapter with the rule applied: a client id that cannot be stored names no client (so every
 * endpoint answers as for an unknown client: invalid_client, or the error page at /auth), and metadata that cannot
 * be stored is invalid_client_metadata at registration and its updates. The other methods pass through.
 */
export function storableClients(adapter: Adapter): Adapter {
  return {
    find: (id) => (typeof id === 'string' && isStorableText(id) ? adapter.find(id) : Promise.resolve(undefined)),
    upsert: (id, payload, expiresIn) => {
      const problem = findUnstorableText(payload);
      if (problem) return Promise.reject(new errors.InvalidClientMetadata(describeTextProblem(problem, 'metadata')));
      return adapter.upsert(id, payload, expiresIn);
    },
    destroy: (id) => adapter.destroy(id),
    consume: (id) => adapter.consume(id),
    findByUid: (uid) => adapter.findByUid(uid),
    findByUserCode: (code) => adapter.findByUserCode(code),
    revokeByGrantId: (grantId) => adapter.revokeByGrantId(grantId),
  };
}
