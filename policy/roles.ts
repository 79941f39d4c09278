// Roles: named bundles of scope patterns (policy/scope-patterns.ts) that may inherit other roles. The graph is a
// DAG; what a principal may be granted is its own patterns plus those of every role it holds, transitively. Pure
// functions over the graph as data, so the store, the admin API and token issuance all decide the same way.

/** A role as the graph needs it: its name, its own patterns, and the roles it inherits. */
export interface RoleNode {
  name: string;
  scopes: readonly string[];
  inherits: readonly string[];
}

export type RoleGraph = ReadonlyMap<string, RoleNode>;

export function roleGraph(roles: Iterable<RoleNode>): RoleGraph {
  return new Map([...roles].map((role) => [role.name, role]));
}

/**
 * The path of the cycle `candidate` would close if saved into `graph` (replacing the role of that name), from
 * `candidate` back to it: `['a', 'b', 'c', 'a']`; undefined when it closes none. Inherited names the graph lacks
 * are not followed (the caller refuses them separately).
 */
export function cycleThrough(graph: RoleGraph, candidate: RoleNode): string[] | undefined {
  const next = (name: string) => (name === candidate.name ? candidate.inherits : graph.get(name)?.inherits ?? []);
  // Depth-first from the candidate; only a path back to the candidate is a new cycle (the graph was acyclic).
  const visited = new Set<string>();
  const search = (name: string, path: string[]): string[] | undefined => {
    for (const parent of next(name)) {
      if (parent === candidate.name) return [...path, parent];
      if (visited.has(parent)) continue;
      visited.add(parent);
      const found = search(parent, [...path, parent]);
      if (found) return found;
    }
    return undefined;
  };
  return search(candidate.name, [candidate.name]);
}

/** `assigned` and every role they inherit, transitively, each once, in the order first reached. */
export function expandRoles(graph: RoleGraph, assigned: Iterable<string>): string[] {
  const reached: string[] = [];
  const seen = new Set<string>();
  const visit = (name: string) => {
    // A name no longer in the graph (deleted between reads) grants nothing; seen guards against a stored cycle.
    if (seen.has(name) || !graph.has(name)) return;
    seen.add(name);
    reached.push(name);
    for (const parent of graph.get(name)!.inherits) visit(parent);
  };
  for (const name of assigned) visit(name);
  return reached;
}

/** The scope patterns `assigned` roles grant, their inherited roles' included, each once. */
export function patternsOfRoles(graph: RoleGraph, assigned: Iterable<string>): string[] {
  return [...new Set(expandRoles(graph, assigned).flatMap((name) => graph.get(name)!.scopes))];
}

/** The roles that inherit `name` directly: a role some other role inherits is not deleted from under it. */
export function inheritorsOf(graph: RoleGraph, name: string): string[] {
  return [...graph.values()].filter((role) => role.inherits.includes(name)).map((role) => role.name).sort();
}
