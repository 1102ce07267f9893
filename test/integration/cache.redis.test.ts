import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createBentoCache, type CacheSettings } from "../../src/platform/cache/bento-cache.ts";
import type { Cache } from "../../src/platform/cache/cache.ts";
import { createMetrics, type Metrics } from "../../src/platform/metrics/metrics.ts";
import { createRateLimiter } from "../../src/platform/rate-limit/rate-limiter.ts";
import {
  createRedisConnection,
  type RedisConnection,
} from "../../src/platform/redis/redis-connection.ts";
import { IntegrationRegistry } from "../../src/platform/resilience/integration-registry.ts";
import type { PolicySettings } from "../../src/platform/resilience/policy-settings.ts";
import { startTcpProxy, type TcpProxy } from "../support/tcp-proxy.ts";

const REDIS_URL = process.env["REDIS_URL"]!;
const COMMAND_TIMEOUT_MS = 200;
const POLICY: PolicySettings = {
  timeoutMs: 250,
  retry: null,
  breaker: { failureRatio: 0.5, windowMs: 5_000, minRequests: 3, halfOpenAfterMs: 500 },
  bulkhead: null,
  rateLimit: null,
};
/** Unique per run: this suite only ever reads and deletes its own keys. */
const PREFIX = `vtest-${process.pid}-${randomBytes(4).toString("hex")}`;
const SETTINGS: CacheSettings = {
  prefix: PREFIX,
  ttlMs: 60_000,
  ttlJitterRatio: 0.1,
  graceMs: 60_000,
  softTimeoutMs: 100,
  negativeTtlMs: 1_000,
  l1MaxItems: 1_000,
  maxFillMs: 500,
};

interface Instance {
  redis: RedisConnection;
  cache: Cache;
  metrics: Metrics;
  registry: IntegrationRegistry;
}

const instances: Instance[] = [];
const open = (url: string): Instance => {
  const metrics = createMetrics();
  const registry = new IntegrationRegistry();
  const redis = createRedisConnection(
    {
      url,
      commandTimeoutMs: COMMAND_TIMEOUT_MS,
      connectTimeoutMs: 500,
      policy: POLICY,
      probeIntervalMs: 200,
    },
    { metrics, registry },
  );
  const instance = {
    redis,
    metrics,
    registry,
    cache: createBentoCache(SETTINGS, { redis, metrics }),
  };
  instances.push(instance);
  return instance;
};

const timed = async <T>(fn: () => Promise<T>) => {
  const startedAt = performance.now();
  const value = await fn();
  return { value, ms: performance.now() - startedAt };
};

let admin: Redis;
let proxy: TcpProxy;

beforeAll(async () => {
  admin = new Redis(REDIS_URL, { maxRetriesPerRequest: 1, commandTimeout: 2_000 });
  const target = new URL(REDIS_URL);
  proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 6379) });
});

afterAll(async () => {
  proxy.restore();
  for (const { cache, redis } of instances) {
    await cache.disconnect();
    await redis.close();
  }
  await proxy.close();
  let cursor = "0";
  do {
    const [next, keys] = await admin.scan(cursor, "MATCH", `${PREFIX}:*`, "COUNT", 500);
    if (keys.length > 0) await admin.del(...keys);
    cursor = next;
  } while (cursor !== "0");
  await admin.quit();
});

