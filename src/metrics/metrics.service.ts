import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';
import type { KeywardConfig } from '../config/configuration';

/** Label value for a model outside the allowlists, or a team past METRICS_MAX_TEAMS. */
const OTHER_LABEL = 'other';

/** One upstream call, as the spend metrics see it. */
export interface CallMetrics {
  readonly model: string;
  readonly teamId: string | null;
  readonly status: string;
  readonly promptTokens: number;
  readonly cachedTokens: number;
  readonly completionTokens: number;
  readonly reasoningTokens: number;
  readonly costNanos: number;
  readonly upstreamMs: number;
  readonly ttftMs: number | null;
}

interface RouteChildren {
  readonly route: string;
  readonly duration: { observe(seconds: number): void };
  readonly byStatus: Map<number, { inc(): void }>;
}

const LATENCY_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/**
 * One Prometheus registry per application instance (prom-client's global one would be shared).
 * Node's process metrics keep their standard names (`process_cpu_seconds_total`,
 * `nodejs_heap_size_used_bytes`, ...), so stock dashboards work. Labels are bounded: route
 * templates, never raw URLs; models from CHAT_MODELS / EMBEDDING_MODELS, anything else `other`;
 * a team's id for the first METRICS_MAX_TEAMS teams seen by this instance, later ones `other`;
 * `team="none"` for calls that belong to no team.
 */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'keyward_http_requests_total',
    help: 'HTTP requests by method, route template and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });
  readonly duration = new Histogram({
    name: 'keyward_http_request_duration_seconds',
    help: 'HTTP request duration by method and route template',
    labelNames: ['method', 'route'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });
  readonly upstreamCalls = new Counter({
    name: 'keyward_upstream_requests_total',
    help: 'Upstream (OpenAI) calls by model, team and status (HTTP status or client_closed, upstream_error, upstream_timeout)',
    labelNames: ['model', 'team', 'status'] as const,
    registers: [this.registry],
  });
  readonly tokens = new Counter({
    name: 'keyward_tokens_total',
    help: 'Tokens by kind: prompt (cached included), cached, completion (reasoning included), reasoning',
    labelNames: ['model', 'team', 'kind'] as const,
    registers: [this.registry],
  });
  readonly cost = new Counter({
    name: 'keyward_cost_usd_total',
    help: 'Cost of upstream calls in USD (price table, docs/pricing.md)',
    labelNames: ['model', 'team'] as const,
    registers: [this.registry],
  });
  readonly upstreamLatency = new Histogram({
    name: 'keyward_upstream_duration_seconds',
    help: 'Upstream time of a call (a stream: to its last byte)',
    labelNames: ['model', 'team'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly timeToFirstToken = new Histogram({
    name: 'keyward_time_to_first_token_seconds',
    help: 'Streams: from the request to the first frame sent to the client',
    labelNames: ['model', 'team'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly requestLogDropped = new Counter({
    name: 'keyward_request_log_dropped_total',
    help: 'Request-log rows dropped because the write buffer was full (database unreachable)',
    registers: [this.registry],
  });
  /** prom-client's bound children per method and route template (and status): see `observe`. */
  private readonly routes = new Map<string, Map<string, RouteChildren>>();
  private readonly models: ReadonlySet<string>;
  private readonly maxTeams: number;
  private readonly teams = new Set<string>();

  constructor(config: ConfigService<KeywardConfig, true>) {
    collectDefaultMetrics({ register: this.registry });
    const chat = config.get('chat', { infer: true });
    this.models = new Set([...chat.models, ...chat.embeddingModels]);
    this.maxTeams = config.get('requestLog', { infer: true }).metricsMaxTeams;
  }

  /** Route templates only (`/api/v1/keys/:id`), never raw URLs: bounded label cardinality. */
  observe(method: string, route: string | undefined, status: number, seconds: number): void {
    const children = this.childrenOf(method, route ?? 'unmatched');
    let counter = children.byStatus.get(status);
    if (counter === undefined) {
      counter = this.requests.labels(method, children.route, String(status));
      children.byStatus.set(status, counter);
    }
    counter.inc();
    children.duration.observe(seconds);
  }

  /**
   * Every request is counted, so its label objects and prom-client's bound children are
   * made once per method, route template and status, not per request. Bounded like the
   * labels themselves (Node's parser accepts a fixed set of methods).
   */
  private childrenOf(method: string, route: string): RouteChildren {
    let byRoute = this.routes.get(method);
    if (byRoute === undefined) {
      byRoute = new Map();
      this.routes.set(method, byRoute);
    }
    let children = byRoute.get(route);
    if (children === undefined) {
      children = { route, duration: this.duration.labels(method, route), byStatus: new Map() };
      byRoute.set(route, children);
    }
    return children;
  }

  /** Counts one settled upstream call (called where the call is billed). */
  observeCall(call: CallMetrics): void {
    const labels = { model: this.modelLabel(call.model), team: this.teamLabel(call.teamId) };
    this.upstreamCalls.inc({ ...labels, status: call.status });
    const kinds = [
      ['prompt', call.promptTokens],
      ['cached', call.cachedTokens],
      ['completion', call.completionTokens],
      ['reasoning', call.reasoningTokens],
    ] as const;
    for (const [kind, value] of kinds) {
      if (value > 0) this.tokens.inc({ ...labels, kind }, value);
    }
    if (call.costNanos > 0) this.cost.inc(labels, call.costNanos / 1e9);
    this.upstreamLatency.observe(labels, call.upstreamMs / 1000);
    if (call.ttftMs !== null) this.timeToFirstToken.observe(labels, call.ttftMs / 1000);
  }

  private modelLabel(model: string): string {
    return this.models.has(model) ? model : OTHER_LABEL;
  }

  private teamLabel(teamId: string | null): string {
    if (teamId === null) return 'none';
    if (this.teams.has(teamId)) return teamId;
    if (this.teams.size >= this.maxTeams) return OTHER_LABEL;
    this.teams.add(teamId);
    return teamId;
  }
}
