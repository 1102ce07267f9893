import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createMetrics, type Metrics } from "../metrics/metrics.ts";
import { createBentoCache, type CacheSettings } from "./bento-cache.ts";
import type { Cache } from "./cache.ts";

const SETTINGS: CacheSettings = {
  prefix: "test",
  ttlMs: 1_000,
  ttlJitterRatio: 0,
  graceMs: 0,
  softTimeoutMs: 100,
  negativeTtlMs: 200,
  l1MaxItems: 1_000,
  maxFillMs: 500,
};

const results = async (metrics: Metrics, cache: string) =>
  Object.fromEntries(
    (await metrics.cacheRequests.get()).values
      .filter((v) => v.labels.cache === cache)
      .map((v) => [v.labels.result, v.value]),
  );

describe("bento cache (memory tier)", () => {
  let cache: Cache;
  let metrics: Metrics;
  const open = (settings: Partial<CacheSettings> = {}, random?: () => number) => {
    cache = createBentoCache(
      { ...SETTINGS, ...settings },
      { metrics, ...(random ? { random } : {}) },
    );
    return cache;
  };

  beforeEach(() => {
    vi.useFakeTimers({ toFake: ["Date"] });
    metrics = createMetrics();
  });
  afterEach(async () => {
    vi.useRealTimers();
    await cache.disconnect();
  });

  it("serves a hit until the jittered TTL, then calls the factory again", async () => {
    // random() = 1 takes the whole jitter: 1000 ms x (1 - 0.2) = 800 ms.
    open({ ttlJitterRatio: 0.2 }, () => 1);
    const factory = vi.fn(async () => ({ n: factory.mock.calls.length }));
    expect(await cache.getOrSet("contact:1", factory)).toEqual({ n: 1 });
    vi.advanceTimersByTime(799);
    expect(await cache.getOrSet("contact:1", factory)).toEqual({ n: 1 });
    vi.advanceTimersByTime(2);
    expect(await cache.getOrSet("contact:1", factory)).toEqual({ n: 2 });
    expect(factory).toHaveBeenCalledTimes(2);
    expect(await results(metrics, "contact")).toEqual({ hit: 1, miss: 2 });
  });

  it("caches a miss for the negative TTL only", async () => {
    open();
    const factory = vi.fn(async () => undefined as { id: string } | undefined);
    expect(await cache.getOrSet("contact:none", factory)).toBeUndefined();
    expect(await cache.getOrSet("contact:none", factory)).toBeUndefined();
    expect(factory).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(201);
    expect(await cache.getOrSet("contact:none", factory)).toBeUndefined();
    expect(factory).toHaveBeenCalledTimes(2);
  });

  it("does not cache a miss when the negative TTL is 0", async () => {
    open({ negativeTtlMs: 0 });
    const factory = vi.fn(async () => null);
    await cache.getOrSet("contact:none", factory);
    await cache.getOrSet("contact:none", factory);
    expect(factory).toHaveBeenCalledTimes(2);
  });

  it("runs one factory for concurrent readers of one key (stampede)", async () => {
    open();
    let release!: (value: string) => void;
    const factory = vi.fn(() => new Promise<string>((resolve) => (release = resolve)));
    const readers = Array.from({ length: 25 }, () => cache.getOrSet("contact:hot", factory));
    await vi.waitFor(() => expect(factory).toHaveBeenCalledTimes(1));
    release("value");
    expect(await Promise.all(readers)).toEqual(Array(25).fill("value"));
    expect(factory).toHaveBeenCalledTimes(1);
  });

  it("serves the expired entry during its grace period when the factory fails", async () => {
    open({ graceMs: 10_000 });
    await cache.getOrSet("contact:1", async () => "fresh");
    vi.advanceTimersByTime(1_001);
    const failing = vi.fn(async (): Promise<string> => {
      throw new Error("database down");
    });
    expect(await cache.getOrSet("contact:1", failing)).toBe("fresh");
    expect(failing).toHaveBeenCalledTimes(1);
    expect(await results(metrics, "contact")).toEqual({ miss: 1, stale: 1 });
  });

  it("throws the factory's own error once the grace period is over", async () => {
    // The memory tier drops entries on its own clock (performance.now), so real time here.
    vi.useRealTimers();
    open({ ttlMs: 20, graceMs: 40 });
    await cache.getOrSet("contact:1", async () => "fresh");
    await new Promise((r) => setTimeout(r, 100));
    const failure = new Error("database down");
    await expect(cache.getOrSet("contact:1", async () => Promise.reject(failure))).rejects.toBe(
      failure,
    );
    expect(await results(metrics, "contact")).toEqual({ miss: 1, error: 1 });
  });

  it("serves the expired entry when the refresh is slower than the soft timeout", async () => {
    vi.useRealTimers();
    open({ graceMs: 10_000, ttlMs: 50, softTimeoutMs: 20 });
    await cache.getOrSet("contact:1", async () => "old");
    await new Promise((r) => setTimeout(r, 60));
    let release!: (value: string) => void;
    const slow = () => new Promise<string>((resolve) => (release = resolve));
    const startedAt = performance.now();
    expect(await cache.getOrSet("contact:1", slow)).toBe("old");
    expect(performance.now() - startedAt).toBeLessThan(1_000);
    release("new");
    await vi.waitFor(async () =>
      expect(await cache.getOrSet("contact:1", async () => "unused")).toBe("new"),
    );
    expect((await results(metrics, "contact"))["stale"]).toBe(1);
  });

  it("deletes entries and clears a namespace without touching others", async () => {
    open();
    const contacts = cache.namespace("contacts");
    await contacts.getOrSet("1", async () => "a");
    await cache.getOrSet("other:1", async () => "b");
    await contacts.clear();
    expect(await contacts.getOrSet("1", async () => "a2")).toBe("a2");
    expect(await cache.getOrSet("other:1", async () => "b2")).toBe("b");
    await cache.delete("other:1");
    expect(await cache.getOrSet("other:1", async () => "b3")).toBe("b3");
  });

  it("bumping a project's version invalidates its entries, not another project's", async () => {
    open();
    const one = cache.project("p1");
    const two = cache.project("p2");
    await one.getOrSet("contact", "c1", async () => "one-v1");
    await two.getOrSet("contact", "c1", async () => "two-v1");
    const before = await one.key("contact", "c1");
    expect(before).toMatch(/^p:p1:v[\w-]+:contact:c1$/);
    await one.bump();
    expect(await one.key("contact", "c1")).not.toBe(before);
    expect(await one.getOrSet("contact", "c1", async () => "one-v2")).toBe("one-v2");
    expect(await two.getOrSet("contact", "c1", async () => "two-v2")).toBe("two-v1");
    await one.delete("contact", "c1");
    expect(await one.getOrSet("contact", "c1", async () => "one-v3")).toBe("one-v3");
  });

  it("a delete while the factory loads: the caller gets what it loaded, the cache keeps nothing", async () => {
    open();
    await cache.getOrSet("contact:1", async () => "old");
    await cache.delete("contact:1");
    let loaded!: () => void;
    const loading = new Promise<void>((resolve) => (loaded = resolve));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    // The reader loads the row, then a writer commits and deletes before the reader stores.
    const reader = cache.getOrSet("contact:1", async () => {
      loaded();
      await gate;
      return "old";
    });
    await loading;
    await cache.delete("contact:1");
    release();
    expect(await reader).toBe("old");
    expect(await cache.getOrSet("contact:1", async () => "new")).toBe("new");
    const discarded = await metrics.registry.getSingleMetricAsString(
      "ventros_cache_fills_discarded_total",
    );
    expect(discarded).toContain('ventros_cache_fills_discarded_total{reason="invalidated"} 1');
  });

  it("a factory slower than maxFillMs is answered but not stored", async () => {
    vi.useRealTimers();
    open({ maxFillMs: 10 });
    const slow = vi.fn(async () => {
      await new Promise((resolve) => setTimeout(resolve, 30));
      return "slow";
    });
    expect(await cache.getOrSet("contact:1", slow)).toBe("slow");
    expect(await cache.getOrSet("contact:1", async () => "fast")).toBe("fast");
    expect(await cache.getOrSet("contact:1", async () => "unused")).toBe("fast");
    const discarded = await metrics.registry.getSingleMetricAsString(
      "ventros_cache_fills_discarded_total",
    );
    expect(discarded).toContain('ventros_cache_fills_discarded_total{reason="slow"} 1');
  });

  it("without Redis the cache is coherent and has nothing pending", async () => {
    open();
    expect(cache.status()).toEqual({ coherent: true, pendingDeletes: 0 });
    const gauge = await metrics.registry.getSingleMetricAsString("ventros_cache_coherent");
    expect(gauge).toContain("ventros_cache_coherent 1");
  });

  it("keeps Dates as Dates", async () => {
    open();
    const at = new Date("2024-05-01T10:00:00.000Z");
    await cache.getOrSet("contact:1", async () => ({ at, tags: ["a"] }));
    const cached = await cache.getOrSet("contact:1", async () => ({ at: new Date(0), tags: [] }));
    expect(cached).toEqual({ at, tags: ["a"] });
    expect(cached!.at).toBeInstanceOf(Date);
  });

  it("exports the hit ratio per cache", async () => {
    open();
    await cache.getOrSet("contact:1", async () => 1);
    for (let i = 0; i < 3; i++) await cache.getOrSet("contact:1", async () => 1);
    const metric = await metrics.registry.getSingleMetricAsString("ventros_cache_hit_ratio");
    expect(metric).toContain('ventros_cache_hit_ratio{cache="contact"} 0.75');
  });
});