describe("cache on Redis, two instances", () => {
  it("a delete on one instance is seen by the other (no stale read after invalidation)", async () => {
    const a = open(REDIS_URL);
    const b = open(REDIS_URL);
    // Bus subscriptions come up asynchronously after a cache is created (a known startup
    // window of the not-yet-wired cache): first prove B hears A's invalidations.
    let round = 0;
    await vi.waitFor(
      async () => {
        round++;
        await a.cache.delete("probe");
        expect(await b.cache.getOrSet("probe", async () => `before-${round}`)).toBe(
          `before-${round}`,
        );
        await a.cache.delete("probe");
        await new Promise((resolve) => setTimeout(resolve, 50));
        expect(await b.cache.getOrSet("probe", async () => `after-${round}`)).toBe(
          `after-${round}`,
        );
      },
      { timeout: 10_000, interval: 100 },
    );
    const source = new Map([["contact:1", "v1"]]);
    const load = (key: string) => async () => source.get(key);
    expect(await a.cache.getOrSet("contact:1", load("contact:1"))).toBe("v1");
    // B finds A's entry in Redis: no factory call.
    expect(await b.cache.getOrSet("contact:1", async () => "not-called")).toBe("v1");
    const keys = await admin.keys(`${PREFIX}:cache:*`);
    expect(keys.some((k) => k.endsWith("contact:1"))).toBe(true);

    source.set("contact:1", "v2");
    await a.cache.delete("contact:1");
    // The bus message reaches B within milliseconds; B then never answers v1 again.
    await vi.waitFor(
      async () => expect(await b.cache.getOrSet("contact:1", load("contact:1"))).toBe("v2"),
      { timeout: 5_000, interval: 5 },
    );
    for (let i = 0; i < 20; i++)
      expect(await b.cache.getOrSet("contact:1", load("contact:1"))).toBe("v2");
  });

  it("a fill running on one instance when another's delete arrives is not stored", async () => {
    const [a, b] = instances as [Instance, Instance];
    await b.cache.getOrSet("probe-order", async () => "p1");
    let loaded!: () => void;
    const loading = new Promise<void>((resolve) => (loaded = resolve));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    // B read the row before A's write committed, and has not stored it yet.
    const fill = b.cache.getOrSet("race", async () => {
      loaded();
      await gate;
      return "old";
    });
    await loading;
    await a.cache.delete("race");
    await a.cache.delete("probe-order");
    // Bus messages arrive in order: once B dropped the probe, it has seen "race" too.
    await vi.waitFor(async () =>
      expect(await b.cache.getOrSet("probe-order", async () => "p2")).toBe("p2"),
    );
    release();
    expect(await fill).toBe("old");
    expect(await b.cache.getOrSet("race", async () => "new")).toBe("new");
    expect(await a.cache.getOrSet("race", async () => "new")).toBe("new");
  });

  it("a project version bump on one instance invalidates the project on the other", async () => {
    const [a, b] = instances as [Instance, Instance];
    let version = "v1";
    await a.cache.project("p1").getOrSet("contact", "c1", async () => version);
    expect(await b.cache.project("p1").getOrSet("contact", "c1", async () => "x")).toBe("v1");
    version = "v2";
    await a.cache.project("p1").bump();
    await vi.waitFor(
      async () =>
        expect(await b.cache.project("p1").getOrSet("contact", "c1", async () => version)).toBe(
          "v2",
        ),
      { timeout: 2_000, interval: 5 },
    );
  });
});

