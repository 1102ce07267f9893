import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createLogger } from "../logger.ts";
import { createMetrics } from "../metrics/metrics.ts";
import { createIntegrationPolicy, type IntegrationPolicyConfig } from "./integration-policy.ts";
import { IntegrationRegistry } from "./integration-registry.ts";
import { scoreIntegration, type ScoreFacts } from "./integration-score.ts";

const everything: ScoreFacts = {
  timeout: true,
  retry: true,
  circuitBreaker: true,
  authentication: true,
  signature: true,
  inputValidation: true,
  unitTests: true,
  integrationTests: true,
  e2eTests: true,
  logging: true,
  metrics: true,
};

const full: IntegrationPolicyConfig = {
  integration: "acme",
  timeoutMs: 15_000,
  retry: { maxAttempts: 3, baseDelayMs: 1_000, maxDelayMs: 30_000, jitter: "full" },
  breaker: { failureRatio: 0.5, windowMs: 30_000, minRequests: 10, halfOpenAfterMs: 10_000 },
  bulkhead: { maxConcurrent: 20, maxQueue: 100 },
  rateLimit: { perSecond: 20, burst: 20, maxWaitMs: 5_000 },
};

const declared = {
  authentication: true,
  signature: true,
  inputValidation: true,
  tests: { unit: true, integration: true, e2e: true },
};

const silent = createLogger("silent");

describe("scoreIntegration (INTEGRATIONS.md formula)", () => {
  it("everything earned is 10 with every category at 10", () => {
    expect(scoreIntegration(everything)).toMatchObject({
      resilience: 10,
      security: 10,
      testing: 10,
      monitoring: 10,
      total: 10,
    });
  });

  it.each([
    ["circuitBreaker", 10 - 1.6],
    ["timeout", 10 - 1.2],
    ["retry", 10 - 1.2],
    ["authentication", 10 - 1],
    ["signature", 10 - 0.75],
    ["inputValidation", 10 - 0.75],
    ["unitTests", 10 - 0.6],
    ["integrationTests", 10 - 0.8],
    ["e2eTests", 10 - 0.6],
    ["logging", 10 - 0.75],
    ["metrics", 10 - 0.75],
  ] as const)("without %s the total is %d", (fact, total) => {
    const score = scoreIntegration({ ...everything, [fact]: false });
    expect(score.total).toBeCloseTo(total, 10);
    expect(score.points[fact]).toBe(0);
  });

  it("nothing earned is 0; resilience alone is 4", () => {
    const none = Object.fromEntries(
      Object.keys(everything).map((k) => [k, false]),
    ) as unknown as ScoreFacts;
    expect(scoreIntegration(none).total).toBe(0);
    expect(
      scoreIntegration({ ...none, timeout: true, retry: true, circuitBreaker: true }).total,
    ).toBe(4);
  });
});

describe("IntegrationRegistry", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("a policy with every stage, a logger, registered metrics and declarations scores 10", () => {
    const registry = new IntegrationRegistry();
    createIntegrationPolicy(full, { registry, logger: silent, metrics: createMetrics(), declared });
    const [report] = registry.list();
    expect(report).toMatchObject({
      integration: "acme",
      breakerState: "closed",
      settings: { timeoutMs: 15_000, retry: { maxAttempts: 3 } },
      counts: { requests: 0, errors: 0, retries: 0 },
      latencyMs: null,
      score: { resilience: 10, security: 10, testing: 10, monitoring: 10, total: 10 },
    });
  });

  it("each point comes from the running policy: no breaker = 10 - 1.6, no logger, no metrics", () => {
    const registry = new IntegrationRegistry();
    const metrics = createMetrics();
    createIntegrationPolicy(
      { ...full, integration: "no-breaker", breaker: null },
      { registry, logger: silent, metrics, declared },
    );
    createIntegrationPolicy({ ...full, integration: "no-logger" }, { registry, metrics, declared });
    createIntegrationPolicy(
      { ...full, integration: "no-metrics", timeoutMs: null, retry: null },
      { registry, logger: silent, declared },
    );
    createIntegrationPolicy(
      { ...full, integration: "undeclared" },
      { registry, logger: silent, metrics },
    );
    const byName = Object.fromEntries(registry.list().map((r) => [r.integration, r]));
    expect(byName["no-breaker"]?.score.total).toBe(8.4);
    expect(byName["no-breaker"]?.breakerState).toBe("disabled");
    expect(byName["no-logger"]?.score.total).toBe(9.25);
    expect(byName["no-metrics"]?.score).toMatchObject({ resilience: 4, monitoring: 5 });
    expect(byName["no-metrics"]?.score.total).toBe(10 - 2.4 - 0.75);
    expect(byName["undeclared"]?.score).toMatchObject({ security: 0, testing: 0, total: 5.5 });
  });

  it("metrics of another registry than the app's earn nothing", () => {
    const registry = new IntegrationRegistry();
    const metrics = createMetrics();
    const foreign = { ...metrics, integrationRequests: createMetrics().integrationRequests };
    createIntegrationPolicy(full, { registry, logger: silent, metrics: foreign, declared });
    expect(registry.list()[0]?.score.points.metrics).toBe(0);
  });

  it("refuses a second integration with the same name; unregister frees it", () => {
    const registry = new IntegrationRegistry();
    const first = createIntegrationPolicy(full, {});
    const unregister = registry.register(first);
    expect(() => registry.register(createIntegrationPolicy(full, {}))).toThrow(
      /already registered/,
    );
    unregister();
    expect(registry.list()).toEqual([]);
  });

  it("reports nearest-rank p50/p95/p99 of the latest calls", async () => {
    const registry = new IntegrationRegistry();
    const policy = createIntegrationPolicy({ ...full, rateLimit: null }, { registry });
    for (let ms = 1; ms <= 100; ms++) {
      const call = policy.execute(() => new Promise((resolve) => setTimeout(resolve, ms)), {
        operation: "op",
      });
      await vi.advanceTimersByTimeAsync(ms);
      await call;
    }
    expect(registry.list()[0]?.latencyMs).toEqual({ p50: 50, p95: 95, p99: 99, samples: 100 });
    expect(registry.list()[0]?.counts.requests).toBe(100);
  });
});
