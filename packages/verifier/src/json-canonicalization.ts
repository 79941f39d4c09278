// RFC 8785 JSON Canonicalization Scheme: one byte sequence for one JSON value, so an agent and a resource server
// that serialize the same MCP tool arguments differently (key order, whitespace) still compute the same digest.
// JSON.stringify already writes strings (§3.2.2.2) and numbers (§3.2.2.3, ECMAScript's Number serialization) as
// JCS requires; what it does not do is sort object members by their UTF-16 code units (§3.2.3), done here.

/** The JCS text of `value`; throws a TypeError for what JSON cannot represent (undefined, NaN, functions, cycles). */
export function canonicalJson(value: unknown, depth = 0): string {
  // Deeper than any tool call's arguments; deep enough input is an attack on the stack, not data.
  if (depth > 64) throw new TypeError('JSON value is nested too deeply to canonicalize');
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError('JSON has no representation for a non-finite number');
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item, depth + 1)).join(',')}]`;
  if (typeof value === 'object') {
    // Array.prototype.sort without a comparator orders strings by UTF-16 code units, exactly §3.2.3.
    const members = Object.keys(value).sort().filter((key) => (value as Record<string, unknown>)[key] !== undefined);
    return `{${members.map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key], depth + 1)}`).join(',')}}`;
  }
  throw new TypeError(`JSON has no representation for a ${typeof value}`);
}