describe("Redis outage (through a TCP proxy)", () => {
  const redisCalls = async (instance: Instance, operations: string[], outcomes: string[]) =>
    (await instance.metrics.integrationRequests.get()).values
      .filter(
        (v) =>
          v.labels.integration === "redis" &&
          operations.includes(String(v.labels.operation)) &&
          outcomes.includes(String(v.labels.outcome)),
      )
      .reduce((sum, v) => sum + v.value, 0);

  it("keeps reads correct without waiting on Redis, opens and closes the breaker", async () => {
    const a = open(proxy.urlVia(REDIS_URL));
    const b = open(REDIS_URL);
    await vi.waitFor(() =>
      expect(a.cache.status().coherent && b.cache.status().coherent).toBe(true),
    );
    const source = new Map<string, string>([["contact:warm", "w1"]]);
    const load = (key: string) => async () => source.get(key) ?? `fresh:${key}`;
    expect(await a.cache.getOrSet("contact:warm", load("contact:warm"))).toBe("w1");
    expect(await b.cache.getOrSet("contact:warm", load("contact:warm"))).toBe("w1");

    proxy.cut();
    // The bus's connection drops with the socket: from then on A cannot hear other
    // instances' invalidations, so it answers from the source instead of its tiers.
    await vi.waitFor(() => expect(a.cache.status().coherent).toBe(false));
    const l2Reads = await redisCalls(a, ["cache.get"], ["success", "error", "timeout"]);
    const latencies: number[] = [];
    source.set("contact:warm", "w2"); // written by another instance A cannot hear
    for (let i = 0; i < 15; i++) {
      const { value, ms } = await timed(() =>
        a.cache.getOrSet("contact:warm", load("contact:warm")),
      );
      expect(value).toBe("w2");
      latencies.push(ms);
    }
    console.info(
      `redis outage: bypassed read latencies ms ${latencies.map((m) => m.toFixed(2)).join(", ")}`,
    );
    // No read touched Redis, so none paid a Redis timeout.
    expect(await redisCalls(a, ["cache.get"], ["success", "error", "timeout"])).toBe(l2Reads);
    const bypassed = (await a.metrics.cacheRequests.get()).values.find(
      (v) => v.labels.cache === "contact" && v.labels.result === "bypass",
    );
    expect(bypassed?.value).toBe(15);
    expect(
      (await a.metrics.registry.getSingleMetricAsString("ventros_cache_coherent")).trim(),
    ).toMatch(/ventros_cache_coherent 0$/);

    // Writes still invalidate through Redis: they fail until the breaker opens, then are
    // refused at once (and remembered for replay).
    for (let i = 0; i < 5; i++) await a.cache.delete(`contact:${i}`);
    expect(a.redis.policy.breakerState()).toBe("open");
    expect(a.registry.get("redis")?.snapshot().breakerState).toBe("open");
    const gauge = (await a.metrics.circuitBreakerState.get()).values.find(
      (v) => v.labels.integration === "redis",
    );
    expect(gauge?.value).toBe(2);
    const failedBefore = await redisCalls(
      a,
      ["cache.delete", "cache.publish"],
      ["error", "timeout"],
    );
    await a.cache.delete("contact:warm");
    expect(await redisCalls(a, ["cache.delete", "cache.publish"], ["error", "timeout"])).toBe(
      failedBefore,
    );
    expect(a.cache.status().pendingDeletes).toBeGreaterThan(0);
    const l2Errors = (await a.metrics.cacheL2Errors.get()).values.reduce((s, v) => s + v.value, 0);
    expect(l2Errors).toBeGreaterThan(0);

    proxy.restore();
    await vi.waitFor(
      () => {
        expect(a.redis.policy.breakerState()).toBe("closed");
        expect(a.cache.status()).toEqual({ coherent: true, pendingDeletes: 0 });
      },
      { timeout: 10_000, interval: 50 },
    );
    expect((await a.metrics.circuitBreakerState.get()).values[0]?.value).toBe(0);
    // Back: A's memory tier was emptied (it may have missed invalidations) and the entry
    // A's failed delete left in Redis is gone, so both instances answer w2.
    expect(await a.cache.getOrSet("contact:warm", load("contact:warm"))).toBe("w2");
    await vi.waitFor(
      async () => expect(await b.cache.getOrSet("contact:warm", load("contact:warm"))).toBe("w2"),
      { timeout: 10_000, interval: 50 },
    );
    // And A uses Redis again.
    await a.cache.getOrSet("contact:after", load("contact:after"));
    await vi.waitFor(async () =>
      expect((await admin.keys(`${PREFIX}:cache:contact:after`)).length).toBe(1),
    );
  });

  it("the rate limiter falls back to memory while Redis is cut and returns after", async () => {
    const [a] = instances.slice(-2) as [Instance];
    await vi.waitFor(() => expect(a.redis.policy.breakerState()).toBe("closed"), {
      timeout: 10_000,
    });
    const limiter = createRateLimiter(
      { name: "api_key", points: 100, durationSeconds: 60, prefix: PREFIX },
      { redis: a.redis, metrics: a.metrics },
    );
    expect(await limiter.consume("key-1")).toMatchObject({ store: "redis", remaining: 99 });
    expect(await limiter.consume("key-1")).toMatchObject({ store: "redis", remaining: 98 });

    proxy.cut();
    // The first decision may wait for its command to time out; after that the client
    // knows it is disconnected (or the breaker is open) and no decision waits on Redis.
    const timeouts = () => redisCalls(a, ["rateLimit.consume"], ["timeout"]);
    const during: number[] = [];
    let timedOutBefore = 0;
    for (let i = 0; i < 6; i++) {
      const { value, ms } = await timed(() => limiter.consume("key-1"));
      expect(value).toMatchObject({ allowed: true, store: "memory" });
      during.push(ms);
      if (i === 0) timedOutBefore = await timeouts();
    }
    console.info(`rate limiter during the cut: ms ${during.map((m) => m.toFixed(1)).join(", ")}`);
    expect(await timeouts()).toBe(timedOutBefore);
    const last = await limiter.consume("key-1");
    // The insurance limiter counts alone: 7 points taken in memory.
    expect(last).toMatchObject({ store: "memory", remaining: 93 });

    proxy.restore();
    let back: Awaited<ReturnType<typeof limiter.consume>> | undefined;
    await vi.waitFor(
      async () => {
        back = await limiter.consume("key-1");
        expect(back.store).toBe("redis");
      },
      { timeout: 10_000, interval: 50 },
    );
    // Redis kept its own count, without the 7 points taken in memory; the one command
    // that timed out during the cut may still have been counted when ioredis resent it.
    expect(back?.allowed).toBe(true);
    expect(back?.remaining).toBeGreaterThanOrEqual(96);
    expect(back?.remaining).toBeLessThanOrEqual(97);
    await limiter.reset("key-1");
  });
});
