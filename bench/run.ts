import { cpus, loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import { openPgliteDatabase } from "../src/platform/db/pglite-database.ts";
import { createBenchDatabase, startBenchApp } from "./bench-app.ts";
import {
  CACHE_LEGEND,
  CONTACTS,
  ZIPF_S,
  cacheGoals,
  cacheJson,
  formatCacheTable,
  runCacheSuite,
  type CacheRow,
} from "./cache-bench.ts";
import {
  EVENTS_LEGEND,
  eventsJson,
  formatEventsTable,
  runEventsSuite,
  type EventsReport,
} from "./events-bench.ts";
import {
  INBOUND_LEGEND,
  formatInboundTable,
  inboundJson,
  runInboundSuite,
  type InboundRow,
} from "./inbound-bench.ts";
import type { LoadPlan } from "./load.ts";
import { measureBackend } from "./measure-backend.ts";
import { closePgliteTemplate, pgliteTemplate } from "./pglite-template.ts";
import { openRawPglite, openRawPostgres } from "./raw-driver.ts";
import { formatTable, toJsonLine, type ResultRow } from "./report.ts";
import { readSettings } from "./settings.ts";
import { describeJobStats, type SuiteContext } from "./suite-app.ts";
import {
  WEBHOOKS_LEGEND,
  formatWebhooksTable,
  runWebhooksSuite,
  webhooksJson,
  type WebhooksRow,
} from "./webhooks-bench.ts";

/**
 * Contacts throughput and latency through the HTTP layer (in-process inject and a real
 * loopback socket), each divided by the raw driver's rate for the same kind of statement
 * measured in the same run on the same backend. PGlite always; PostgreSQL when
 * DATABASE_URL is set, in a database of its own that is dropped at the end.
 * Then domain events (events-bench.ts) and WhatsApp inbound (inbound-bench.ts), and the
 * read-through cache (cache-bench.ts); BENCH_SUITES picks the parts.
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
  // The app's instance starts from a copy of an untouched cluster: loading a dump takes
  // about a second, a second initdb in WASM four or more.
  const template = await pgliteTemplate();
  const pristine = template.dump;
  const raw = await openRawPglite(await template.instance());
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

interface Results {
  contacts?: ResultRow[];
  events?: EventsReport;
  inbound?: InboundRow[];
  webhooks?: WebhooksRow[];
  cache?: CacheRow[];
}

function printResults(results: Results, totalSeconds: number) {
  const cores = cpus();
  const rows = results.contacts ?? [];
  console.log(`load average at end: ${loadAverage()}`);
  if (results.contacts) {
    console.log("");
    console.log("== contacts ==");
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
  }
  if (results.events) {
    console.log("");
    console.log(
      `== events (producer: ${settings.events.producer === "contacts" ? "contacts.create" : "UnitOfWork outbox write"}, ` +
        `goal p95 < 15 ms at 1,000 events/s on RabbitMQ) ==`,
    );
    console.log(formatEventsTable(results.events.rows));
    console.log("");
    for (const line of EVENTS_LEGEND) console.log(line);
    for (const row of results.events.rows) {
      const where = `events ${row.backend} ${row.bus} ${row.measurement}`;
      if (row.note) console.log(`${where}: ${row.note}`);
      if (row.errors > 0) console.log(`ERRORS ${where}: ${row.errors}, first: ${row.firstError}`);
    }
    for (const note of results.events.notes) console.log(`SKIPPED ${note}`);
  }
  if (results.webhooks) {
    console.log("");
    console.log(
      "== webhooks (goal on PostgreSQL: >= 1,000 deliveries/s, event -> first attempt p95 < 250 ms) ==",
    );
    console.log(formatWebhooksTable(results.webhooks));
    console.log("");
    for (const line of WEBHOOKS_LEGEND) console.log(line);
    for (const row of results.webhooks)
      if (row.note) console.log(`webhooks ${row.backend} ${row.measurement}: ${row.note}`);
  }
  if (results.inbound) {
    console.log("");
    console.log(
      "== inbound (goal on PostgreSQL: >= 1,000 messages/s processed, accept p99 < 10 ms at 500 req/s) ==",
    );
    console.log(formatInboundTable(results.inbound));
    console.log("");
    for (const line of INBOUND_LEGEND) console.log(line);
    for (const row of results.inbound) {
      const where = `inbound ${row.backend} ${row.measurement}`;
      if (row.jobStats || row.note) {
        const jobs = row.jobStats ? describeJobStats(row.jobStats) : "";
        console.log(`${where}: ${[row.note, jobs].filter(Boolean).join("; ")}`);
      }
      if (row.errors > 0) console.log(`ERRORS ${where}: ${row.errors}, first: ${row.firstError}`);
    }
  }
  if (results.cache) {
    console.log("");
    console.log(
      `== cache (GET /v1/contacts/:id, Zipf(${ZIPF_S}) over ${CONTACTS} contacts; goals: hit ratio >= 90%, ` +
        `cached p50 >= 10x faster than uncached, throughput >= 0.6x a bare route) ==`,
    );
    console.log(formatCacheTable(results.cache));
    console.log("");
    for (const line of CACHE_LEGEND) console.log(line);
    for (const line of cacheGoals(results.cache)) console.log(line);
    for (const row of results.cache) {
      if (row.errors > 0)
        console.log(`ERRORS cache ${row.mode}: ${row.errors}, first: ${row.firstError}`);
    }
  }
  console.log("");
  if (settings.databaseUrl) {
    console.log(
      `PostgreSQL pool size ${settings.poolMax ?? "10 (app default)"} for the apps and the raw pg.Pool`,
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
    suites: settings.suites,
    totalSeconds,
    loadAverageAtEnd: loadavg().map((n) => Math.round(n * 100) / 100),
  };
  const line = JSON.parse(toJsonLine(meta, rows)) as Record<string, unknown>;
  console.log(
    JSON.stringify({
      ...line,
      ...(results.events
        ? {
            events: {
              producer: settings.events.producer,
              ratePerSecond: settings.events.ratePerSecond,
              burst: settings.events.burst,
              drainTimeoutMs: settings.drainTimeoutMs,
              results: eventsJson(results.events),
            },
          }
        : {}),
      ...(results.webhooks ? { webhooks: webhooksJson(results.webhooks) } : {}),
      ...(results.cache
        ? { cache: { contacts: CONTACTS, zipfS: ZIPF_S, results: cacheJson(results.cache) } }
        : {}),
      ...(results.inbound
        ? {
            inbound: {
              ratePerSecond: settings.inbound.ratePerSecond,
              contacts: settings.inbound.contacts,
              drainTimeoutMs: settings.drainTimeoutMs,
              results: inboundJson(results.inbound),
            },
          }
        : {}),
    }),
  );
}

/** Errors or empty measurements fail the run; slow deliveries (timeouts) are results. */
function failed(results: Results): boolean {
  return (
    (results.contacts ?? []).some((r) => r.errors > 0 || r.requests === 0) ||
    (results.events?.rows ?? []).some((r) => !r.skipped && (r.errors > 0 || r.events === 0)) ||
    (results.inbound ?? []).some((r) => r.errors > 0 || r.requests === 0) ||
    (results.webhooks ?? []).some((r) => r.deliveries < r.expected || r.rate === 0) ||
    (results.cache ?? []).some((r) => r.errors > 0 || r.requests === 0)
  );
}

async function main() {
  const started = Date.now();
  const cores = cpus();
  console.log(
    `Ventros benchmark (${settings.suites.join(", ")}): node ${process.version}, ` +
      `${cores.length} x ${cores[0]?.model ?? "?"}`,
  );
  // Other work on the machine skews every figure; the load average shows whether it did.
  console.log(`load average at start: ${loadAverage()}`);
  console.log(
    `warm-up ${settings.warmupMs} ms + ${settings.durationMs} ms per measurement; concurrency ` +
      `pglite ${settings.concurrency.pglite}, postgres ${settings.concurrency.postgres}` +
      (settings.databaseUrl ? "" : " (DATABASE_URL unset: PostgreSQL skipped)"),
  );
  if (settings.suites.some((s) => s !== "contacts")) {
    console.log(
      `events ${settings.events.ratePerSecond}/s paced, ${settings.events.burst} per max run; ` +
        `inbound ${settings.inbound.ratePerSecond} req/s paced from ${settings.inbound.contacts} senders; ` +
        `drain timeout ${settings.drainTimeoutMs} ms` +
        (settings.amqpUrl ? "" : " (AMQP_URL unset: RabbitMQ skipped)"),
    );
  }
  const context: SuiteContext = { settings, signal: interrupted.signal, progress };
  const results: Results = {};
  if (settings.suites.includes("contacts")) {
    const rows = await benchPglite();
    if (settings.databaseUrl) rows.push(...(await benchPostgres(settings.databaseUrl)));
    results.contacts = rows;
  }
  if (settings.suites.includes("events")) results.events = await runEventsSuite(context);
  if (settings.suites.includes("inbound")) results.inbound = await runInboundSuite(context);
  if (settings.suites.includes("webhooks")) results.webhooks = await runWebhooksSuite(context);
  if (settings.suites.includes("cache")) results.cache = await runCacheSuite(context);
  printResults(results, Math.round((Date.now() - started) / 100) / 10);
  if (failed(results)) process.exitCode = 1;
}

try {
  await main();
} catch (error) {
  console.error(interrupted.signal.aborted ? "bench interrupted" : error);
  process.exitCode = interrupted.signal.aborted ? 130 : 1;
} finally {
  await closePgliteTemplate();
}
// Everything above is closed and awaited. If something still holds the process (seen: a
// job worker of a stopped app whose fetch waits forever on its ended pool), name what is
// open and exit instead of hanging; the figures above stand. The timer itself does not
// keep the process alive.
setTimeout(() => {
  console.error(
    `bench: the process is still held open 10 s after the end ` +
      `(${process.getActiveResourcesInfo().join(", ")}); exiting`,
  );
  process.exit(process.exitCode ?? 0);
}, 10_000).unref();
