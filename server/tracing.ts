// OpenTelemetry tracing, off unless configured (TRACING=otlp or an OTLP endpoint): a server span per request,
// named by method and route template, and a client span around each call to the session and token store, as
// its child. The request span is carried in the request context rather than OpenTelemetry's own context, so
// spans nest without a global context manager and two servers in one process keep their tracers apart.
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, propagation, trace, type Span, type Tracer, type TracerProvider } from '@opentelemetry/api';
import type { RequestObserver } from './observe-requests.ts';
import { requestContext } from './request-context.ts';

const TRACER_NAME = 'agentauth';

export function tracerFrom(provider: TracerProvider): Tracer {
  return provider.getTracer(TRACER_NAME);
}

const headerGetter = {
  keys: (carrier: Record<string, unknown>) => Object.keys(carrier),
  get: (carrier: Record<string, unknown>, key: string) => carrier[key] as string | string[] | undefined,
};

export function requestTracing(tracer: Tracer): RequestObserver {
  return {
    begin(ctx, request) {
      // A caller's W3C traceparent continues its trace (with whatever propagator the SDK registered).
      const parent = propagation.extract(ROOT_CONTEXT, ctx.headers, headerGetter);
      request.span = tracer.startSpan(ctx.method, {
        kind: SpanKind.SERVER,
        attributes: { 'http.request.method': ctx.method, 'url.path': ctx.path, 'url.scheme': ctx.protocol },
      }, parent);
    },
    end(ctx, answered, request) {
      const span = request.span;
      if (!span) return;
      span.updateName(`${ctx.method} ${answered.route}`);
      span.setAttribute('http.route', answered.route);
      span.setAttribute('http.response.status_code', answered.status);
      if (answered.grantType) span.setAttribute('oauth.grant_type', answered.grantType);
      if (answered.clientId) span.setAttribute('oauth.client_id', answered.clientId);
      // OpenTelemetry HTTP conventions: on a server span only 5xx is an error (4xx is the client's).
      if (answered.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    },
  };
}

/**
 * The adapter of one oidc-provider model with a span around each method call (`redis AccessToken.find`).
 * Only used while tracing is on: the wrapper costs a closure per call.
 */
export function tracedAdapter<T extends object>(adapter: T, model: string, system: string, tracer: Tracer): T {
  return new Proxy(adapter, {
    get(target, key) {
      const value = Reflect.get(target, key, target) as unknown;
      if (typeof value !== 'function' || typeof key !== 'string') return value;
      return (...args: unknown[]) => traced(tracer, `${system} ${model}.${key}`, system, key, () => value.apply(target, args));
    },
  });
}

async function traced<R>(tracer: Tracer, name: string, system: string, operation: string, call: () => Promise<R>): Promise<R> {
  const parent = requestContext.getStore()?.span;
  const span: Span = tracer.startSpan(name, {
    kind: SpanKind.CLIENT,
    attributes: { 'db.system.name': system, 'db.operation.name': operation },
  }, parent ? trace.setSpan(ROOT_CONTEXT, parent) : ROOT_CONTEXT);
  try {
    return await call();
  } catch (error) {
    span.recordException(error as Error);
    span.setStatus({ code: SpanStatusCode.ERROR });
    throw error;
  } finally {
    span.end();
  }
}

/**
 * Process-wide: registers the OpenTelemetry Node SDK with an OTLP/HTTP trace exporter, configured by the standard
 * OTEL_* variables (endpoint, headers, service name, sampler). Loaded only when tracing is on.
 */
export async function startOtlpTracing(): Promise<{ provider: TracerProvider; shutdown(): Promise<void> }> {
  const [{ NodeSDK }, { OTLPTraceExporter }] = await Promise.all([
    import('@opentelemetry/sdk-node'),
    import('@opentelemetry/exporter-trace-otlp-http'),
  ]);
  const sdk = new NodeSDK({ serviceName: 'agentauth', traceExporter: new OTLPTraceExporter(), instrumentations: [] });
  sdk.start();
  return { provider: trace.getTracerProvider(), shutdown: () => sdk.shutdown() };
}
