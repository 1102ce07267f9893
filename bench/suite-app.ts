import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import { compose, type App } from "../src/compose.ts";
import { loadConfig } from "../src/config.ts";
import type { EventConsumer } from "../src/platform/bus/event-bus.ts";
import type { Database } from "../src/platform/db/database.ts";
import { openPgliteDatabase } from "../src/platform/db/pglite-database.ts";
import { createLogger } from "../src/platform/logger.ts";
import { createBenchDatabase } from "./bench-app.ts";
import { pgliteTemplate } from "./pglite-template.ts";
import type { Backend } from "./report.ts";
import type { BenchSettings } from "./settings.ts";

/** What every suite gets from run.ts. */
export interface SuiteContext {
  settings: BenchSettings;
  signal: AbortSignal;
  progress(message: string): void;
}

/** The backends a suite runs on: PGlite always, PostgreSQL when DATABASE_URL is set. */
export const backendsOf = (settings: BenchSettings): Backend[] =>
  settings.databaseUrl ? ["pglite", "postgres"] : ["pglite"];

export interface SuiteApp {
  app: App;
  backend: Backend;
  /** The project created on the fresh database (the bootstrap project). */
  projectId: string;
  /** The app's own PostgreSQL database (postgres only), for a raw driver beside it. */
  databaseUrl: string | undefined;
  /** Stops the app and drops its database; idempotent. */
  close(): Promise<void>;
}

/** Wall-clock milliseconds with sub-millisecond resolution, comparable across threads. */
export const epochMs = () => performance.timeOrigin + performance.now();

export function throwIfAborted(signal: AbortSignal) {
  if (signal.aborted) throw new Error("interrupted");
}

/** Resolves after `ms`, or at once when the signal aborts. */
export const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });

// createBenchDatabase names the database after the process: one may exist at a time.
let postgresInUse = false;

/**
 * An app as main.ts composes it, silent and loopback-only, on a fresh database of its own:
 * a PGlite loaded from the run's pristine cluster, or a new PostgreSQL database that
 * close() drops. Provider secrets are sealed with a random key (nothing is written to
 * DATA_DIR).
 */
export async function openSuiteApp(
  ctx: SuiteContext,
  backend: Backend,
  options: { env?: Record<string, string>; consumers?: EventConsumer[] } = {},
): Promise<SuiteApp> {
  const { settings } = ctx;
  throwIfAborted(ctx.signal);
  let database: Database | undefined;
  let databaseUrl: string | undefined;
  let drop: (() => Promise<void>) | undefined;
  if (backend === "postgres") {
    if (!settings.databaseUrl) throw new Error("postgres needs DATABASE_URL");
    if (postgresInUse) throw new Error("only one PostgreSQL bench database at a time");
    postgresInUse = true;
    try {
      const created = await createBenchDatabase(settings.databaseUrl);
      databaseUrl = created.url;
      drop = async () => {
        try {
          await created.drop();
        } finally {
          postgresInUse = false;
        }
      };
    } catch (error) {
      postgresInUse = false;
      throw error;
    }
  } else {
    database = await openPgliteDatabase({ loadDataDir: (await pgliteTemplate()).dump });
  }
  let app: App | undefined;
  try {
    const config = loadConfig({
      NODE_ENV: "production",
      LOG_LEVEL: settings.appLogLevel,
      HOST: "127.0.0.1",
      PORT: "0",
      ENCRYPTION_KEY: randomBytes(32).toString("base64"),
      // One key and one loopback address make every request: measure, do not throttle.
      RATE_LIMIT_PER_KEY_PER_MINUTE: "1000000",
      RATE_LIMIT_PER_IP_PER_MINUTE: "1000000",
      RATE_LIMIT_PER_CHANNEL_PER_MINUTE: "10000000",
      ...(settings.jobsPollIntervalSeconds
        ? { JOBS_POLL_INTERVAL_SECONDS: settings.jobsPollIntervalSeconds }
        : {}),
      ...(databaseUrl
        ? {
            DATABASE_URL: databaseUrl,
            ...(settings.poolMax ? { DATABASE_POOL_MAX: settings.poolMax } : {}),
          }
        : {}),
      ...options.env,
    });
    app = await compose(config, {
      ...(database ? { database } : {}),
      logger: createLogger(config.LOG_LEVEL),
      announce: () => undefined,
      ...(options.consumers ? { consumers: options.consumers } : {}),
    });
    await app.start();
    const project = await app.deps.database.db
      .selectFrom("projects")
      .select("id")
      .orderBy("created_at")
      .executeTakeFirstOrThrow();
    let closing: Promise<void> | undefined;
    const started = app;
    return {
      app: started,
      backend,
      projectId: project.id,
      databaseUrl,
      close: () =>
        (closing ??= (async () => {
          try {
            await started.stop();
          } finally {
            await drop?.();
          }
        })()),
    };
  } catch (error) {
    if (app) await app.stop().catch(() => undefined);
    else await database?.close().catch(() => undefined);
    await drop?.().catch(() => undefined);
    throw error;
  }
}

export interface JobStats {
  /** Handler executions by outcome (completed, retried, dead_lettered, ...). */
  outcomes: Record<string, number>;
  /** Mean handler time in ms; NaN before the first run. */
  meanHandlerMs: number;
}

/** One job queue's executions and handler time, from the app's own metrics. */
export async function jobStats(app: App, queue: string): Promise<JobStats> {
  const { registry } = app.deps.metrics;
  const outcomes: Record<string, number> = {};
  for (const value of (await registry.getSingleMetric("ventros_jobs_total")?.get())?.values ?? []) {
    if (value.labels["queue"] !== queue) continue;
    const outcome = String(value.labels["outcome"]);
    outcomes[outcome] = (outcomes[outcome] ?? 0) + value.value;
  }
  let sum = 0;
  let count = 0;
  const duration = await registry.getSingleMetric("ventros_job_duration_seconds")?.get();
  for (const value of duration?.values ?? []) {
    if (value.labels["queue"] !== queue) continue;
    const name = (value as { metricName?: string }).metricName ?? "";
    if (name.endsWith("_sum")) sum += value.value;
    if (name.endsWith("_count")) count += value.value;
  }
  return { outcomes, meanHandlerMs: count > 0 ? (sum * 1000) / count : Number.NaN };
}

export const describeJobStats = (stats: JobStats) => {
  const outcomes = Object.entries(stats.outcomes)
    .map(([outcome, n]) => `${outcome} ${n}`)
    .join(", ");
  const mean = Number.isNaN(stats.meanHandlerMs) ? "-" : stats.meanHandlerMs.toFixed(1);
  return `jobs ${outcomes || "none run"}, handler mean ${mean} ms`;
};
