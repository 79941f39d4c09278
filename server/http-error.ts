// Errors our own routes throw; the error middleware in app.ts renders them as OAuth-style JSON
// ({ error, error_description[, field] }), the shape every client of this server already parses.

export class HttpError extends Error {
  readonly status: number;
  readonly error: string;
  readonly field: string | undefined;
  readonly headers: Record<string, string>;

  constructor(status: number, error: string, description: string, options: { field?: string; headers?: Record<string, string> } = {}) {
    super(description);
    this.name = 'HttpError';
    this.status = status;
    this.error = error;
    this.field = options.field;
    this.headers = options.headers ?? {};
  }
}

export class NotFound extends HttpError {
  constructor(what: string) {
    super(404, 'not_found', `${what} not found`);
  }
}

/** 400 naming the offending field, as the admin API contract requires. */
export class InvalidField extends HttpError {
  constructor(field: string, description: string) {
    super(400, 'invalid_request', `${field}: ${description}`, { field });
  }
}
