import { Counter, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/**
 * One registry per composed app (not prom-client's global), so two instances in one
 * test process never collide. Names follow INTEGRATIONS.md.
 */
export interface Metrics {
  registry: Registry;
  httpRequestDuration: Histogram<"method" | "route" | "status_code">;
  jobsTotal: Counter<"queue" | "outcome">;
  jobDuration: Histogram<"queue">;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "ventros_" });
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
  };
}
