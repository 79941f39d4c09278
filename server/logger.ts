// The one log: JSON lines (pino) on stdout, each with the request id of the request it was written for. No
// credential reaches it: we log identifiers and outcomes, never bodies or credential headers, and `redact`
// censors the fields that would hold one should an object carrying it ever be logged.
import pino, { type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from '../config/settings.ts';
import { requestContext } from './request-context.ts';

export type { Logger } from 'pino';

const SECRET_FIELDS = [
  'client_secret', 'password', 'access_token', 'refresh_token', 'id_token', 'token', 'code', 'code_verifier',
  'client_assertion', 'assertion', 'subject_token', 'actor_token', 'registration_access_token', 'secret',
];
const SECRET_HEADERS = ['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'dpop', 'x-api-key'];

// Where a credential could sit in what we might log: a top-level field, request parameters or a body, headers.
const CONTAINERS = ['', 'params.', 'body.', 'req.'];

/**
 * Paths pino censors. All explicit: fast-redact compiles them into straight property checks, while one wildcard
 * (`*.password`) makes it walk every line and costs ~100 µs a line (measured by bench/observability.ts).
 */
export const REDACTED_PATHS = [
  ...CONTAINERS.flatMap((container) => SECRET_FIELDS.map((field) => `${container}${field}`)),
  ...['', 'req.'].flatMap((container) => SECRET_HEADERS.map((header) => `${container}headers["${header}"]`)),
];

export interface LoggerOptions {
  level: LogLevel;
  /** Where lines go; stdout (written asynchronously, flushed on exit) unless told otherwise. */
  destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions): Logger {
  return pino({
    level: options.level,
    base: { service: 'agentauth' },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    // Called only for lines actually written, so a disabled level costs nothing here. (pino merges the line's
    // fields into the returned object, so it must be a fresh one.)
    mixin() {
      const request = requestContext.getStore();
      if (!request) return {};
      // With tracing on, the trace id ties the line to its spans.
      return request.span ? { reqId: request.requestId, trace_id: request.span.spanContext().traceId } : { reqId: request.requestId };
    },
  }, options.destination ?? stdoutDestination());
}

let stdout: ReturnType<typeof pino.destination> | undefined;

// Asynchronous writes keep the write(2) off the request path, and lines are written in chunks of at least
// MIN_WRITE bytes, or FLUSH_MS after they were logged when fewer come: one write(2) per access-log line was ~60 µs
// of CPU per token request (the syscall, and waking the reader), 10–15 % of the token endpoint's cost in the
// profile. Whatever is still buffered is written synchronously when the process exits (a SIGKILL can lose the
// last FLUSH_MS of lines). A reader that stops reading costs at most MAX_BUFFERED bytes of memory; lines beyond
// are dropped rather than the process running out of memory. One destination per process, however many servers
// (tests run several) log to it.
const MAX_BUFFERED = 16 * 1024 * 1024;
const MIN_WRITE = 8 * 1024;
const FLUSH_MS = 100;

function stdoutDestination(): DestinationStream {
  if (stdout) return stdout;
  const destination = pino.destination({ dest: 1, sync: false, maxLength: MAX_BUFFERED, minLength: MIN_WRITE });
  setInterval(() => {
    try {
      destination.flush();
    } catch {
      // stdout closed: nothing left to write to (as at exit).
    }
  }, FLUSH_MS).unref();
  process.once('exit', () => {
    try {
      destination.flushSync();
    } catch {
      // stdout already closed: nothing left to write to.
    }
  });
  stdout = destination;
  return destination;
}

/** For modules that report in lines (adapters): each line becomes one log entry at `level`. */
export function lineLogger(logger: Logger, level: 'warn' | 'error' | 'info', fields?: Record<string, string>): (line: string) => void {
  const target = fields ? logger.child(fields) : logger;
  return (line) => target[level](line);
}
