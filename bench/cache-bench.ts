import { randomBytes } from "node:crypto";
import { Worker } from "node:worker_threads";
import Fastify from "fastify";
import { Redis } from "ioredis";
import { compose, type App } from "../src/compose.ts";
import { loadConfig } from "../src/config.ts";
import type { Database } from "../src/platform/db/database.ts";
import { uuidv7 } from "../src/platform/ids.ts";
import { createLogger } from "../src/platform/logger.ts";
import { toContact } from "../src/services/contact-view.ts";
import type { CacheLoadRequest } from "./cache-load-worker.ts";
import type { LoadResult } from "./load.ts";
import { summarize, type LatencySummary } from "./percentiles.ts";
import type { Backend } from "./report.ts";
import { openSuiteApp, throwIfAborted, type SuiteApp, type SuiteContext } from "./suite-app.ts";
import { jsonNumber, ms, percent, rate, renderTable, type Column } from "./suite-table.ts";
import { shuffled } from "./zipf.ts";

/**
 * GET /v1/contacts/:id over a loopback socket with Zipf(1.1) ids over 10,000 contacts:
 * the app with its cache (memory tier, Redis tier and bus when REDIS_URL is set), the
 * same app with CACHE_ENABLED=false on the same database (and the same Redis-backed rate
 * limiter), and a bare Fastify route answering a fixed contact, all in one run.
 * Goals: hit ratio >= 90 %, cached p50 at least 10x below uncached, cached throughput
 * >= 0.6x the bare route.
 */

export const CONTACTS = 10_000;
export const ZIPF_S = 1.1;

export interface CacheRow {
  mode: "bare fastify" | "cache off" | "cache on, cold" | "cache on, warm";
  backend: Backend;
  redis: boolean;
  concurrency: number;
  requests: number;
  errors: number;
  firstError: string | undefined;
  rps: number;
  latency: LatencySummary;
  /** Contact reads answered by the cache in the measured window (hit + stale over all). */
  hitRatio: number | undefined;
  /** API key lookups answered by the cache in the measured window. */
  keyHitRatio: number | undefined;
}

export const CACHE_LEGEND = [
  "cache on, cold = the app as configured, right after start (only the warm-up before it);",
  "cache on, warm = the same after one read of every contact (the steady state of a server under this",
  "  traffic: with a 5 min TTL every contact is read well within its lifetime); cache off = CACHE_ENABLED=false",
  "bare fastify = Fastify with one route answering a fixed contact (no hooks, auth, limits or database)",
  "hit = contact reads answered by the cache in the measured window; key hit = API key lookups",
  "vs bare = req/s over the bare route's; p50 x = the uncached p50 over this row's p50",
];

const workerUrl = new URL("./cache-load-worker.ts", import.meta.url).href;
const bootstrap = `import(${JSON.stringify(import.meta.resolve("tsx/esm/api"))})
  .then(({ tsImport }) => tsImport(${JSON.stringify(workerUrl)}, ${JSON.stringify(workerUrl)}))`;

function runLoad(request: CacheLoadRequest, signal: AbortSignal): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(bootstrap, { eval: true, workerData: request });
    const abort = () => void worker.terminate();
    signal.addEventListener("abort", abort, { once: true });
    let settled = false;
    worker.once("message", (result: LoadResult) => {
      settled = true;
      resolve(result);
    });
    worker.once("error", (error) => {
      settled = true;
      reject(error);
    });
    worker.once("exit", (code) => {
      signal.removeEventListener("abort", abort);
      if (!settled) reject(new Error(`cache load worker exited with code ${code}`));
    });
  });
}

/** Contact reads by result, summed over `caches`. */
async function reads(app: App, cache: string) {
  const counts = { served: 0, all: 0 };
  for (const value of (await app.deps.metrics.cacheRequests.get()).values) {
    if (value.labels.cache !== cache) continue;
    counts.all += value.value;
    if (value.labels.result === "hit" || value.labels.result === "stale")
      counts.served += value.value;
  }
  return counts;
}

const ratio = (before: { served: number; all: number }, after: { served: number; all: number }) =>
  after.all - before.all > 0
    ? (after.served - before.served) / (after.all - before.all)
    : undefined;

