import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';

/** One Prometheus registry per application instance (prom-client's global one would be shared). */
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

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'keyward_' });
  }

  /** Route templates only (`/api/v1/keys/:id`), never raw URLs: bounded label cardinality. */
  observe(method: string, route: string | undefined, status: number, seconds: number): void {
    const template = route ?? 'unmatched';
    this.requests.inc({ method, route: template, status: String(status) });
    this.duration.observe({ method, route: template }, seconds);
  }
}
