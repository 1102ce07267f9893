import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { App } from "../../src/compose.ts";
import { createBentoCache } from "../../src/platform/cache/bento-cache.ts";
import { cacheSettingsFromConfig } from "../../src/platform/cache/cache-from-config.ts";
import { metricValue } from "../support/cache-metrics.ts";
import { client } from "../support/http.ts";
import { startTcpProxy, type TcpProxy } from "../support/tcp-proxy.ts";
import { createTestApp, type TestApp } from "../support/test-app.ts";
import { waitFor } from "../support/wait-for.ts";
import { WHATSAPP_ENV } from "../support/whatsapp.ts";
import { WahaSimulator } from "../simulators/waha-simulator.ts";

/**
 * The composed app on a real Redis: two instances sharing the database and Redis never
 * answer a value older than a write once its invalidation has reached them (measured),
 * secrets stay sealed in Redis, the second delete removes a late fill, and a Redis
 * outage mid-run keeps answers correct (from the database), opens the breaker, moves
 * rate limiting to memory, and everything returns when Redis does.
 */

const REDIS_URL = process.env["REDIS_URL"]!;
const REPEAT_MS = 400;
/** Unique per run: this suite only ever reads and deletes its own keys. */
const PREFIX = `vtest-app-${process.pid}-${randomBytes(4).toString("hex")}`;
const ENV = {
  ...WHATSAPP_ENV,
  REDIS_URL,
  REDIS_KEY_PREFIX: PREFIX,
  CACHE_INVALIDATION_REPEAT_MS: String(REPEAT_MS),
  REDIS_BREAKER_MIN_REQUESTS: "3",
  REDIS_BREAKER_WINDOW_MS: "5000",
  // Long enough that no half-open probe (a real Redis call, failing while the proxy is
  // cut) falls inside the outage assertions even on a loaded CI machine.
  REDIS_BREAKER_HALF_OPEN_MS: "4000",
};

let admin: Redis;
const opened: TestApp[] = [];

async function open(env: Record<string, string>, shareWith?: TestApp) {
  const t = await createTestApp(
    { ...ENV, ...env },
    shareWith ? { shareDatabaseOf: shareWith } : {},
  );
  opened.push(t);
  return t;
}

/** Until an instance's cache hears the bus, its reads bypass the cache (still correct). */
const coherent = (...apps: App[]) =>
  waitFor(() => apps.every((app) => app.deps.cache.status().coherent), 10_000, {
    what: "cache bus subscribed",
  });

/**
 * Reads `read` until it answers `fresh`; counts the older answers seen meanwhile (the
 * invalidation is on its way over Redis pub/sub). Then it must stay fresh.
 */
async function convergence<T>(read: () => Promise<T>, fresh: (value: T) => boolean) {
  const started = performance.now();
  let stale = 0;
  await waitFor(
    async () => {
      if (fresh(await read())) return true;
      stale++;
      return false;
    },
    5_000,
    { intervalMs: 1, what: "the invalidation to arrive" },
  );
  const ms = performance.now() - started;
  for (let i = 0; i < 20; i++) expect(fresh(await read())).toBe(true);
  return { stale, ms };
}

beforeAll(async () => {
  admin = new Redis(REDIS_URL, { maxRetriesPerRequest: 1, commandTimeout: 2_000 });
});

afterAll(async () => {
  // Instances sharing a database close before the one that owns it.
  for (const t of opened.reverse()) await t.close();
  let cursor = "0";
  do {
    const [next, keys] = await admin.scan(cursor, "MATCH", `${PREFIX}:*`, "COUNT", 500);
    if (keys.length > 0) await admin.del(...keys);
    cursor = next;
  } while (cursor !== "0");
  await admin.quit();
});

