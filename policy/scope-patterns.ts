// Wildcard scope patterns for agents, in the `resource:action` form.
//
//   resource   one or more dot-separated segments (`projects.tasks`); a segment may be `*` (exactly one
//              segment), and the last segment may be `**` (this resource and every sub-resource below it)
//   action     a name, `*` (any action), or `**` (any action on the resource and every sub-resource)
//
//   files:read          only `files:read`
//   files:*             any action on `files`, not on `files.reports`
//   files:**            any action on `files` and below (`files.reports:read`)
//   files.**:read       `read` on `files` and below
//   *.tasks:write       `write` on `projects.tasks`, `teams.tasks`, …
//
// A pattern without a colon is a plain scope (`openid`, `read`) and matches only itself. Requested scopes are
// never patterns: a `*` in a request is refused, so a client cannot ask for "everything it may have".

export class InvalidScopePatternError extends Error {
  readonly code = 'ERR_INVALID_SCOPE_PATTERN';
  readonly pattern: string;

  constructor(pattern: string, problem: string) {
    super(`scope pattern "${pattern}" ${problem}`);
    this.name = 'InvalidScopePatternError';
    this.pattern = pattern;
  }
}

const NAME = /^[A-Za-z0-9_-]+$/;
// RFC 6749 §3.3 scope-token characters, minus the ones our grammar gives meaning to.
const PLAIN_SCOPE = /^[\x21\x23-\x29\x2B-\x39\x3B-\x5B\x5D-\x7E]+$/;

interface ParsedPattern {
  plain?: string;
  segments: string[];
  /** The resource pattern ended in `**`, or the action was `**`. */
  subtree: boolean;
  /** undefined: any action. */
  action: string | undefined;
}

/** Parses a pattern, throwing InvalidScopePatternError with the reason when it is malformed. */
export function parseScopePattern(pattern: string): ParsedPattern {
  if (typeof pattern !== 'string' || pattern.length === 0) throw new InvalidScopePatternError(String(pattern), 'is empty');
  if (pattern.length > 256) throw new InvalidScopePatternError(pattern.slice(0, 32), 'is longer than 256 characters');
  const colon = pattern.indexOf(':');
  if (colon === -1) {
    if (!PLAIN_SCOPE.test(pattern)) throw new InvalidScopePatternError(pattern, 'has characters a plain scope cannot have');
    return { plain: pattern, segments: [], subtree: false, action: undefined };
  }
  if (pattern.indexOf(':', colon + 1) !== -1) throw new InvalidScopePatternError(pattern, 'has more than one ":"');
  const resource = pattern.slice(0, colon);
  const action = pattern.slice(colon + 1);
  if (!resource) throw new InvalidScopePatternError(pattern, 'has no resource before ":"');
  if (!action) throw new InvalidScopePatternError(pattern, 'has no action after ":"');

  const segments = resource.split('.');
  let subtree = false;
  segments.forEach((segment, index) => {
    if (segment === '**') {
      if (index !== segments.length - 1) throw new InvalidScopePatternError(pattern, 'may use "**" only as the last resource segment');
      subtree = true;
    } else if (segment !== '*' && !NAME.test(segment)) {
      throw new InvalidScopePatternError(pattern, `has an invalid resource segment "${segment}"`);
    }
  });
  if (subtree) segments.pop();

  if (action === '**') return { segments, subtree: true, action: undefined };
  if (action === '*') return { segments, subtree, action: undefined };
  if (!NAME.test(action)) throw new InvalidScopePatternError(pattern, `has an invalid action "${action}"`);
  return { segments, subtree, action };
}

/** Whether `pattern` is well formed. */
export function isScopePattern(pattern: string): boolean {
  try {
    parseScopePattern(pattern);
    return true;
  } catch {
    return false;
  }
}

/** Whether a requested scope is a concrete scope (no wildcards) of either form. */
export function isConcreteScope(scope: string): boolean {
  if (!isScopePattern(scope)) return false;
  return !scope.includes('*');
}

function matches(pattern: ParsedPattern, scope: string): boolean {
  if (pattern.plain !== undefined) return pattern.plain === scope;
  const colon = scope.indexOf(':');
  if (colon === -1) return false;
  const segments = scope.slice(0, colon).split('.');
  const action = scope.slice(colon + 1);
  if (pattern.action !== undefined && pattern.action !== action) return false;
  if (pattern.subtree ? segments.length < pattern.segments.length : segments.length !== pattern.segments.length) return false;
  return pattern.segments.every((segment, index) => segment === '*' || segment === segments[index]);
}

/**
 * Whether `scope` (a concrete requested scope) is allowed by any of `patterns`. Malformed patterns allow
 * nothing; they are refused when an agent is saved, so meeting one here means stored data was tampered with.
 */
export function scopeAllowed(scope: string, patterns: readonly string[]): boolean {
  if (!isConcreteScope(scope)) return false;
  for (const pattern of patterns) {
    let parsed: ParsedPattern;
    try {
      parsed = parseScopePattern(pattern);
    } catch {
      continue;
    }
    if (matches(parsed, scope)) return true;
  }
  return false;
}

/** The requested scopes no pattern allows (empty when the request is within the patterns). */
export function scopesNotAllowed(requested: Iterable<string>, patterns: readonly string[]): string[] {
  return [...requested].filter((scope) => !scopeAllowed(scope, patterns));
}
