import {
  BrokenCircuitError,
  BulkheadRejectedError,
  TaskCancelledError,
  TimeoutStrategy,
  bulkhead,
  handleWhen,
  retry,
  timeout,
  type BulkheadPolicy,
  type RetryPolicy,
  type TimeoutPolicy,
} from "cockatiel";
import type { Logger } from "../logger.ts";
import type { Metrics } from "../metrics/metrics.ts";
import { classifyNetworkError } from "./classify-network-error.ts";
import { IntegrationError, type ErrorClassifier } from "./integration-error.ts";
import type {
  BreakerStateName,
  IntegrationDeclarations,
  IntegrationRegistry,
  IntegrationSnapshot,
} from "./integration-registry.ts";
import { IntegrationStats, type CallOutcome } from "./integration-stats.ts";
import { policyRejection, outcomeOf, policyTimeout } from "./policy-errors.ts";
import type { PolicySettings } from "./policy-settings.ts";
import { RetryBackoff } from "./retry-backoff.ts";
import { createSamplingCircuitBreaker } from "./sampling-circuit-breaker.ts";
import { TokenBucket, TokenBucketEmptyError } from "./token-bucket.ts";

export interface IntegrationPolicyConfig extends PolicySettings {
  /** The `integration` label and registry name, e.g. "waha". */
  integration: string;
  /**
   * Abort the signal given to `fn` when it returns too (default true: releases sockets
   * and streams a finished call left open). false for calls that hold nothing (Redis
   * commands): aborting builds a DOMException per call, which measurably cost a cached
   * read through the rate limiter a third of its throughput.
   */
  abortOnReturn?: boolean;
}

export interface IntegrationPolicyDeps {
  /** Breaker transitions are logged here (and earn the logging point). */
  logger?: Logger;
  /** Requests, latency, retries and breaker state are exported here (the metrics point). */
  metrics?: Metrics;
  /** The policy registers itself here for `GET /v1/integrations`. */
  registry?: IntegrationRegistry;
  declared?: IntegrationDeclarations;
  /** Turns whatever the call throws into an IntegrationError; default classifyNetworkError. */
  classify?: ErrorClassifier;
  random?: () => number;
}

export interface ExecuteOptions {
  /** The `operation` label, e.g. "sendText". */
  operation: string;
  /** Repeating it is harmless (a read, or an idempotency key): a timeout is then retryable. */
  idempotent?: boolean;
  /** Per-attempt timeout for this call instead of the policy's (e.g. history pages). */
  timeoutMs?: number;
  /** The caller's cancellation; combined with the per-attempt timeout. */
  signal?: AbortSignal;
}

export interface CallContext {
  operation: string;
  /** 1 for the first attempt. */
  attempt: number;
}

export interface IntegrationPolicy {
  readonly integration: string;
  readonly settings: PolicySettings;
  /** Runs `fn` through rate limit, bulkhead, breaker, retry and timeout; pass `signal` on. */
  execute<T>(
    fn: (signal: AbortSignal, context: CallContext) => Promise<T>,
    options: ExecuteOptions,
  ): Promise<T>;
  breakerState(): BreakerStateName;
  /** True while a call would be refused by the breaker without reaching the provider. */
  isRejecting(): boolean;
  snapshot(): IntegrationSnapshot;
}

/** True when the policy's metrics are the ones registered in the app's registry. */
export const integrationMetricsRegistered = (metrics: Metrics | undefined): boolean =>
  metrics !== undefined &&
  metrics.registry.getSingleMetric("ventros_integration_requests_total") ===
    metrics.integrationRequests &&
  metrics.registry.getSingleMetric("ventros_integration_request_duration_seconds") ===
    metrics.integrationRequestDuration &&
  metrics.registry.getSingleMetric("ventros_integration_retries_total") ===
    metrics.integrationRetries &&
  metrics.registry.getSingleMetric("ventros_circuit_breaker_state") === metrics.circuitBreakerState;

/**
 * One integration's resilience policy on cockatiel. Per attempt, from the outside in:
 * retry (only `retryable` errors, exponential backoff with jitter, Retry-After as the
 * least delay) -> circuit breaker (failure ratio over a window; counts retryable and
 * indeterminate failures, not permanent ones nor our own rejections) -> bulkhead ->
 * token-bucket rate limit -> timeout (aggressive: aborts the signal given to `fn`).
 */
