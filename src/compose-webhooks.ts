import type { Kysely } from "kysely";
import type { Config } from "./config.ts";
import { parseDelays } from "./domain/webhook-retry-schedule.ts";
import { pruneWebhookDeliveriesJob } from "./jobs/prune-webhook-deliveries.ts";
import type { JobQueue } from "./platform/jobs/job-queue.ts";
import { APP_VERSION } from "./platform/app-version.ts";
import type { SecretBox } from "./platform/crypto/secret-box.ts";
import type { DB } from "./platform/db/schema.ts";
import { HttpClient } from "./platform/http-client/http-client.ts";
import { splitAllowTargets, type Resolver } from "./platform/http-client/ssrf-guard.ts";
import type { Logger } from "./platform/logger.ts";
import type { Metrics } from "./platform/metrics/metrics.ts";
import type { IntegrationRegistry } from "./platform/resilience/integration-registry.ts";
import { outboundUrlGuard } from "./services/outbound-url-guard.ts";
import type { UnitOfWork } from "./services/unit-of-work.ts";
import { WebhookDeliveries } from "./services/webhook-deliveries.ts";
import { WebhookDeliveryMetrics } from "./services/webhook-delivery-metrics.ts";
import { WebhookDispatcher } from "./services/webhook-dispatcher.ts";
import { WebhookEndpoints } from "./services/webhook-endpoints.ts";
import { webhookFanout } from "./services/webhook-fanout.ts";
import { WebhookOutcomes } from "./services/webhook-outcomes.ts";
import { SuccessBatch } from "./services/webhook-success-batch.ts";

/** Part of the composition root: integrator webhooks (endpoints, fan-out, delivery). */
export function composeWebhooks({
  config,
  db,
  uow,
  box,
  logger,
  metrics,
  integrations,
  jobs,
  resolver,
  now = Date.now,
}: {
  config: Config;
  db: Kysely<DB>;
  uow: UnitOfWork;
  box: SecretBox;
  logger: Logger;
  metrics: Metrics;
  integrations: IntegrationRegistry;
  /** The job queue (retention of finished deliveries). */
  jobs: () => JobQueue;
  /** Injected DNS (tests); the system resolver otherwise. */
  resolver?: Resolver;
  /** Injected clock (tests drive the retry schedule with it). */
  now?: () => number;
}) {
  const allow = splitAllowTargets(config.WEBHOOK_ALLOW_TARGETS);
  const timeoutMs = config.WEBHOOK_TIMEOUT_MS;
  const http = new HttpClient({
    provider: "webhooks",
    connectTimeoutMs: Math.min(config.OUTBOUND_CONNECT_TIMEOUT_MS, timeoutMs),
    headersTimeoutMs: timeoutMs,
    bodyTimeoutMs: timeoutMs,
    maxResponseBytes: config.WEBHOOK_MAX_RESPONSE_BYTES,
    // A 3xx is an answer (a failed attempt), never followed.
    redirects: "return",
    guard: {
      allowCidrs: allow.cidrs,
      allowHosts: allow.hosts,
      httpsOnly: config.WEBHOOK_HTTPS_ONLY === "true",
      ...(resolver ? { resolver } : {}),
    },
  });
  const endpoints = new WebhookEndpoints({
    db,
    uow,
    box,
    guard: outboundUrlGuard(http.guard, "WEBHOOK_URL_NOT_ALLOWED"),
    secretGraceMs: config.WEBHOOK_SECRET_GRACE_HOURS * 3_600_000,
    now,
  });
  const scheduleMs = parseDelays(config.WEBHOOK_RETRY_SCHEDULE);
  const disableAfterMs = config.WEBHOOK_DISABLE_AFTER_HOURS * 3_600_000;
  const deliveryMetrics = new WebhookDeliveryMetrics(metrics, logger);
  integrations.register(
    deliveryMetrics.registration(
      { timeoutMs, scheduleMs, jitterRatio: config.WEBHOOK_RETRY_JITTER_RATIO, disableAfterMs },
      {
        // Every delivery authenticates itself to the receiver: the Standard Webhooks
        // signature, plus any credentials the endpoint's sealed custom headers carry.
        authentication: true,
        signature: true,
        inputValidation: true,
        tests: { unit: true, integration: true, e2e: true },
      },
    ),
  );
  const outcomes = new WebhookOutcomes(uow, new SuccessBatch(db), {
    schedule: { delaysMs: scheduleMs, jitterRatio: config.WEBHOOK_RETRY_JITTER_RATIO },
    disableAfterMs,
  });
  const dispatcher = new WebhookDispatcher({
    db,
    http,
    endpoints,
    outcomes,
    metrics: deliveryMetrics,
    logger,
    now,
    settings: {
      timeoutMs,
      maxResponseBytes: config.WEBHOOK_MAX_RESPONSE_BYTES,
      userAgent: `Ventros-Webhooks/${APP_VERSION}`,
      concurrency: config.WEBHOOK_CONCURRENCY,
      batchSize: config.WEBHOOK_BATCH_SIZE,
      pollIntervalMs: config.WEBHOOK_POLL_INTERVAL_MS,
      // Twice the attempt budget: a live attempt always ends (and records) before then.
      leaseMs: Math.max(2 * timeoutMs, 1_000),
    },
  });
  const wake = () => dispatcher.notify();
  const deliveries = new WebhookDeliveries({ db, now, wake });
  const consumer = webhookFanout({ now, wake });
  const prune = pruneWebhookDeliveriesJob({
    db,
    retentionDays: config.WEBHOOK_RETENTION_DAYS,
    jobs,
    logger,
    now,
  });
  return { endpoints, deliveries, dispatcher, consumer, http, recurringJobs: [prune] };
}
