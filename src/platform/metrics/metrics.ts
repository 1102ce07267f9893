import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/**
 * One registry per composed app (not prom-client's global), so two instances in one
 * test process never collide. Names follow INTEGRATIONS.md.
 */
export interface Metrics {
  registry: Registry;
  httpRequestDuration: Histogram<"method" | "route" | "status_code">;
  jobsTotal: Counter<"queue" | "outcome">;
  jobDuration: Histogram<"queue">;
  outboxLag: Gauge;
  outboxPublishLatency: Histogram;
  outboxPublished: Counter;
  outboxPublishFailures: Counter;
  eventConsumerTotal: Counter<"consumer" | "outcome">;
  circuitBreakerState: Gauge<"integration">;
  integrationRequests: Counter<"integration" | "operation" | "outcome">;
  integrationRequestDuration: Histogram<"integration" | "operation">;
  integrationRetries: Counter<"integration" | "operation">;
  cacheRequests: Counter<"cache" | "result">;
  cacheHitRatio: Gauge<"cache">;
  cacheL2Errors: Counter<"operation">;
  cacheFillsDiscarded: Counter<"reason">;
  cacheCoherent: Gauge;
  rateLimitDecisions: Counter<"limiter" | "outcome" | "store">;
}

export interface MetricCollectors {
  /** Read at scrape time, so the value is exact even when the relay is stuck. */
  outboxLagSeconds?: () => Promise<number>;
}

export function createMetrics(collectors: MetricCollectors = {}): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "ventros_" });
  const cacheRequests = new Counter({
    name: "ventros_cache_requests_total",
    help: "Cache reads by cache and result (hit, miss, stale, error, bypass)",
    labelNames: ["cache", "result"],
    registers: [registry],
  });
  return {
    registry,
    httpRequestDuration: new Histogram({
      name: "ventros_http_request_duration_seconds",
      help: "HTTP requests by method, route template and status code",
      labelNames: ["method", "route", "status_code"],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    jobsTotal: new Counter({
      name: "ventros_jobs_total",
      help: "Durable job executions by queue and outcome (completed, retried, failed, dead_lettered)",
      labelNames: ["queue", "outcome"],
      registers: [registry],
    }),
    jobDuration: new Histogram({
      name: "ventros_job_duration_seconds",
      help: "Durable job handler duration by queue",
      labelNames: ["queue"],
      buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300],
      registers: [registry],
    }),
    outboxLag: new Gauge({
      name: "ventros_outbox_lag_seconds",
      help: "Age of the oldest unpublished outbox event (0 when none)",
      registers: [registry],
      async collect() {
        if (collectors.outboxLagSeconds)
          this.set(await collectors.outboxLagSeconds().catch(() => -1));
      },
    }),
    outboxPublishLatency: new Histogram({
      name: "ventros_outbox_publish_latency_seconds",
      help: "From the event's commit to the bus accepting it",
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30],
      registers: [registry],
    }),
    outboxPublished: new Counter({
      name: "ventros_outbox_published_total",
      help: "Outbox events accepted by the bus",
      registers: [registry],
    }),
    outboxPublishFailures: new Counter({
      name: "ventros_outbox_publish_failures_total",
      help: "Outbox publish attempts that failed and will be retried",
      registers: [registry],
    }),
    eventConsumerTotal: new Counter({
      name: "ventros_event_consumer_total",
      help: "Event deliveries to consumers by outcome (applied, duplicate, retried, dead_lettered)",
      labelNames: ["consumer", "outcome"],
      registers: [registry],
    }),
    circuitBreakerState: new Gauge({
      name: "ventros_circuit_breaker_state",
      help: "Circuit breaker state per integration: 0 closed, 1 half-open, 2 open",
      labelNames: ["integration"],
      registers: [registry],
    }),
    integrationRequests: new Counter({
      name: "ventros_integration_requests_total",
      help: "Outbound attempts by integration, operation and outcome (success, error, timeout, cancelled, rejected_open, rejected_bulkhead, rate_limited)",
      labelNames: ["integration", "operation", "outcome"],
      registers: [registry],
    }),
    integrationRequestDuration: new Histogram({
      name: "ventros_integration_request_duration_seconds",
      help: "Outbound attempts that reached the provider, by integration and operation",
      labelNames: ["integration", "operation"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
      registers: [registry],
    }),
    integrationRetries: new Counter({
      name: "ventros_integration_retries_total",
      help: "Retries scheduled by integration policies, by integration and operation",
      labelNames: ["integration", "operation"],
      registers: [registry],
    }),
    cacheRequests,
    cacheHitRatio: new Gauge({
      name: "ventros_cache_hit_ratio",
      help: "Share of cache reads answered from the cache (hit + stale) since start, per cache",
      labelNames: ["cache"],
      registers: [registry],
      async collect() {
        const totals = new Map<string, { served: number; all: number }>();
        for (const { labels, value } of (await cacheRequests.get()).values) {
          const cache = String(labels.cache);
          const total = totals.get(cache) ?? { served: 0, all: 0 };
          total.all += value;
          if (labels.result === "hit" || labels.result === "stale") total.served += value;
          totals.set(cache, total);
        }
        for (const [cache, { served, all }] of totals)
          this.set({ cache }, all === 0 ? 0 : served / all);
      },
    }),
    cacheL2Errors: new Counter({
      name: "ventros_cache_l2_errors_total",
      help: "Failed or refused (breaker open) Redis operations of the cache's second tier and bus",
      labelNames: ["operation"],
      registers: [registry],
    }),
    cacheFillsDiscarded: new Counter({
      name: "ventros_cache_fills_discarded_total",
      help: "Values loaded by a cache factory and answered but not stored, by reason (invalidated while loading, slow, incoherent)",
      labelNames: ["reason"],
      registers: [registry],
    }),
    cacheCoherent: new Gauge({
      name: "ventros_cache_coherent",
      help: "1 when this instance's cache may be read (no Redis, or its invalidation bus is subscribed); 0 while reads bypass it",
      registers: [registry],
    }),
    rateLimitDecisions: new Counter({
      name: "ventros_rate_limit_decisions_total",
      help: "Rate-limit decisions by limiter, outcome (allowed, refused) and store (redis, memory)",
      labelNames: ["limiter", "outcome", "store"],
      registers: [registry],
    }),
  };
}