async function seedContacts(app: App, projectId: string): Promise<string[]> {
  const ids: string[] = [];
  const now = new Date();
  for (let batch = 0; batch < CONTACTS / 1_000; batch++) {
    const rows = Array.from({ length: 1_000 }, (_, i) => {
      const n = batch * 1_000 + i;
      const id = uuidv7();
      ids.push(id);
      return {
        id,
        project_id: projectId,
        name: `Zipf Contact ${n}`,
        phone: `1${String(5_000_000_000 + n)}`,
        email: `zipf${n}@bench.example`,
        tags: ["bench"],
        custom_fields: JSON.stringify({ rank: n }),
        created_at: now,
        updated_at: now,
      };
    });
    await app.deps.database.db.insertInto("contacts").values(rows).execute();
  }
  return ids;
}

/** Another instance on the first one's database with the cache turned off. */
async function openUncached(on: SuiteApp, env: Record<string, string>): Promise<App> {
  const config = loadConfig({
    ...Object.fromEntries(
      Object.entries(on.app.config).map(([k, v]) => [k, v === undefined ? undefined : String(v)]),
    ),
    ...env,
    CACHE_ENABLED: "false",
  });
  // PGlite lives in this process: share it (the first app closes it); PostgreSQL by URL.
  const shared = on.app.deps.database;
  const database: Database | undefined =
    on.backend === "pglite"
      ? {
          kind: shared.kind,
          db: shared.db,
          jobsExecutor: shared.jobsExecutor,
          connectionString: shared.connectionString,
          ping: () => shared.ping(),
          close: async () => undefined,
        }
      : undefined;
  const app = await compose(config, {
    ...(database ? { database } : {}),
    logger: createLogger(config.LOG_LEVEL),
    announce: () => undefined,
  });
  await app.start();
  return app;
}

export async function runCacheSuite(ctx: SuiteContext): Promise<CacheRow[]> {
  const { settings, signal, progress } = ctx;
  const backend: Backend = settings.databaseUrl ? "postgres" : "pglite";
  const redisUrl = settings.redisUrl;
  const prefix = `vbench-${process.pid}-${randomBytes(3).toString("hex")}`;
  const env = {
    ...(redisUrl ? { REDIS_URL: redisUrl, REDIS_KEY_PREFIX: prefix } : {}),
    CACHE_L1_MAX_ITEMS: String(CONTACTS * 2),
  };
  const concurrency = settings.concurrency[backend];
  const rows: CacheRow[] = [];
  progress(`cache: ${backend}${redisUrl ? " with Redis" : " (REDIS_URL unset: memory tier only)"}`);
  const on = await openSuiteApp(ctx, backend, { env });
  let off: App | undefined;
  const bare = Fastify();
  try {
    progress(`cache: seeding ${CONTACTS} contacts`);
    const ids = shuffled(await seedContacts(on.app, on.projectId));
    const { key } = await on.app.deps.apiKeys.create(on.projectId, {
      name: "cache bench",
      role: "readonly",
    });
    off = await openUncached(on, env);
    const sample = await on.app.deps.database.db
      .selectFrom("contacts")
      .selectAll()
      .where("id", "=", ids[0]!)
      .executeTakeFirstOrThrow();
    const fixed = toContact(sample);
    bare.get("/v1/contacts/:id", async () => fixed);
    const origins = {
      "bare fastify": await bare.listen({ host: "127.0.0.1", port: 0 }),
      "cache off": await off.server.listen({ host: "127.0.0.1", port: 0 }),
      "cache on, cold": await on.app.server.listen({ host: "127.0.0.1", port: 0 }),
    };
    const origin = (mode: CacheRow["mode"]) =>
      mode === "cache on, warm" ? origins["cache on, cold"] : origins[mode];
    for (const mode of ["bare fastify", "cache on, cold", "cache on, warm", "cache off"] as const) {
      throwIfAborted(signal);
      const app = mode.startsWith("cache on") ? on.app : mode === "cache off" ? off : undefined;
      if (mode === "cache on, warm") {
        progress(`cache: reading each of the ${CONTACTS} contacts once`);
        await prime(on.app, key, ids);
      }
      const request = (durationMs: number): CacheLoadRequest => ({
        origin: origin(mode),
        apiKey: key,
        ids,
        zipfS: ZIPF_S,
        plan: { concurrency, warmupMs: 0, durationMs },
      });
      progress(`cache: ${mode} on ${origin(mode)} (concurrency ${concurrency})`);
      if (settings.warmupMs > 0) await runLoad(request(settings.warmupMs), signal);
      const before = app && {
        contacts: await reads(app, "contact"),
        keys: await reads(app, "api_key"),
      };
      const result = await runLoad(request(settings.durationMs), signal);
      const after = app && {
        contacts: await reads(app, "contact"),
        keys: await reads(app, "api_key"),
      };
      rows.push({
        mode,
        backend,
        redis: Boolean(redisUrl),
        concurrency,
        requests: result.requests,
        errors: result.errors,
        firstError: result.firstError,
        rps: (result.requests / result.elapsedMs) * 1000,
        latency: summarize(result.latenciesMs),
        hitRatio: before && after ? ratio(before.contacts, after.contacts) : undefined,
        keyHitRatio: before && after ? ratio(before.keys, after.keys) : undefined,
      });
    }
  } finally {
    await bare.close();
    await off?.stop().catch(() => undefined);
    await on.close();
    if (redisUrl) await dropKeys(redisUrl, prefix);
  }
  return rows;
}

