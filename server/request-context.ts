// What is known about the request being handled, wherever in its async call tree code runs: the log mixes its
// request id into every line written while handling it (from an adapter as much as from a route), and storage
// spans find the request's span to hang under.
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Span } from '@opentelemetry/api';

export interface RequestContext {
  readonly requestId: string;
  /** The request's span, when tracing is on. */
  span?: Span;
}

export const requestContext = new AsyncLocalStorage<RequestContext>();

// An incoming X-Request-Id is kept (so a proxy's id follows the request through our logs) only when it is a short
// token of safe characters: anything else could forge log structure or carry data nobody meant to log.
const ACCEPTED_REQUEST_ID = /^[\w.:-]{1,128}$/;

export function acceptedRequestId(incoming: string): string | undefined {
  return incoming && ACCEPTED_REQUEST_ID.test(incoming) ? incoming : undefined;
}