export function createIntegrationPolicy(
  config: IntegrationPolicyConfig,
  deps: IntegrationPolicyDeps = {},
): IntegrationPolicy {
  const { integration, abortOnReturn = true, ...settings } = config;
  const { logger, metrics } = deps;
  const classify: ErrorClassifier = deps.classify ?? classifyNetworkError;
  const stats = new IntegrationStats();
  const timeouts = new Map<number, TimeoutPolicy>();
  const timeoutOf = (ms: number) => {
    let policy = timeouts.get(ms);
    if (!policy)
      timeouts.set(
        ms,
        (policy = timeout(ms, { strategy: TimeoutStrategy.Aggressive, abortOnReturn })),
      );
    return policy;
  };

  const limiter = settings.rateLimit ? new TokenBucket(settings.rateLimit) : undefined;
  const isolation: BulkheadPolicy | undefined = settings.bulkhead
    ? bulkhead(settings.bulkhead.maxConcurrent, settings.bulkhead.maxQueue)
    : undefined;

  const breaker = settings.breaker
    ? createSamplingCircuitBreaker(integration, settings.breaker, { logger, metrics })
    : undefined;

  const retrySettings = settings.retry;
  const retrying: RetryPolicy | undefined = retrySettings
    ? retry(
        handleWhen(
          (error) =>
            error instanceof IntegrationError &&
            error.classification === "retryable" &&
            error.rejectedBy === undefined &&
            (error.retryAfterMs ?? 0) <= retrySettings.maxDelayMs,
        ),
        {
          maxAttempts: retrySettings.maxAttempts - 1,
          backoff: new RetryBackoff(retrySettings, deps.random),
        },
      )
    : undefined;

  const record = (operation: string, outcome: CallOutcome, durationMs?: number) => {
    stats.record(outcome, durationMs);
    metrics?.integrationRequests.inc({ integration, operation, outcome });
    if (durationMs !== undefined)
      metrics?.integrationRequestDuration.observe({ integration, operation }, durationMs / 1000);
  };

  const policy: IntegrationPolicy = {
    integration,
    settings,
    async execute<T>(
      fn: (signal: AbortSignal, context: CallContext) => Promise<T>,
      options: ExecuteOptions,
    ): Promise<T> {
      const { operation } = options;
      const timeoutMs = options.timeoutMs ?? settings.timeoutMs;
      const idempotent = options.idempotent === true;
      const cancelled = () => options.signal?.aborted === true;
      const normalise = (error: unknown): IntegrationError => {
        if (cancelled() && !(error instanceof IntegrationError && error.rejectedBy))
          return policyTimeout(integration, operation, { cancelled: true, timeoutMs, idempotent });
        if (error instanceof IntegrationError) return error;
        if (error instanceof BrokenCircuitError)
          return policyRejection(integration, operation, "circuit_open");
        if (error instanceof BulkheadRejectedError)
          return policyRejection(integration, operation, "bulkhead_full");
        if (error instanceof TokenBucketEmptyError)
          return policyRejection(integration, operation, "rate_limited", error.retryAfterMs);
        if (error instanceof TaskCancelledError)
          return policyTimeout(integration, operation, { cancelled: false, timeoutMs, idempotent });
        return classify(error, integration, { operation, idempotent });
      };

      const attemptOnce = async (signal: AbortSignal, attempt: number): Promise<T> => {
        let startedAt: number | undefined;
        const call = async (inner: AbortSignal): Promise<T> => {
          await limiter?.acquire(settings.rateLimit?.maxWaitMs ?? 0, inner);
          startedAt = performance.now();
          const invoke = (s: AbortSignal) =>
            Promise.resolve()
              .then(() => fn(s, { operation, attempt }))
              .catch((error: unknown) => {
                throw normalise(error);
              });
          return timeoutMs
            ? timeoutOf(timeoutMs).execute(({ signal: s }) => invoke(s), inner)
            : invoke(inner);
        };
        const isolated = (inner: AbortSignal) =>
          isolation ? isolation.execute(({ signal: s }) => call(s), inner) : call(inner);
        try {
          const value = await (breaker
            ? breaker.policy.execute(({ signal: s }) => isolated(s), signal)
            : isolated(signal));
          record(operation, "success", performance.now() - startedAt!);
          return value;
        } catch (error) {
          const failure = normalise(error);
          const duration = startedAt === undefined ? undefined : performance.now() - startedAt;
          record(operation, outcomeOf(failure), duration);
          throw failure;
        }
      };

      const signal = options.signal ?? new AbortController().signal;
      if (!retrying) return attemptOnce(signal, 1);
      return retrying.execute(({ attempt, signal: s }) => {
        // Cockatiel counts retries from 0; every attempt after the first is a retry.
        if (attempt > 0) {
          stats.recordRetry();
          metrics?.integrationRetries.inc({ integration, operation });
        }
        return attemptOnce(s, attempt + 1);
      }, signal);
    },
    breakerState: () => breaker?.state() ?? "disabled",
    isRejecting: () => breaker?.isRejecting() ?? false,
    snapshot: () => ({
      integration,
      settings,
      breakerState: policy.breakerState(),
      counts: stats.snapshot(),
      latencyMs: stats.percentiles(),
      facts: {
        timeout: settings.timeoutMs !== null && settings.timeoutMs > 0,
        retry: retrying !== undefined,
        circuitBreaker: breaker !== undefined,
        authentication: deps.declared?.authentication === true,
        signature: deps.declared?.signature === true,
        inputValidation: deps.declared?.inputValidation === true,
        unitTests: deps.declared?.tests?.unit === true,
        integrationTests: deps.declared?.tests?.integration === true,
        e2eTests: deps.declared?.tests?.e2e === true,
        logging: logger !== undefined,
        metrics: integrationMetricsRegistered(metrics),
      },
    }),
  };
  deps.registry?.register(policy);
  return policy;
}
