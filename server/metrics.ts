// Prometheus metrics of one server instance, on a registry of its own (two instances in one process, as in the
// tests, never share or clash). Labels are low-cardinality by construction: a route is the template the router
// matched (never the raw path), a grant type only one the client is registered for, an error code only a
// well-formed OAuth code; anything else is `other`.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { DependencyState } from '../adapters/dependency-state.ts';

// Seconds. The token endpoint answers in about a millisecond; an outage is bounded by DEPENDENCY_TIMEOUT_MS.
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const ERROR_CODE = /^[a-z_]{1,64}$/;

export interface RequestFacts {
  route: string;
  method: string;
  status: number;
  seconds: number;
  /** Set on token endpoint requests only. */
  grantType?: string;
}

export interface IssuedToken {
  grantType: string;
  tokenType: 'access_token' | 'refresh_token' | 'id_token' | 'txn_token';
  format: 'jwt' | 'opaque';
}

export type BacklogSource = () => number | Promise<number>;

export class ServerMetrics {
  readonly registry = new Registry();
  readonly #requests: Counter<'route' | 'method' | 'status' | 'grant_type'>;
  readonly #latency: Histogram<'route' | 'method' | 'status' | 'grant_type'>;
  readonly #issued: Counter<'grant_type' | 'token_type' | 'format'>;
  readonly #refused: Counter<'grant_type' | 'error'>;
  readonly #dependencyErrors: Counter<'dependency'>;
  readonly #dependencies: DependencyState[] = [];
  #auditBacklog: BacklogSource = () => 0;

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    // Token endpoint requests carry their grant type as a label of these two rather than metrics of their own:
    // two updates per request instead of four (each costs ~1 µs).
    const labelNames = ['route', 'method', 'status', 'grant_type'] as const;
    this.#requests = new Counter({ name: 'agentauth_http_requests_total', help: 'HTTP requests answered, by route template, method, status and (token endpoint) grant type', labelNames, registers });
    this.#latency = new Histogram({ name: 'agentauth_http_request_duration_seconds', help: 'Time to answer an HTTP request, by route template, method, status and (token endpoint) grant type', labelNames, buckets: LATENCY_BUCKETS, registers });
    this.#issued = new Counter({ name: 'agentauth_tokens_issued_total', help: 'Tokens issued, by grant type, token type and format', labelNames: ['grant_type', 'token_type', 'format'], registers });
    this.#refused = new Counter({ name: 'agentauth_tokens_refused_total', help: 'Token requests refused, by grant type and OAuth error code', labelNames: ['grant_type', 'error'], registers });
    this.#dependencyErrors = new Counter({ name: 'agentauth_dependency_errors_total', help: 'Failed connections and calls to Redis or PostgreSQL that meant it was unreachable', labelNames: ['dependency'], registers });
    const dependencies = this.#dependencies;
    new Gauge({
      name: 'agentauth_dependency_up', help: '1 while Redis or PostgreSQL is reachable from this instance, as last observed, 0 while it is not', labelNames: ['dependency'], registers,
      collect() {
        for (const state of dependencies) this.set({ dependency: state.dependency }, state.available ? 1 : 0);
      },
    });
    const metrics = this;
    new Gauge({
      name: 'agentauth_audit_backlog', help: 'Audit events recorded but not yet written to PostgreSQL', registers,
      async collect() {
        this.set(await metrics.#auditBacklog());
      },
    });
  }

  /** Where the audit backlog gauge reads its value (the audit log's buffer, or a durable queue's length). */
  registerAuditBacklog(source: BacklogSource): void {
    this.#auditBacklog = source;
  }

  /** Reports a dependency's state in the up gauge and counts its failures. */
  watchDependency(state: DependencyState): void {
    this.#dependencies.push(state);
    this.#dependencyErrors.inc({ dependency: state.dependency }, 0);
    state.onFailure(() => this.#dependencyErrors.inc({ dependency: state.dependency }));
  }

  requestAnswered(facts: RequestFacts): void {
    const status = statusLabel(facts.status);
    // Without grant_type elsewhere: an absent label, not an empty one.
    const labels = facts.grantType === undefined
      ? { route: facts.route, method: facts.method, status }
      : { route: facts.route, method: facts.method, status, grant_type: facts.grantType };
    this.#requests.inc(labels);
    this.#latency.observe(labels, facts.seconds);
  }

  tokenIssued(token: IssuedToken): void {
    this.#issued.inc({ grant_type: token.grantType, token_type: token.tokenType, format: token.format });
  }

  tokenRefused(grantType: string, error: string | undefined): void {
    this.#refused.inc({ grant_type: grantType, error: error && ERROR_CODE.test(error) ? error : 'other' });
  }

  /** The exposition text and its content type. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

// Status codes as strings are a bounded set (100-599); cached so a request allocates none.
const STATUS_LABELS = new Map<number, string>();
function statusLabel(status: number): string {
  let label = STATUS_LABELS.get(status);
  if (label === undefined) {
    label = String(status);
    STATUS_LABELS.set(status, label);
  }
  return label;
}
