import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createMetrics } from "../metrics/metrics.ts";
import { rateLimitHeaders } from "./rate-limit-headers.ts";
import { createRateLimiter } from "./rate-limiter.ts";

describe("rate limiter (memory)", () => {
  beforeEach(() => vi.useFakeTimers({ toFake: ["Date", "setTimeout", "clearTimeout"] }));
  afterEach(() => vi.useRealTimers());

  const limiter = (metrics = createMetrics()) =>
    createRateLimiter(
      { name: "api_key", points: 3, durationSeconds: 60, prefix: "t" },
      { metrics },
    );

  it("allows up to the limit, then refuses until the window resets", async () => {
    const rl = limiter();
    const first = await rl.consume("k1");
    expect(first).toMatchObject({ allowed: true, remaining: 2, limit: 3, store: "memory" });
    expect(first.resetMs).toBeGreaterThan(59_000);
    expect(first.resetMs).toBeLessThanOrEqual(60_000);
    await rl.consume("k1");
    expect(await rl.consume("k1")).toMatchObject({ allowed: true, remaining: 0 });
    vi.advanceTimersByTime(10_000);
    const refused = await rl.consume("k1");
    expect(refused).toMatchObject({ allowed: false, remaining: 0, limit: 3 });
    expect(refused.resetMs).toBeGreaterThan(49_000);
    expect(refused.resetMs).toBeLessThanOrEqual(50_000);
    vi.advanceTimersByTime(50_001);
    expect(await rl.consume("k1")).toMatchObject({ allowed: true, remaining: 2 });
  });

  it("counts keys apart and takes several points at once", async () => {
    const rl = limiter();
    expect(await rl.consume("a", 3)).toMatchObject({ allowed: true, remaining: 0 });
    expect(await rl.consume("b")).toMatchObject({ allowed: true, remaining: 2 });
    expect(await rl.consume("a")).toMatchObject({ allowed: false });
  });

  it("forgets a key on reset", async () => {
    const rl = limiter();
    await rl.consume("a", 3);
    await rl.reset("a");
    expect(await rl.consume("a")).toMatchObject({ allowed: true, remaining: 2 });
  });

  it("counts decisions by limiter, outcome and store", async () => {
    const metrics = createMetrics();
    const rl = limiter(metrics);
    for (let i = 0; i < 4; i++) await rl.consume("a");
    const values = (await metrics.rateLimitDecisions.get()).values;
    expect(values.map((v) => [v.labels.outcome, v.labels.store, v.value])).toEqual([
      ["allowed", "memory", 3],
      ["refused", "memory", 1],
    ]);
  });
});

describe("rateLimitHeaders", () => {
  it("maps an allowed decision without retry-after", () => {
    expect(
      rateLimitHeaders({ allowed: true, remaining: 7, resetMs: 12_300, limit: 10, store: "redis" }),
    ).toEqual({
      "x-ratelimit-limit": "10",
      "x-ratelimit-remaining": "7",
      "x-ratelimit-reset": "13",
    });
  });

  it("adds retry-after in whole seconds (at least 1) on refusal", () => {
    expect(
      rateLimitHeaders({ allowed: false, remaining: 0, resetMs: 200, limit: 10, store: "memory" }),
    ).toEqual({
      "x-ratelimit-limit": "10",
      "x-ratelimit-remaining": "0",
      "x-ratelimit-reset": "1",
      "retry-after": "1",
    });
    expect(
      rateLimitHeaders({
        allowed: false,
        remaining: 0,
        resetMs: 41_001,
        limit: 10,
        store: "memory",
      })["retry-after"],
    ).toBe("42");
  });
});
