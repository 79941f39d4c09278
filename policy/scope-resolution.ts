// Which resource a request is for when it names scopes but no `resource` (RFC 8707). RFC 9068 §3: without a
// `resource` parameter the authorization server uses a default resource indicator, and SHOULD infer it from
// `scope`; when the scopes refer to different default resources it SHOULD reject the request with
// `invalid_scope` (RFC 6749 §4.1.2.1, §5.2). A scope "refers to" the registered resources that define it.
//
// The rule, the same at the authorization and token endpoints and for every grant:
//   - no API scope requested (only OpenID Connect scopes, or none): nothing to infer, no resource;
//   - every API scope defined by one and the same resource, and by no other: that resource;
//   - an API scope no registered resource defines: `invalid_scope` naming it (it would otherwise be dropped
//     without a word, or granted with no audience);
//   - API scopes defined by more than one resource: `invalid_scope` naming the resources, so the client knows
//     to send `resource`.
// Pure: the caller looks the resources up and turns a refusal into its endpoint's error.

/** What the rule needs of a registered resource. */
export interface ScopedResource {
  identifier: string;
  scopes: readonly string[];
}

export type DefaultResource =
  | { resource: string | undefined }
  | { refusal: ScopeRefusal };

export interface ScopeRefusal {
  /** RFC 6749 §5.2 for an unknown scope, RFC 9068 §3 for scopes of several resources. */
  error: 'invalid_scope';
  rule: 'unknown_scope' | 'ambiguous_resource';
  description: string;
  /** The scope the refusal is about, for oidc-provider's InvalidScope (echoed as `scope` in its error). */
  scope?: string;
}

/** The requested scopes that are not OpenID Connect scopes, each once, in request order. */
export function apiScopes(requested: Iterable<string>, oidcScopes: Iterable<string>): string[] {
  const oidc = new Set(oidcScopes);
  return [...new Set([...requested].filter((scope) => scope && !oidc.has(scope)))];
}

/**
 * The resource the request's API scopes refer to. `candidates` holds at least every registered resource that
 * defines one of them; resources defining none of them change nothing.
 */
export function defaultResourceFor(scopes: readonly string[], candidates: readonly ScopedResource[]): DefaultResource {
  if (!scopes.length) return { resource: undefined };
  const unknown = scopes.find((scope) => !candidates.some((resource) => resource.scopes.includes(scope)));
  if (unknown !== undefined) {
    return {
      refusal: {
        error: 'invalid_scope',
        rule: 'unknown_scope',
        scope: unknown,
        description: `scope "${unknown}" is not defined by any registered resource`,
      },
    };
  }
  const covering = candidates.filter((resource) => scopes.every((scope) => resource.scopes.includes(scope)));
  if (covering.length === 1) return { resource: covering[0].identifier };
  // Either several resources define all of them, or no single one does: the request is ambiguous either way.
  const involved = [...new Set((covering.length ? covering : candidates.filter((resource) => scopes.some((scope) => resource.scopes.includes(scope))))
    .map((resource) => resource.identifier))].sort();
  return {
    refusal: {
      error: 'invalid_scope',
      rule: 'ambiguous_resource',
      description: `the requested scopes refer to more than one resource (${involved.map((id) => `"${id}"`).join(', ')}): `
        + 'send the resource parameter (RFC 8707) to say which',
    },
  };
}

/**
 * A request naming one resource and API scopes of which it defines none would be consented to, and get a code and
 * a token, with no scope at all; refused instead, as a token request of that kind is (responseScope).
 */
export function namedResourceRefusal(scopes: readonly string[], resource: ScopedResource): ScopeRefusal | undefined {
  if (!scopes.length || scopes.some((scope) => resource.scopes.includes(scope))) return undefined;
  return {
    error: 'invalid_scope',
    rule: 'unknown_scope',
    scope: scopes.join(' '),
    description: `resource "${resource.identifier}" defines none of the requested scopes (${scopes.join(' ')})`,
  };
}

/**
 * The `scope` member of a token response. RFC 6749 §3.3 and §5.1 require it whenever the granted scope differs
 * from the requested one; we send it whenever the token has a scope, so a client never has to compare. A request
 * that asked for scopes and would get a token with none is refused instead: an empty scope cannot be written
 * (§3.3: scope is one or more scope-tokens) and a scope-less token is what the client did not ask for.
 */
export function responseScope(requested: readonly string[], granted: readonly string[]): { scope: string | undefined } | { refusal: string } {
  if (granted.length) return { scope: granted.join(' ') };
  if (requested.length) return { refusal: `none of the requested scopes (${requested.join(' ')}) can be granted for this request` };
  return { scope: undefined };
}
