import { Counter, Histogram } from "prom-client";
import type { Logger } from "../platform/logger.ts";
import type { Metrics } from "../platform/metrics/metrics.ts";
import type {
  IntegrationDeclarations,
  RegisteredIntegration,
} from "../platform/resilience/integration-registry.ts";
import { integrationMetricsRegistered } from "../platform/resilience/integration-policy.ts";
import { IntegrationStats } from "../platform/resilience/integration-stats.ts";
import type { PolicySettings } from "../platform/resilience/policy-settings.ts";
import type { AttemptResult } from "./webhook-attempt.ts";

/** The `outcome` label of ventros_webhook_deliveries_total. */
export type DeliveryOutcome =
  "succeeded" | "retrying" | "failed" | "gone" | "interrupted" | "deferred" | "skipped";

const INTEGRATION = "webhooks";

/**
 * Webhook delivery metrics (INTEGRATIONS.md names), the shared integration metrics with
 * integration="webhooks", and the in-process stats behind the `webhooks` row of
 * GET /v1/integrations. Registered on the app's own registry.
 */
export class WebhookDeliveryMetrics {
  private readonly deliveries: Counter<"outcome">;
  private readonly firstAttemptLatency: Histogram;
  private readonly stats = new IntegrationStats();

  constructor(
    private readonly metrics: Metrics,
    private readonly logger: Logger,
  ) {
    this.deliveries = new Counter({
      name: "ventros_webhook_deliveries_total",
      help: "Webhook delivery steps by outcome (succeeded, retrying, failed, gone, interrupted, deferred, skipped)",
      labelNames: ["outcome"],
      registers: [metrics.registry],
    });
    this.firstAttemptLatency = new Histogram({
      name: "ventros_webhook_first_attempt_latency_seconds",
      help: "From a webhook message's creation (its event fanned out) to the end of its first attempt",
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15, 60],
      registers: [metrics.registry],
    });
    metrics.circuitBreakerState.set({ integration: INTEGRATION }, 0);
  }

  /** One HTTP attempt, whatever came of it. */
  attempted(result: AttemptResult): void {
    const status = result.statusCode;
    const outcome =
      status !== undefined && status >= 200 && status < 300
        ? "success"
        : result.timedOut
          ? "timeout"
          : "error";
    this.stats.record(outcome, result.durationMs);
    this.metrics.integrationRequests.inc({
      integration: INTEGRATION,
      operation: "deliver",
      outcome,
    });
    this.metrics.integrationRequestDuration.observe(
      { integration: INTEGRATION, operation: "deliver" },
      result.durationMs / 1000,
    );
  }

  delivered(outcome: DeliveryOutcome, firstCreatedAt?: Date, result?: AttemptResult): void {
    this.deliveries.inc({ outcome });
    if (outcome === "retrying")
      this.metrics.integrationRetries.inc({ integration: INTEGRATION, operation: "deliver" });
    if (firstCreatedAt && result) {
      const seconds =
        (result.startedAt.getTime() + result.durationMs - firstCreatedAt.getTime()) / 1000;
      this.firstAttemptLatency.observe(Math.max(0, seconds));
    }
    if (outcome === "gone" || outcome === "failed")
      this.logger.warn(
        { integration: INTEGRATION, outcome },
        "webhook delivery ended unsuccessfully",
      );
  }

  /** The `webhooks` row of GET /v1/integrations: every fact from the live settings. */
  registration(
    settings: {
      timeoutMs: number;
      scheduleMs: number[];
      jitterRatio: number;
      disableAfterMs: number;
    },
    declared: IntegrationDeclarations,
  ): RegisteredIntegration {
    const policy: PolicySettings = {
      timeoutMs: settings.timeoutMs,
      retry:
        settings.scheduleMs.length === 0
          ? null
          : {
              maxAttempts: settings.scheduleMs.length + 1,
              baseDelayMs: settings.scheduleMs[0]!,
              maxDelayMs: Math.max(...settings.scheduleMs),
              jitter: "proportional",
              jitterRatio: settings.jitterRatio,
              scheduleMs: settings.scheduleMs,
            },
      // Per endpoint: continuous failure for the whole window opens it (the endpoint is
      // disabled with an event) until an operator enables it again.
      breaker: {
        failureRatio: 1,
        windowMs: settings.disableAfterMs,
        minRequests: 1,
        halfOpenAfterMs: 0,
      },
      bulkhead: null,
      rateLimit: null,
    };
    return {
      integration: INTEGRATION,
      snapshot: () => ({
        integration: INTEGRATION,
        settings: policy,
        breakerState: "closed",
        counts: this.stats.snapshot(),
        latencyMs: this.stats.percentiles(),
        facts: {
          timeout: settings.timeoutMs > 0,
          retry: policy.retry !== null,
          circuitBreaker: settings.disableAfterMs > 0,
          authentication: declared.authentication === true,
          signature: declared.signature === true,
          inputValidation: declared.inputValidation === true,
          unitTests: declared.tests?.unit === true,
          integrationTests: declared.tests?.integration === true,
          e2eTests: declared.tests?.e2e === true,
          logging: true,
          metrics: integrationMetricsRegistered(this.metrics),
        },
      }),
    };
  }
}
