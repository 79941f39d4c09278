// What a store refuses because of the records themselves (a taken name, a permanent state, a cycle of roles), as
// one type: stores know nothing of HTTP, and the admin API turns every one of these into its answer in one place
// (server/admin-domain-errors.ts), so a route does not catch what its store may raise.

export interface DomainRefusal {
  /** The request member the refusal is about: the answer's `field`. */
  field: string;
  /** What the answer says of that field, after its name ("is already taken"). */
  detail: string;
  /**
   * `invalid`: the request cannot be carried out as sent (400). `conflict`: it is well-formed, but the records'
   * present state forbids it until something else changes (409, RFC 9110 §15.5.10).
   */
  kind?: 'invalid' | 'conflict';
}

export abstract class DomainError extends Error {
  /** Stable and machine-readable: ERR_… */
  abstract readonly code: string;
  readonly field: string;
  readonly detail: string;
  readonly kind: 'invalid' | 'conflict';

  constructor(message: string, refusal: DomainRefusal) {
    super(message);
    this.name = new.target.name;
    this.field = refusal.field;
    this.detail = refusal.detail;
    this.kind = refusal.kind ?? 'invalid';
  }
}
