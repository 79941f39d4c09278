// Tracing, switched on for one instance with an in-memory exporter: a server span per request named by its
// route template with its status, storage calls as its children, and nothing from an instance in the same
// process that has tracing off (the default).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { loadSettings } from '../../config/settings.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

async function registerClient(server: TestServer): Promise<string> {
  const response = await fetch(`${server.url}/reg`, {
    method: 'POST',
    headers: { authorization: `Bearer ${server.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ grant_types: ['client_credentials'], response_types: [], redirect_uris: [] }),
  });
  const { client_id: id, client_secret: secret } = await response.json() as { client_id: string; client_secret: string };
  return `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
}

const token = (server: TestServer, authorization: string) => fetch(`${server.url}/token`, {
  method: 'POST', headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials',
});

describe('tracing', () => {
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  let traced: TestServer;
  let untraced: TestServer;

  beforeAll(async () => {
    [traced, untraced] = await Promise.all([
      startTestServer('redis+postgres', 'tracing', {}, { tracerProvider }),
      startTestServer('redis+postgres', 'tracing-off'),
    ]);
  });
  afterAll(async () => {
    await Promise.all([traced?.stop(), untraced?.stop()]);
    await tracerProvider.shutdown();
  });

  const serverSpans = () => exporter.getFinishedSpans().filter((span) => span.kind === SpanKind.SERVER);

  it('is off unless configured', () => {
    expect(loadSettings({}).tracing).toBe('off');
    expect(loadSettings({ TRACING: 'otlp' }).tracing).toBe('otlp');
    expect(loadSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' }).tracing).toBe('otlp');
    expect(loadSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', TRACING: 'off' }).tracing).toBe('off');
  });

  it('exports a server span per request with route and status, and the storage calls under it', async () => {
    const basic = await registerClient(traced);
    exporter.reset();
    const response = await token(traced, basic);
    expect(response.status).toBe(200);
    const [span] = serverSpans();
    expect(serverSpans()).toHaveLength(1);
    expect(span.name).toBe('POST /token');
    expect(span.attributes).toMatchObject({
      'http.request.method': 'POST', 'http.route': '/token', 'url.path': '/token', 'http.response.status_code': 200, 'oauth.grant_type': 'client_credentials',
    });
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
    const children = exporter.getFinishedSpans().filter((child) => child.parentSpanContext?.spanId === span.spanContext().spanId);
    expect(children.map((child) => child.name)).toContain('redis ClientCredentials.upsert');
    for (const child of children) {
      expect(child.kind).toBe(SpanKind.CLIENT);
      expect(child.spanContext().traceId).toBe(span.spanContext().traceId);
      expect(child.attributes['db.system.name']).toBe('redis');
    }
  });

  it('names unrouted requests by what they are, not by their path, and marks only server errors', async () => {
    exporter.reset();
    expect((await fetch(`${traced.url}/no/such/path`)).status).toBe(404);
    expect((await token(traced, 'Basic bm9ib2R5Om5vdGhpbmc=')).status).toBe(401);
    const [notFound, refused] = serverSpans() as ReadableSpan[];
    expect(notFound).toMatchObject({ name: 'GET unmatched', attributes: expect.objectContaining({ 'http.response.status_code': 404 }) });
    expect(refused).toMatchObject({ name: 'POST /token', attributes: expect.objectContaining({ 'http.response.status_code': 401 }) });
    expect([notFound.status.code, refused.status.code]).toEqual([SpanStatusCode.UNSET, SpanStatusCode.UNSET]);
  });

  it('exports nothing for an instance with tracing off in the same process', async () => {
    exporter.reset();
    const basic = await registerClient(untraced);
    expect((await token(untraced, basic)).status).toBe(200);
    expect(exporter.getFinishedSpans()).toEqual([]);
  });
});
