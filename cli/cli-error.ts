// Failures the operator caused or can fix (a bad flag, an unreadable key file, a 4xx from the server). The entry
// point prints their message as one line and exits non-zero; anything else is a bug and keeps its stack.

export class CliError extends Error {
  /** 1 for a failed operation, 2 for a command line that could not be understood (the sysexits convention). */
  readonly exitCode: number;

  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

export class UsageError extends CliError {
  constructor(message: string) {
    super(message, 2);
    this.name = 'UsageError';
  }
}

/** An HTTP error answer from the server, carrying its RFC 6749 §5.2-style `{ error, error_description }`. */
export class ApiError extends CliError {
  readonly status: number;
  readonly error: string;
  readonly description: string | undefined;
  readonly field: string | undefined;

  constructor(status: number, error: string, description?: string, field?: string) {
    super(`HTTP ${status} ${error}${description ? `: ${description}` : ''}`);
    this.name = 'ApiError';
    this.status = status;
    this.error = error;
    this.description = description;
    this.field = field;
  }
}
