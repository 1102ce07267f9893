import { whatsappJobs } from "../src/jobs/whatsapp-jobs.ts";
import { contactBody, phoneSequence } from "./contact-traffic.ts";
import { runInboundLoad } from "./inbound-load.ts";
import type { InboundLoadResult } from "./inbound-load-worker.ts";
import { measure } from "./load.ts";
import { summarize, type LatencySummary } from "./percentiles.ts";
import { openRawPglite, openRawPostgres, type RawDriver } from "./raw-driver.ts";
import { pgliteTemplate } from "./pglite-template.ts";
import type { Backend } from "./report.ts";
import {
  backendsOf,
  epochMs,
  jobStats,
  openSuiteApp,
  sleep,
  throwIfAborted,
  type JobStats,
  type SuiteApp,
  type SuiteContext,
} from "./suite-app.ts";
import { jsonNumber, ms, percent, rate, renderTable, type Column } from "./suite-table.ts";

/**
 * WAHA webhooks in: signed `message` events posted over a loopback socket to
 * /v1/inbound/waha/:inboundId at the maximum rate and at a paced rate. Accepting means
 * verified and durably stored (200); processing, done by durable jobs, means contact,
 * conversation session and message written. Each phase gets a fresh app, so one phase's
 * backlog never slows the next. Beside them, the raw driver's single-row insert rate.
 */

export interface InboundRow {
  backend: Backend;
  measurement: "raw insert" | "max rate" | "paced";
  /** Raw: concurrent callers; HTTP: keep-alive connections (max: callers too). */
  concurrency: number;
  targetRate: number | undefined;
  /** Requests (or raw inserts) in the measured window. */
  requests: number;
  errors: number;
  firstError: string | undefined;
  /** Accepted events (or raw inserts) per second in the measured window. */
  rate: number;
  latency: LatencySummary;
  /** Events accepted in the whole phase (warm-up included), each a message to process. */
  accepted: number;
  /** Rows in `messages` for the phase's channel when observation ended. */
  processed: number;
  /** Processed messages per second from the first post to the last one (or the timeout). */
  processedRate: number;
  /** Seconds from the first post until every accepted event was a message; NaN if never. */
  allProcessedSeconds: number;
  rawInsertRate: number;
  /** The inbound job's workers in this process, and their idle poll. */
  jobs: { concurrency: number; pollSeconds: number } | undefined;
  /** The inbound job's executions and handler time in the phase. */
  jobStats: JobStats | undefined;
  note: string | undefined;
}

const PACED_CONNECTIONS = 64;
/** The channel's (never called) WAHA base URL is on loopback: let the outbound guard pass it. */
const INBOUND_ENV = { OUTBOUND_ALLOW_CIDRS: "127.0.0.0/8" };
const POLL_MS = 100;

const countOf = async (query: { executeTakeFirstOrThrow(): Promise<{ n: unknown }> }) =>
  Number((await query.executeTakeFirstOrThrow()).n);

/** The raw driver alone: single-row inserts on the app's schema, as in the contacts part. */
async function rawInsert(ctx: SuiteContext, s: SuiteApp): Promise<InboundRow> {
  const { settings, signal } = ctx;
  const concurrency = settings.concurrency[s.backend];
  ctx.progress(`${s.backend}: raw driver insert (concurrency ${concurrency})`);
  let raw: RawDriver;
  if (s.backend === "pglite") {
    raw = await openRawPglite(await (await pgliteTemplate()).instance());
  } else {
    raw = await openRawPostgres(s.databaseUrl!, s.app.config.DATABASE_POOL_MAX);
  }
  try {
    const nextPhone = phoneSequence(8);
    const result = await measure(
      async () => {
        await raw.insertContact(contactBody(nextPhone()));
      },
      { concurrency, warmupMs: settings.warmupMs, durationMs: settings.durationMs, signal },
    );
    throwIfAborted(signal);
    const perSecond = (result.requests * 1000) / result.elapsedMs;
    return {
      backend: s.backend,
      measurement: "raw insert",
      concurrency,
      targetRate: undefined,
      requests: result.requests,
      errors: result.errors,
      firstError: result.firstError,
      rate: perSecond,
      latency: summarize(result.latenciesMs),
      accepted: Number.NaN,
      processed: Number.NaN,
      processedRate: Number.NaN,
      allProcessedSeconds: Number.NaN,
      rawInsertRate: perSecond,
      jobs: undefined,
      jobStats: undefined,
      note: undefined,
    };
  } finally {
    await raw.close();
  }
}

