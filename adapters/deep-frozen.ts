// Records the read-through caches hand to every reader as one shared object (adapters/read-through-cache.ts):
// frozen all the way down, so no reader can change what the others, and later requests, are given.

/** `value`, frozen with everything it holds. */
export function deepFrozen<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const member of Object.values(value)) deepFrozen(member);
    Object.freeze(value);
  }
  return value;
}
