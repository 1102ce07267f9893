/** The knobs, read once from the environment; defaults keep a full run near a minute. */
export interface BenchSettings {
  durationMs: number;
  warmupMs: number;
  /**
   * Concurrent callers per backend (HTTP load and the raw-driver baseline alike).
   * BENCH_CONCURRENCY sets both; by default PostgreSQL gets 16, PGlite 2.
   */
  concurrency: { pglite: number; postgres: number };
  /** When set, PostgreSQL is measured too, in a fresh database made on this server. */
  databaseUrl: string | undefined;
  /** Passed to the app's config and used as the raw pg.Pool size. */
  poolMax: string | undefined;
  /** The app's LOG_LEVEL: silent, unless BENCH_APP_LOG_LEVEL asks to see its errors. */
  appLogLevel: string;
}

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) {
    throw new Error(`${name} must be an integer >= ${min} (got ${JSON.stringify(raw)})`);
  }
  return value;
}

export function readSettings(env: NodeJS.ProcessEnv): BenchSettings {
  // PGlite has one connection behind a mutex: more callers only queue, so keep it low.
  const concurrency = env["BENCH_CONCURRENCY"]
    ? integer(env, "BENCH_CONCURRENCY", 1, 1)
    : undefined;
  return {
    durationMs: integer(env, "BENCH_DURATION_MS", 3000, 1),
    warmupMs: integer(env, "BENCH_WARMUP_MS", 500, 0),
    concurrency: { pglite: concurrency ?? 2, postgres: concurrency ?? 16 },
    databaseUrl: env["DATABASE_URL"] || undefined,
    poolMax: env["DATABASE_POOL_MAX"] || undefined,
    appLogLevel: env["BENCH_APP_LOG_LEVEL"] || "silent",
  };
}
