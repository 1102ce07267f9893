import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createLogger } from "../logger.ts";
import { createMetrics, type Metrics } from "../metrics/metrics.ts";
import { httpResponseError } from "./classify-http-response.ts";
import { IntegrationError } from "./integration-error.ts";
import { createIntegrationPolicy, type IntegrationPolicyConfig } from "./integration-policy.ts";

const config = (overrides: Partial<IntegrationPolicyConfig> = {}): IntegrationPolicyConfig => ({
  integration: "acme",
  timeoutMs: null,
  retry: null,
  breaker: null,
  bulkhead: null,
  rateLimit: null,
  ...overrides,
});

const unavailable = () => httpResponseError("acme", { status: 503, headers: {} });
const rejected = () => httpResponseError("acme", { status: 400, headers: {} });
const indeterminate = () =>
  new IntegrationError("PROVIDER_CONNECTION_FAILED", "unavailable", "reset after write", {
    provider: "acme",
    classification: "indeterminate",
  });

/** A promise's outcome without leaving a rejection unhandled while timers advance. */
const settle = <T>(promise: Promise<T>) =>
  promise.then(
    (value) => ({ value, error: undefined }),
    (error: unknown) => ({ value: undefined, error: error as IntegrationError }),
  );

const sample = async (
  metric: { get(): Promise<{ values: { labels: object; value: number }[] }> },
  labels: Record<string, string>,
) =>
  (await metric.get()).values.find((v) =>
    Object.entries(labels).every(
      ([k, value]) => (v.labels as Record<string, unknown>)[k] === value,
    ),
  )?.value ?? 0;