/** One GET of every contact, 16 at a time, in-process. */
async function prime(app: App, key: string, ids: readonly string[]) {
  let next = 0;
  const worker = async () => {
    while (next < ids.length) {
      const id = ids[next++]!;
      const res = await app.server.inject({
        method: "GET",
        url: `/v1/contacts/${id}`,
        headers: { authorization: `Bearer ${key}` },
      });
      if (res.statusCode !== 200) throw new Error(`priming GET answered ${res.statusCode}`);
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
}

async function dropKeys(url: string, prefix: string) {
  const redis = new Redis(url, { maxRetriesPerRequest: 1, commandTimeout: 2_000 });
  try {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1_000);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== "0");
  } finally {
    await redis.quit();
  }
}

export function formatCacheTable(rows: CacheRow[]): string {
  const bare = rows.find((r) => r.mode === "bare fastify");
  const uncached = rows.find((r) => r.mode === "cache off");
  const columns: Column<CacheRow>[] = [
    { header: "backend", cell: (r) => `${r.backend}${r.redis ? "+redis" : ""}`, text: true },
    { header: "mode", cell: (r) => r.mode, text: true },
    { header: "conc", cell: (r) => String(r.concurrency) },
    { header: "requests", cell: (r) => String(r.requests) },
    { header: "req/s", cell: (r) => rate(r.rps) },
    { header: "p50 ms", cell: (r) => ms(r.latency.p50) },
    { header: "p99 ms", cell: (r) => ms(r.latency.p99) },
    { header: "hit", cell: (r) => percent(r.hitRatio) },
    { header: "key hit", cell: (r) => percent(r.keyHitRatio) },
    { header: "vs bare", cell: (r) => (bare ? `${(r.rps / bare.rps).toFixed(2)}x` : "-") },
    {
      header: "p50 x",
      cell: (r) =>
        uncached && r.mode !== "bare fastify"
          ? `${(uncached.latency.p50 / r.latency.p50).toFixed(1)}x`
          : "-",
    },
  ];
  return renderTable(columns, rows);
}

/** Whether each goal is met, in words, for the report. */
export function cacheGoals(rows: CacheRow[]): string[] {
  const on = rows.find((r) => r.mode === "cache on, warm");
  const off = rows.find((r) => r.mode === "cache off");
  const bare = rows.find((r) => r.mode === "bare fastify");
  if (!on || !off || !bare) return [];
  const verdict = (ok: boolean) => (ok ? "met" : "NOT met");
  const speedup = off.latency.p50 / on.latency.p50;
  const share = on.rps / bare.rps;
  return [
    `hit ratio ${percent(on.hitRatio)} (goal >= 90%): ${verdict((on.hitRatio ?? 0) >= 0.9)}`,
    `cached p50 ${speedup.toFixed(1)}x faster than uncached (goal >= 10x): ${verdict(speedup >= 10)}`,
    `cached throughput ${share.toFixed(2)}x the bare route (goal >= 0.6x): ${verdict(share >= 0.6)}`,
  ];
}

export const cacheJson = (rows: CacheRow[]) =>
  rows.map((r) => ({
    backend: r.backend,
    redis: r.redis,
    mode: r.mode,
    concurrency: r.concurrency,
    requests: r.requests,
    errors: r.errors,
    rps: jsonNumber(r.rps),
    p50: jsonNumber(r.latency.p50),
    p99: jsonNumber(r.latency.p99),
    hitRatio: jsonNumber(r.hitRatio),
    keyHitRatio: jsonNumber(r.keyHitRatio),
  }));