describe("two instances sharing the database and Redis", () => {
  let a: TestApp;
  let b: TestApp;
  let apiA: ReturnType<typeof client>;
  let apiB: ReturnType<typeof client>;

  beforeAll(async () => {
    a = await open({});
    b = await open({}, a);
    apiA = client(a.app, a.adminKey);
    apiB = client(b.app, b.adminKey);
    await coherent(a.app, b.app);
  }, 120_000);

  it("Redis is an integration row and a readiness entry", async () => {
    const integrations = (await apiA.get("/v1/integrations")).body.data;
    const redis = integrations.find((i: { name: string }) => i.name === "redis");
    expect(redis).toMatchObject({ breaker: { state: "closed" } });
    expect(redis.settings).toMatchObject({ timeoutMs: 250 });
    const ready = await apiA.get("/health/ready");
    expect(ready.status).toBe(200);
    expect(ready.body.status).toBe("ok");
    expect(ready.body.checks.redis).toMatchObject({
      status: "ok",
      breaker: "closed",
      cache: "in_use",
      latencyMs: expect.any(Number),
    });
  });

  it("an update or delete on one instance: the other never answers the old value once the invalidation arrived", async () => {
    const contact = (await apiA.post("/v1/contacts", { name: "v1" })).body;
    // Both instances hold the contact (B from Redis or its own read).
    expect((await apiA.get(`/v1/contacts/${contact.id}`)).body.name).toBe("v1");
    expect((await apiB.get(`/v1/contacts/${contact.id}`)).body.name).toBe("v1");
    expect((await apiB.get(`/v1/contacts/${contact.id}`)).body.name).toBe("v1");

    expect((await apiA.patch(`/v1/contacts/${contact.id}`, { name: "v2" })).status).toBe(200);
    const updated = await convergence(
      () => apiB.get(`/v1/contacts/${contact.id}`),
      (res) => res.body.name === "v2",
    );
    // And the other way round.
    expect((await apiB.patch(`/v1/contacts/${contact.id}`, { name: "v3" })).status).toBe(200);
    await convergence(
      () => apiA.get(`/v1/contacts/${contact.id}`),
      (res) => res.body.name === "v3",
    );
    expect((await apiA.delete(`/v1/contacts/${contact.id}`)).status).toBe(204);
    const deleted = await convergence(
      () => apiB.get(`/v1/contacts/${contact.id}`),
      (res) => res.status === 404,
    );
    console.info(
      `cross-instance invalidation: update seen after ${updated.ms.toFixed(2)} ms (${updated.stale} older answers), ` +
        `delete after ${deleted.ms.toFixed(2)} ms (${deleted.stale} older answers)`,
    );
  });

  it("a key revoked on one instance stops authenticating on the other", async () => {
    const created = (await apiA.post("/v1/api-keys", { name: "shared", role: "readonly" })).body;
    const onB = client(b.app, created.key);
    expect((await onB.get("/v1/project")).status).toBe(200);
    expect((await onB.get("/v1/project")).status).toBe(200);
    expect((await apiA.delete(`/v1/api-keys/${created.apiKey.id}`)).status).toBe(204);
    await convergence(
      () => onB.get("/v1/project"),
      (res) => res.status === 401,
    );
  });

  it("a channel in Redis keeps its secrets sealed", async () => {
    const waha = await WahaSimulator.start({
      sessions: ["sealed"],
      apiKey: "waha-plain-api-key-1234",
    });
    try {
      const channel = (
        await apiA.post("/v1/channels", {
          name: "Sealed",
          type: "waha",
          waha: { baseUrl: waha.baseUrl, apiKey: waha.apiKey, session: "sealed" },
        })
      ).body;
      expect((await apiA.get(`/v1/channels/${channel.id}`)).status).toBe(200);
      expect((await apiB.patch(`/v1/channels/${channel.id}`, { name: "Sealed 2" })).status).toBe(
        200,
      );
      await convergence(
        () => apiA.get(`/v1/channels/${channel.id}`),
        (res) => res.body.name === "Sealed 2",
      );
      const keys = await admin.keys(`${PREFIX}:cache:*channel*${channel.id}`);
      expect(keys.length).toBeGreaterThan(0);
      for (const key of keys) {
        const value = (await admin.get(key)) ?? "";
        expect(value).toContain(channel.id);
        expect(value).toMatch(/"waha_api_key_enc":"v1\./);
        expect(value).not.toContain(waha.apiKey);
        expect(value).not.toContain(channel.inboundSecret);
      }
    } finally {
      await waha.close();
    }
  });

  it("the second delete removes an old row stored after the first (a slow reader elsewhere)", async () => {
    const contact = (await apiA.post("/v1/contacts", { name: "before" })).body;
    const old = (await apiB.get(`/v1/contacts/${contact.id}`)).body;
    expect((await apiA.patch(`/v1/contacts/${contact.id}`, { name: "after" })).status).toBe(200);
    // A third process that read the row before the commit stores it now, after A's first
    // delete reached everyone: Redis holds the old row again.
    const project = (await apiA.get("/v1/project")).body.id as string;
    const slow = createBentoCache(cacheSettingsFromConfig(a.app.config), {
      redis: a.app.deps.cachePlatform.redis!,
    });
    try {
      await waitFor(() => slow.status().coherent, 10_000, { what: "the slow reader's bus" });
      const key = await slow.project(project).key("contact", contact.id);
      await slow.getOrSet(key, async () => old, { cache: "contact" });
      expect(await admin.get(`${PREFIX}:cache:${key}`)).toContain('"name":"before"');
      const repeated = await convergence(
        () => apiB.get(`/v1/contacts/${contact.id}`),
        (res) => res.body.name === "after",
      );
      console.info(
        `late fill: removed by the second delete after ${repeated.ms.toFixed(0)} ms (${repeated.stale} older answers; delay ${REPEAT_MS} ms)`,
      );
      expect((await apiA.get(`/v1/contacts/${contact.id}`)).body.name).toBe("after");
    } finally {
      await slow.disconnect();
    }
  });
});

describe("Redis stopped mid-run (through a TCP proxy)", () => {
  let proxy: TcpProxy;
  let c: TestApp;
  let d: TestApp;

  beforeAll(async () => {
    const target = new URL(REDIS_URL);
    proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 6379) });
    c = await open({ REDIS_URL: proxy.urlVia(REDIS_URL) });
    d = await open({ REDIS_URL: proxy.urlVia(REDIS_URL) }, c);
    await coherent(c.app, d.app);
  }, 120_000);
  afterAll(async () => {
    proxy?.restore();
    // The apps close first (afterAll above); the proxy goes with the process.
  });

  /** Redis calls of an app that failed or timed out, readiness pings excepted. */
  const failedRedisCalls = async (app: App) =>
    (await app.deps.metrics.integrationRequests.get()).values
      .filter(
        (v) =>
          v.labels.integration === "redis" &&
          v.labels.operation !== "ping" &&
          ["error", "timeout"].includes(String(v.labels.outcome)),
      )
      .reduce((sum, v) => sum + v.value, 0);

  it("answers stay correct, the breaker opens, rate limits move to memory; all returns with Redis", async () => {
    const apiC = client(c.app, c.adminKey);
    const apiD = client(d.app, d.adminKey);
    const contact = (await apiC.post("/v1/contacts", { name: "n0" })).body;
    expect((await apiC.get(`/v1/contacts/${contact.id}`)).body.name).toBe("n0");
    expect((await apiD.get(`/v1/contacts/${contact.id}`)).body.name).toBe("n0");
    // Cached on both (memory and Redis); changed during the outage by a writer whose
    // invalidation never comes (it crashed): only the instances' own recovery rules can
    // keep them from answering the old row afterwards.
    const orphan = (await apiC.post("/v1/contacts", { name: "before outage" })).body;
    expect((await apiC.get(`/v1/contacts/${orphan.id}`)).body.name).toBe("before outage");
    expect((await apiD.get(`/v1/contacts/${orphan.id}`)).body.name).toBe("before outage");

    proxy.cut();
    await waitFor(
      () => !c.app.deps.cache.status().coherent && !d.app.deps.cache.status().coherent,
      5_000,
      {
        what: "both caches bypassed",
      },
    );
    const latencies: number[] = [];
    const timedCall = async <T>(fn: () => Promise<T>) => {
      const started = performance.now();
      const value = await fn();
      latencies.push(performance.now() - started);
      return value;
    };
    // Writes on D, reads on C: C cannot hear D's invalidations, so it reads the database.
    let n = 0;
    const writeAndRead = async () => {
      n++;
      const patched = await timedCall(() =>
        apiD.patch(`/v1/contacts/${contact.id}`, { name: `n${n}` }),
      );
      expect(patched.status).toBe(200);
      expect(
        (await timedCall(() => apiC.get(`/v1/contacts/${contact.id}`))).body.name,
        "read on C",
      ).toBe(`n${n}`);
      expect(
        (await timedCall(() => apiD.get(`/v1/contacts/${contact.id}`))).body.name,
        "read on D",
      ).toBe(`n${n}`);
    };
    await waitFor(
      async () => {
        await writeAndRead();
        return d.app.deps.cachePlatform.redis!.policy.breakerState() === "open";
      },
      10_000,
      { intervalMs: 0, what: "D's breaker to open" },
    );
    // Calls already sent when the breaker opened still end (in a command timeout): let
    // them, so that what follows counts only calls made while it is open.
    let settledFailures = -1;
    await waitFor(
      async () => {
        const seen = await failedRedisCalls(d.app);
        const stable = seen === settledFailures;
        settledFailures = seen;
        return stable;
      },
      5_000,
      { intervalMs: 400, what: "Redis calls in flight when the breaker opened to end" },
    );
    const failedBefore = await failedRedisCalls(d.app);
    const memoryBefore = await metricValue(d.app, "ventros_rate_limit_decisions_total", {
      store: "memory",
    });
    for (let i = 0; i < 10; i++) await writeAndRead();
    // Once open, no request on D waited on Redis: no Redis call failed or timed out.
    expect(await failedRedisCalls(d.app)).toBe(failedBefore);
    expect(
      await metricValue(d.app, "ventros_rate_limit_decisions_total", { store: "memory" }),
    ).toBeGreaterThanOrEqual(memoryBefore + 20);
    expect(
      await metricValue(d.app, "ventros_cache_requests_total", { result: "bypass" }),
    ).toBeGreaterThan(0);
    const ready = await apiD.get("/health/ready");
    expect(ready.status).toBe(200);
    expect(ready.body.status).toBe("degraded");
    expect(ready.body.checks.redis).toMatchObject({
      status: "unavailable",
      critical: false,
      breaker: "open",
      cache: "bypassed",
    });
    const sorted = [...latencies].sort((x, y) => x - y);
    console.info(
      `redis outage: ${latencies.length} requests, p50 ${sorted[Math.floor(sorted.length / 2)]!.toFixed(1)} ms, ` +
        `max ${sorted.at(-1)!.toFixed(1)} ms (the first writes paid Redis timeouts until the breaker opened)`,
    );

    await c.app.deps.database.db
      .updateTable("contacts")
      .set({ name: "changed during outage", updated_at: new Date() })
      .where("id", "=", orphan.id)
      .execute();
    expect((await apiC.get(`/v1/contacts/${orphan.id}`)).body.name).toBe("changed during outage");

    proxy.restore();
    await waitFor(
      () =>
        [c, d].every((t) => {
          const { coherent: isCoherent, pendingDeletes } = t.app.deps.cache.status();
          return (
            isCoherent &&
            pendingDeletes === 0 &&
            t.app.deps.cachePlatform.redis!.policy.breakerState() === "closed"
          );
        }),
      15_000,
      { what: "Redis back on both instances" },
    );
    expect((await apiC.get(`/v1/contacts/${contact.id}`)).body.name).toBe(`n${n}`);
    expect((await apiD.get(`/v1/contacts/${contact.id}`)).body.name).toBe(`n${n}`);
    // Memory tiers were emptied and Redis entries from before the outage are not trusted.
    for (const api of [apiC, apiD])
      expect((await api.get(`/v1/contacts/${orphan.id}`)).body.name).toBe("changed during outage");
    // C caches again: D's next write reaches it when the bus message does (the measured
    // window), not necessarily before D answers.
    n++;
    expect((await apiD.patch(`/v1/contacts/${contact.id}`, { name: `n${n}` })).status).toBe(200);
    expect((await apiD.get(`/v1/contacts/${contact.id}`)).body.name).toBe(`n${n}`);
    await convergence(
      () => apiC.get(`/v1/contacts/${contact.id}`),
      (res) => res.body.name === `n${n}`,
    );
    const redisBefore = await metricValue(d.app, "ventros_rate_limit_decisions_total", {
      store: "redis",
    });
    await apiD.get(`/v1/contacts/${contact.id}`);
    expect(await metricValue(d.app, "ventros_rate_limit_decisions_total", { store: "redis" })).toBe(
      redisBefore + 1,
    );
    const hitsBefore = await metricValue(d.app, "ventros_cache_requests_total", {
      cache: "contact",
      result: "hit",
    });
    await apiD.get(`/v1/contacts/${contact.id}`);
    expect(
      await metricValue(d.app, "ventros_cache_requests_total", { cache: "contact", result: "hit" }),
    ).toBe(hitsBefore + 1);
    expect((await apiD.get("/health/ready")).body.status).toBe("ok");
  });
});