let metrics: Metrics;
beforeEach(() => {
  vi.useFakeTimers();
  metrics = createMetrics();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("retry", () => {
  const retry = { maxAttempts: 4, baseDelayMs: 1_000, maxDelayMs: 30_000, jitter: "none" as const };

  it("retries retryable errors with delays doubling from the base", async () => {
    const policy = createIntegrationPolicy(config({ retry }), { metrics });
    const start = Date.now();
    const calls: number[] = [];
    const result = settle(
      policy.execute(
        async () => {
          calls.push(Date.now() - start);
          if (calls.length < 4) throw unavailable();
          return "ok";
        },
        { operation: "send" },
      ),
    );
    await vi.advanceTimersByTimeAsync(10_000);
    expect((await result).value).toBe("ok");
    expect(calls).toEqual([0, 1_000, 3_000, 7_000]);
  });

  it("gives up after the configured attempts with the last error", async () => {
    const policy = createIntegrationPolicy(config({ retry }), { metrics });
    const fn = vi.fn(async () => {
      throw unavailable();
    });
    const result = settle(policy.execute(fn, { operation: "send" }));
    await vi.advanceTimersByTimeAsync(60_000);
    expect((await result).error).toMatchObject({ code: "PROVIDER_UNAVAILABLE", status: 503 });
    expect(fn).toHaveBeenCalledTimes(4);
  });

  it("waits at least the provider's Retry-After", async () => {
    const policy = createIntegrationPolicy(config({ retry }), { metrics });
    const start = Date.now();
    const calls: number[] = [];
    const result = settle(
      policy.execute(
        async () => {
          calls.push(Date.now() - start);
          if (calls.length === 1)
            throw httpResponseError("acme", { status: 429, headers: { "retry-after": "5" } });
          return "ok";
        },
        { operation: "send" },
      ),
    );
    await vi.advanceTimersByTimeAsync(4_999);
    expect(calls).toEqual([0]);
    await vi.advanceTimersByTimeAsync(1);
    expect((await result).value).toBe("ok");
    expect(calls).toEqual([0, 5_000]);
  });

  it("does not wait in-process for a Retry-After beyond the maximum delay", async () => {
    const policy = createIntegrationPolicy(config({ retry }), { metrics });
    const fn = vi.fn(async () => {
      throw httpResponseError("acme", { status: 503, headers: { "retry-after": "3600" } });
    });
    const { error } = await settle(policy.execute(fn, { operation: "send" }));
    expect(error).toMatchObject({ classification: "retryable", retryAfterMs: 3_600_000 });
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it("never retries permanent errors", async () => {
    const policy = createIntegrationPolicy(config({ retry }), { metrics });
    const fn = vi.fn(async () => {
      throw rejected();
    });
    const { error } = await settle(policy.execute(fn, { operation: "send" }));
    expect(error).toMatchObject({ code: "PROVIDER_REJECTED", classification: "permanent" });
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it("never retries indeterminate errors", async () => {
    const policy = createIntegrationPolicy(config({ retry }), { metrics });
    const fn = vi.fn(async () => {
      throw indeterminate();
    });
    const { error } = await settle(policy.execute(fn, { operation: "send" }));
    expect(error?.classification).toBe("indeterminate");
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it("classifies foreign errors: a refused connection is retried, a reset is not", async () => {
    const policy = createIntegrationPolicy(config({ retry }), { metrics });
    const refused = vi.fn(async () => {
      throw Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
    });
    const first = settle(policy.execute(refused, { operation: "send" }));
    await vi.advanceTimersByTimeAsync(60_000);
    expect((await first).error).toMatchObject({ code: "PROVIDER_UNREACHABLE" });
    expect(refused).toHaveBeenCalledTimes(4);
    const reset = vi.fn(async () => {
      throw Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
    });
    const second = await settle(policy.execute(reset, { operation: "send" }));
    expect(second.error?.classification).toBe("indeterminate");
    expect(reset).toHaveBeenCalledTimes(1);
  });
});

describe("timeout", () => {
  it("aborts the signal given to the call and fails as indeterminate, not retried", async () => {
    const policy = createIntegrationPolicy(
      config({
        timeoutMs: 1_000,
        retry: { maxAttempts: 3, baseDelayMs: 100, maxDelayMs: 1_000, jitter: "none" },
      }),
      { metrics },
    );
    const signals: AbortSignal[] = [];
    const fn = vi.fn(
      (signal: AbortSignal) =>
        new Promise<never>(() => {
          signals.push(signal);
        }),
    );
    const result = settle(policy.execute(fn, { operation: "send" }));
    await vi.advanceTimersByTimeAsync(999);
    expect(signals[0]?.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    const { error } = await result;
    expect(signals[0]?.aborted).toBe(true);
    expect(error).toMatchObject({
      code: "INTEGRATION_TIMEOUT",
      kind: "timeout",
      classification: "indeterminate",
    });
    expect(fn).toHaveBeenCalledTimes(1);
    expect(await sample(metrics.integrationRequests, { outcome: "timeout" })).toBe(1);
  });

  it("retries a timed-out idempotent call; a per-call timeout overrides the policy's", async () => {
    const policy = createIntegrationPolicy(
      config({
        timeoutMs: 1_000,
        retry: { maxAttempts: 3, baseDelayMs: 100, maxDelayMs: 1_000, jitter: "none" },
      }),
      { metrics },
    );
    const fn = vi.fn(() => new Promise<never>(() => {}));
    const result = settle(
      policy.execute(fn, { operation: "history", idempotent: true, timeoutMs: 5_000 }),
    );
    await vi.advanceTimersByTimeAsync(4_999);
    expect(fn).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(20_000);
    expect((await result).error).toMatchObject({ classification: "retryable" });
    expect(fn).toHaveBeenCalledTimes(3);
  });

  it("a caller's abort cancels the call and is reported as cancelled", async () => {
    const policy = createIntegrationPolicy(config({ timeoutMs: 10_000 }), { metrics });
    const controller = new AbortController();
    let seen: AbortSignal | undefined;
    const result = settle(
      policy.execute(
        (signal) =>
          new Promise<never>(() => {
            seen = signal;
          }),
        { operation: "send", signal: controller.signal },
      ),
    );
    await vi.advanceTimersByTimeAsync(10);
    controller.abort();
    const { error } = await result;
    expect(seen?.aborted).toBe(true);
    expect(error?.code).toBe("INTEGRATION_CANCELLED");
    expect(await sample(metrics.integrationRequests, { outcome: "cancelled" })).toBe(1);
  });
});

describe("circuit breaker", () => {
  const breaker = { failureRatio: 0.5, windowMs: 30_000, minRequests: 10, halfOpenAfterMs: 10_000 };
  const logLines: Record<string, unknown>[] = [];
  const logger = createLogger("info", {
    write: (line: string) => void logLines.push(JSON.parse(line) as Record<string, unknown>),
  });

  it("opens once the failure ratio is exceeded over the minimum requests; then fails fast", async () => {
    const policy = createIntegrationPolicy(config({ breaker }), { metrics, logger });
    const failing = vi.fn(async () => {
      throw unavailable();
    });
    for (let i = 0; i < 9; i++) await settle(policy.execute(failing, { operation: "send" }));
    expect(policy.breakerState()).toBe("closed");
    await settle(policy.execute(failing, { operation: "send" }));
    expect(policy.breakerState()).toBe("open");
    expect(policy.isRejecting()).toBe(true);
    expect(failing).toHaveBeenCalledTimes(10);

    const fn = vi.fn(async () => "never called");
    const { error } = await settle(policy.execute(fn, { operation: "send" }));
    expect(fn).not.toHaveBeenCalled();
    expect(error).toMatchObject({
      code: "INTEGRATION_CIRCUIT_OPEN",
      kind: "unavailable",
      rejectedBy: "circuit_open",
      classification: "retryable",
    });
    expect(await sample(metrics.circuitBreakerState, { integration: "acme" })).toBe(2);
    expect(await sample(metrics.integrationRequests, { outcome: "rejected_open" })).toBe(1);
    expect(logLines).toContainEqual(
      expect.objectContaining({
        integration: "acme",
        state: "open",
        msg: "circuit breaker state changed",
      }),
    );
  });

  it("lets one probe through after the half-open delay; its success closes the circuit", async () => {
    const policy = createIntegrationPolicy(config({ breaker }), { metrics, logger });
    for (let i = 0; i < 10; i++)
      await settle(
        policy.execute(async () => Promise.reject(unavailable()), { operation: "send" }),
      );
    expect(policy.breakerState()).toBe("open");
    await vi.advanceTimersByTimeAsync(9_999);
    expect(policy.isRejecting()).toBe(true);
    await vi.advanceTimersByTimeAsync(1);
    expect(policy.isRejecting()).toBe(false);
    const probe = vi.fn(async () => "pong");
    expect((await settle(policy.execute(probe, { operation: "send" }))).value).toBe("pong");
    expect(probe).toHaveBeenCalledTimes(1);
    expect(policy.breakerState()).toBe("closed");
    expect(await sample(metrics.circuitBreakerState, { integration: "acme" })).toBe(0);
  });

  it("a failed probe opens it again", async () => {
    const policy = createIntegrationPolicy(config({ breaker }), { metrics });
    const failing = async () => Promise.reject(unavailable());
    for (let i = 0; i < 10; i++) await settle(policy.execute(failing, { operation: "send" }));
    await vi.advanceTimersByTimeAsync(10_000);
    await settle(policy.execute(failing, { operation: "send" }));
    expect(policy.breakerState()).toBe("open");
    expect(policy.isRejecting()).toBe(true);
  });

  it("permanent errors do not open it: the provider is answering", async () => {
    const policy = createIntegrationPolicy(config({ breaker }), { metrics });
    for (let i = 0; i < 30; i++)
      await settle(policy.execute(async () => Promise.reject(rejected()), { operation: "send" }));
    expect(policy.breakerState()).toBe("closed");
  });

  it("retries stop as soon as the circuit opens", async () => {
    const policy = createIntegrationPolicy(
      config({
        breaker: { ...breaker, minRequests: 2 },
        retry: { maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 1_000, jitter: "none" },
      }),
      { metrics },
    );
    const fn = vi.fn(async () => Promise.reject(unavailable()));
    const result = settle(policy.execute(fn, { operation: "send" }));
    await vi.advanceTimersByTimeAsync(5_000);
    expect((await result).error?.code).toBe("INTEGRATION_CIRCUIT_OPEN");
    expect(fn).toHaveBeenCalledTimes(2);
  });
});

describe("bulkhead", () => {
  it("runs at most maxConcurrent, queues maxQueue, rejects the rest without calling", async () => {
    const policy = createIntegrationPolicy(
      config({ bulkhead: { maxConcurrent: 2, maxQueue: 1 } }),
      { metrics },
    );
    const releases: (() => void)[] = [];
    const fn = vi.fn(() => new Promise<string>((resolve) => releases.push(() => resolve("done"))));
    const running = [1, 2, 3].map(() => settle(policy.execute(fn, { operation: "send" })));
    await vi.advanceTimersByTimeAsync(0);
    expect(fn).toHaveBeenCalledTimes(2);
    const { error } = await settle(policy.execute(fn, { operation: "send" }));
    expect(error).toMatchObject({ code: "INTEGRATION_BULKHEAD_FULL", rejectedBy: "bulkhead_full" });
    expect(fn).toHaveBeenCalledTimes(2);
    releases[0]!();
    await vi.advanceTimersByTimeAsync(0);
    expect(fn).toHaveBeenCalledTimes(3);
    releases[1]!();
    releases[2]!();
    expect((await Promise.all(running)).map((r) => r.value)).toEqual(["done", "done", "done"]);
    expect(await sample(metrics.integrationRequests, { outcome: "rejected_bulkhead" })).toBe(1);
  });
});

describe("rate limit", () => {
  it("paces calls at the configured rate and fails when the wait would be too long", async () => {
    const policy = createIntegrationPolicy(
      config({ rateLimit: { perSecond: 5, burst: 1, maxWaitMs: 1_000 } }),
      { metrics },
    );
    const start = Date.now();
    const times: number[] = [];
    const fn = async () => {
      times.push(Date.now() - start);
      return "ok";
    };
    const calls = Array.from({ length: 6 }, () =>
      settle(policy.execute(fn, { operation: "send" })),
    );
    const { error } = await settle(policy.execute(fn, { operation: "send" }));
    expect(error).toMatchObject({ code: "INTEGRATION_RATE_LIMITED", kind: "rate_limited" });
    expect(error?.retryAfterMs).toBeGreaterThan(1_000);
    await vi.advanceTimersByTimeAsync(1_000);
    await Promise.all(calls);
    expect(times).toEqual([0, 200, 400, 600, 800, 1_000]);
    expect(await sample(metrics.integrationRequests, { outcome: "rate_limited" })).toBe(1);
  });
});

describe("metrics and stats", () => {
  it("counts every attempt by outcome, retries, and observes latency of attempts", async () => {
    const policy = createIntegrationPolicy(
      config({ retry: { maxAttempts: 3, baseDelayMs: 100, maxDelayMs: 1_000, jitter: "none" } }),
      { metrics },
    );
    let n = 0;
    const result = settle(
      policy.execute(
        async () => {
          await new Promise((resolve) => setTimeout(resolve, 40));
          if (++n < 3) throw unavailable();
          return "ok";
        },
        { operation: "sendText" },
      ),
    );
    await vi.advanceTimersByTimeAsync(1_000);
    expect((await result).value).toBe("ok");
    const labels = { integration: "acme", operation: "sendText" };
    expect(await sample(metrics.integrationRequests, { ...labels, outcome: "error" })).toBe(2);
    expect(await sample(metrics.integrationRequests, { ...labels, outcome: "success" })).toBe(1);
    expect(await sample(metrics.integrationRetries, labels)).toBe(2);
    const histogram = (await metrics.integrationRequestDuration.get()).values;
    const count = histogram.find(
      (v) => v.metricName === "ventros_integration_request_duration_seconds_count",
    );
    expect(count?.value).toBe(3);
    const snapshot = policy.snapshot();
    expect(snapshot.counts).toEqual({
      requests: 3,
      errors: 2,
      retries: 2,
      byOutcome: { error: 2, success: 1 },
    });
    expect(snapshot.latencyMs).toEqual({ p50: 40, p95: 40, p99: 40, samples: 3 });
  });
});
