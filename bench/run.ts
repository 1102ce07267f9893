import { cpus, loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import { PGlite } from "@electric-sql/pglite";
import { openPgliteDatabase } from "../src/platform/db/pglite-database.ts";
import { createBenchDatabase, startBenchApp } from "./bench-app.ts";
import type { LoadPlan } from "./load.ts";
import { measureBackend } from "./measure-backend.ts";
import { openRawPglite, openRawPostgres } from "./raw-driver.ts";
import { formatTable, toJsonLine, type ResultRow } from "./report.ts";
import { readSettings } from "./settings.ts";

/**
 * Contacts throughput and latency through the HTTP layer (in-process inject and a real
 * loopback socket), each divided by the raw driver's rate for the same kind of statement
 * measured in the same run on the same backend. PGlite always; PostgreSQL when
 * DATABASE_URL is set, in a database of its own that is dropped at the end.
 */
const settings = readSettings(process.env);
const interrupted = new AbortController();
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    progress(`${signal}: stopping, cleaning up`);
    interrupted.abort();
  });
}

function progress(message: string) {
  console.log(`[bench] ${message}`);
}

const planFor = (concurrency: number): LoadPlan => ({
  concurrency,
  warmupMs: settings.warmupMs,
  durationMs: settings.durationMs,
  signal: interrupted.signal,
});

async function benchPglite(): Promise<ResultRow[]> {
  progress("pglite: starting two fresh in-memory instances (baseline, app)");
  const started = performance.now();
  const pglite = await PGlite.create();
  // The app's instance starts from a copy of this untouched cluster: loading a dump takes
  // about a second, a second initdb in WASM four or more.
  const pristine = await pglite.dumpDataDir("none");
  const raw = await openRawPglite(pglite);
  try {
    const database = await openPgliteDatabase({ loadDataDir: pristine });
    const bench = await startBenchApp(settings.appLogLevel, {}, database);
    progress(`pglite: ready in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    try {
      const plan = planFor(settings.concurrency.pglite);
      return await measureBackend({ backend: "pglite", bench, raw, plan, progress });
    } finally {
      await bench.app.stop();
    }
  } finally {
    await raw.close();
  }
}

async function benchPostgres(serverUrl: string): Promise<ResultRow[]> {
  const database = await createBenchDatabase(serverUrl);
  progress(`postgres: created database ${database.name}`);
  try {
    const env = { DATABASE_URL: database.url, DATABASE_POOL_MAX: settings.poolMax };
    const started = performance.now();
    const bench = await startBenchApp(settings.appLogLevel, env);
    progress(`postgres: app ready in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    try {
      // Same pool size as the app's, same concurrency as the HTTP load.
      const raw = await openRawPostgres(database.url, bench.app.config.DATABASE_POOL_MAX);
      try {
        const plan = planFor(settings.concurrency.postgres);
        return await measureBackend({ backend: "postgres", bench, raw, plan, progress });
      } finally {
        await raw.close();
      }
    } finally {
      await bench.app.stop();
    }
  } finally {
    await database.drop();
    progress(`postgres: dropped database ${database.name}`);
  }
}

const loadAverage = () =>
  loadavg()
    .map((n) => n.toFixed(2))
    .join(" ");

function printResults(rows: ResultRow[], totalSeconds: number) {
  const cores = cpus();
  console.log(`load average at end: ${loadAverage()}`);
  console.log("");
  console.log(formatTable(rows));
  console.log("");
  console.log(
    "raw driver = one autocommit statement per call on the app's schema " +
      "(insert ... returning *; select * where id = $1)",
  );
  console.log("create = POST /v1/contacts, get = GET /v1/contacts/:id");
  console.log(
    "inject = app.server.inject in-process; socket = undici Pool over 127.0.0.1 from a worker thread",
  );
  console.log("vs raw = req/s over the raw driver's rate for insert (create) or select (get)");
  if (rows.some((r) => r.backend === "postgres")) {
    console.log(
      `PostgreSQL pool size ${settings.poolMax ?? "10 (app default)"} for the app and the raw pg.Pool`,
    );
  }
  for (const row of rows) {
    const where = `${row.backend} ${row.operation} ${row.mode}`;
    if (row.errors > 0) console.log(`ERRORS ${where}: ${row.errors}, first: ${row.firstError}`);
    if (row.skipped) console.log(`SKIPPED ${where}: ${row.skipped}`);
  }
  const meta = {
    bench: "ventros-contacts",
    node: process.version,
    cpus: cores.length,
    warmupMs: settings.warmupMs,
    durationMs: settings.durationMs,
    totalSeconds,
    loadAverageAtEnd: loadavg().map((n) => Math.round(n * 100) / 100),
  };
  console.log(toJsonLine(meta, rows));
}

async function main() {
  const started = Date.now();
  const cores = cpus();
  console.log(
    `Ventros contacts benchmark: node ${process.version}, ${cores.length} x ${cores[0]?.model ?? "?"}`,
  );
  // Other work on the machine skews every figure; the load average shows whether it did.
  console.log(`load average at start: ${loadAverage()}`);
  console.log(
    `warm-up ${settings.warmupMs} ms + ${settings.durationMs} ms per measurement; concurrency ` +
      `pglite ${settings.concurrency.pglite}, postgres ${settings.concurrency.postgres}` +
      (settings.databaseUrl ? "" : " (DATABASE_URL unset: PostgreSQL skipped)"),
  );
  const rows = await benchPglite();
  if (settings.databaseUrl) rows.push(...(await benchPostgres(settings.databaseUrl)));
  printResults(rows, Math.round((Date.now() - started) / 100) / 10);
  if (rows.some((r) => r.errors > 0 || r.requests === 0)) process.exitCode = 1;
}

try {
  await main();
} catch (error) {
  console.error(interrupted.signal.aborted ? "bench interrupted" : error);
  process.exitCode = interrupted.signal.aborted ? 130 : 1;
}