/** One phase on a fresh app: post, and watch the messages table until all are there. */
async function phase(
  ctx: SuiteContext,
  backend: Backend,
  mode: "max" | "paced",
  rawInsertRate: number,
  opened?: SuiteApp,
): Promise<InboundRow> {
  const { settings, signal } = ctx;
  const s = opened ?? (await openSuiteApp(ctx, backend, { env: INBOUND_ENV }));
  let phaseEnd = () => {};
  try {
    const { app, projectId } = s;
    // A channel needs a WAHA base URL that passes the outbound guard; inbound never calls it.
    const channel = await app.deps.channels.create(projectId, {
      name: "bench inbound",
      waha: { baseUrl: "http://127.0.0.1:3000", apiKey: "unused-by-inbound", session: "default" },
    });
    const path = new URL(channel.inboundUrl).pathname;
    const origin = await app.server.listen({ host: "127.0.0.1", port: 0 });
    const definition = whatsappJobs({
      jobs: () => app.deps.jobs,
      logger: app.deps.logger,
      inbound: () => app.deps.inbound,
      outbound: () => app.deps.outbound,
      conversations: () => app.deps.conversations,
      sendRetryLimit: app.config.WAHA_SEND_RETRY_LIMIT,
    }).processInbound;
    const jobs = {
      concurrency: definition.concurrency ?? 1,
      pollSeconds: app.config.JOBS_POLL_INTERVAL_SECONDS,
    };
    const concurrency = mode === "max" ? settings.concurrency[backend] : PACED_CONNECTIONS;
    ctx.progress(
      `${backend}: inbound ${mode === "max" ? `max rate, ${concurrency} connections` : `paced ${settings.inbound.ratePerSecond} req/s`} ` +
        `on ${origin}; processing job ${definition.name} x${jobs.concurrency}`,
    );
    // The posting worker stops with the phase, whatever ends it.
    const stopLoad = new AbortController();
    phaseEnd = () => stopLoad.abort();
    const load = runInboundLoad(
      {
        origin,
        path,
        secret: channel.inboundSecret,
        mode,
        concurrency,
        ratePerSecond: settings.inbound.ratePerSecond,
        warmupMs: settings.warmupMs,
        durationMs: settings.durationMs,
        contacts: settings.inbound.contacts,
      },
      AbortSignal.any([signal, stopLoad.signal]),
    );
    const state: { done?: InboundLoadResult; failed?: { error: unknown } } = {};
    load.then(
      (result) => (state.done = result),
      (error: unknown) => (state.failed = { error }),
    );
    const db = app.deps.database.db;
    const messages = db
      .selectFrom("messages")
      .select((eb) => eb.fn.countAll().as("n"))
      .where("channel_id", "=", channel.id);
    let processed = 0;
    let lastSampleAt = epochMs();
    let allAt: number | undefined;
    for (;;) {
      processed = await countOf(messages);
      lastSampleAt = epochMs();
      if (state.failed) throw state.failed.error;
      throwIfAborted(signal);
      const { done } = state;
      if (done && processed >= done.accepted) {
        allAt = lastSampleAt;
        break;
      }
      if (done && lastSampleAt >= done.lastAnswerAt + settings.drainTimeoutMs) break;
      await sleep(POLL_MS, signal);
    }
    const result = state.done!;
    const [contacts, sessions, pending] = await Promise.all([
      countOf(
        db
          .selectFrom("contacts")
          .select((eb) => eb.fn.countAll().as("n"))
          .where("project_id", "=", projectId),
      ),
      countOf(
        db
          .selectFrom("conversation_sessions")
          .select((eb) => eb.fn.countAll().as("n"))
          .where("channel_id", "=", channel.id),
      ),
      countOf(
        db
          .selectFrom("inbound_events")
          .select((eb) => eb.fn.countAll().as("n"))
          .where("channel_id", "=", channel.id)
          .where("status", "=", "pending"),
      ),
    ]);
    const stats = await jobStats(app, definition.name);
    const end = allAt ?? lastSampleAt;
    const perSecond = (result.requests * 1000) / result.elapsedMs;
    const notes = [
      `${contacts} contacts, ${sessions} sessions, ${pending} events still pending`,
      ...(result.missed > 0 ? [`${result.missed} scheduled posts not started`] : []),
      ...(allAt === undefined
        ? [`not all processed ${settings.drainTimeoutMs} ms after posting`]
        : []),
    ];
    return {
      backend,
      measurement: mode === "max" ? "max rate" : "paced",
      concurrency,
      targetRate: mode === "paced" ? settings.inbound.ratePerSecond : undefined,
      requests: result.requests,
      errors: result.errors,
      firstError: result.firstError,
      rate: perSecond,
      latency: summarize(result.latenciesMs),
      accepted: result.accepted,
      processed,
      processedRate: (processed * 1000) / (end - result.firstPostAt),
      allProcessedSeconds: allAt === undefined ? Number.NaN : (allAt - result.firstPostAt) / 1000,
      rawInsertRate,
      jobs,
      jobStats: stats,
      note: notes.join("; "),
    };
  } finally {
    phaseEnd();
    await s.close();
  }
}

