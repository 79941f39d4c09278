// Reads request header fields from either shape a resource server has at hand: a fetch `Headers` or Node's
// header record (`req.headers`, or better `req.headersDistinct`, which keeps duplicates Node would otherwise drop:
// node:http discards a second `Authorization`, and RFC 9449 §4.3 / RFC 6750 §3.1 need to see it).

export type HeaderSource = Headers | Record<string, string | string[] | undefined>;

/** Every value of the field `name` (case-insensitive), in order; a fetch `Headers` yields one combined value. */
export function headerValues(headers: HeaderSource, name: string): string[] {
  if (headers instanceof Headers) {
    const value = headers.get(name);
    return value === null ? [] : [value];
  }
  const wanted = name.toLowerCase();
  const values: string[] = [];
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== wanted || value === undefined) continue;
    values.push(...(Array.isArray(value) ? value : [value]));
  }
  return values;
}