async function inboundBackend(ctx: SuiteContext, backend: Backend): Promise<InboundRow[]> {
  // The first app is idle while the raw baseline runs (PostgreSQL: on its database).
  ctx.progress(`${backend}: inbound app`);
  const first = await openSuiteApp(ctx, backend, { env: INBOUND_ENV });
  let raw: InboundRow;
  try {
    raw = await rawInsert(ctx, first);
  } catch (error) {
    await first.close();
    throw error;
  }
  const max = await phase(ctx, backend, "max", raw.rate, first);
  throwIfAborted(ctx.signal);
  ctx.progress(`${backend}: fresh inbound app for the paced phase`);
  const paced = await phase(ctx, backend, "paced", raw.rate);
  return [raw, max, paced];
}

export async function runInboundSuite(ctx: SuiteContext): Promise<InboundRow[]> {
  const rows: InboundRow[] = [];
  for (const backend of backendsOf(ctx.settings)) {
    throwIfAborted(ctx.signal);
    rows.push(...(await inboundBackend(ctx, backend)));
  }
  return rows;
}

const isRaw = (r: InboundRow) => r.measurement === "raw insert";

export function formatInboundTable(rows: InboundRow[]): string {
  const columns: Column<InboundRow>[] = [
    { header: "backend", cell: (r) => r.backend, text: true },
    { header: "measurement", cell: (r) => r.measurement, text: true },
    { header: "conc", cell: (r) => String(r.concurrency) },
    { header: "target/s", cell: (r) => (r.targetRate === undefined ? "-" : String(r.targetRate)) },
    { header: "requests", cell: (r) => String(r.requests) },
    { header: "errors", cell: (r) => String(r.errors) },
    { header: "acc/s", cell: (r) => rate(r.rate) },
    { header: "p50 ms", cell: (r) => ms(r.latency.p50) },
    { header: "p95 ms", cell: (r) => ms(r.latency.p95) },
    { header: "p99 ms", cell: (r) => ms(r.latency.p99) },
    {
      header: "jobs",
      cell: (r) => (r.jobs ? `${r.jobs.concurrency} @${r.jobs.pollSeconds}s` : "-"),
    },
    { header: "accepted", cell: (r) => (isRaw(r) ? "-" : String(r.accepted)) },
    { header: "processed", cell: (r) => (isRaw(r) ? "-" : String(r.processed)) },
    { header: "proc/s", cell: (r) => rate(r.processedRate) },
    {
      header: "all in s",
      cell: (r) =>
        isRaw(r)
          ? "-"
          : Number.isNaN(r.allProcessedSeconds)
            ? "never"
            : r.allProcessedSeconds.toFixed(2),
    },
    { header: "acc vs raw", cell: (r) => (isRaw(r) ? "base" : percent(r.rate / r.rawInsertRate)) },
    {
      header: "proc vs raw",
      cell: (r) => (isRaw(r) ? "base" : percent(r.processedRate / r.rawInsertRate)),
    },
  ];
  return renderTable(columns, rows);
}

export const INBOUND_LEGEND = [
  "raw insert = the raw driver's single-row contact insert on the same backend (acc/s = inserts/s)",
  "max rate = `conc` callers posting back to back; paced = posts on a fixed schedule at target/s",
  "acc/s, p50..p99 = accepted events (200, verified and stored) per second and their latency",
  "jobs = inbound processing job workers in the process @ their idle poll interval",
  "accepted / processed = events accepted in the phase (warm-up included) / rows in messages",
  "proc/s = processed / time from the first post until all were processed (or the timeout)",
];

export function inboundJson(rows: InboundRow[]) {
  return rows.map((r) => ({
    backend: r.backend,
    measurement: r.measurement,
    concurrency: r.concurrency,
    targetRate: r.targetRate ?? null,
    requests: r.requests,
    errors: r.errors,
    rate: jsonNumber(r.rate),
    p50Ms: jsonNumber(r.latency.p50),
    p95Ms: jsonNumber(r.latency.p95),
    p99Ms: jsonNumber(r.latency.p99),
    maxMs: jsonNumber(r.latency.max),
    ...(isRaw(r)
      ? {}
      : {
          jobConcurrency: r.jobs?.concurrency ?? null,
          jobPollSeconds: r.jobs?.pollSeconds ?? null,
          accepted: r.accepted,
          processed: r.processed,
          processedRate: jsonNumber(r.processedRate),
          allProcessedSeconds: jsonNumber(r.allProcessedSeconds),
          acceptedVsRaw: jsonNumber(r.rate / r.rawInsertRate),
          processedVsRaw: jsonNumber(r.processedRate / r.rawInsertRate),
          jobOutcomes: r.jobStats?.outcomes ?? {},
          jobHandlerMeanMs: jsonNumber(r.jobStats?.meanHandlerMs),
          note: r.note,
        }),
    ...(r.errors > 0 ? { firstError: r.firstError } : {}),
  }));
}
