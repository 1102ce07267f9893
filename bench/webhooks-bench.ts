import { Pool } from "undici";
import { uuidv7 } from "../src/platform/ids.ts";
import { measure } from "./load.ts";
import { runPaced } from "./pacer.ts";
import { summarize, type LatencySummary } from "./percentiles.ts";
import type { Backend } from "./report.ts";
import {
  backendsOf,
  epochMs,
  openSuiteApp,
  sleep,
  throwIfAborted,
  type SuiteApp,
  type SuiteContext,
} from "./suite-app.ts";
import { jsonNumber, ms, percent, rate, renderTable } from "./suite-table.ts";
import { startWebhookSink, type WebhookSink } from "./webhook-sink.ts";

/**
 * Integrator webhooks (issue 5): deliveries per second to a loopback receiver (on its
 * own thread) and event-to-first-attempt latency, beside a raw undici POST loop to the
 * same receiver measured in the same run. Knobs: BENCH_WEBHOOK_RATE (events/s, paced),
 * BENCH_WEBHOOK_ENDPOINTS (endpoints each event fans out to), BENCH_WEBHOOK_DRAIN
 * (messages queued at once for the drain measurement).
 */
export interface WebhooksRow {
  backend: Backend | "-";
  measurement: string;
  deliveries: number;
  expected: number;
  rate: number;
  ratio?: number;
  latency?: LatencySummary;
  note?: string;
}

const knob = (name: string, fallback: number) => {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer`);
  return value;
};

const SAMPLE_BODY = JSON.stringify({
  type: "contact.created",
  timestamp: new Date().toISOString(),
  data: { contact: { id: uuidv7(), name: "Bench", tags: [], customFields: {} } },
});

async function rawBaseline(ctx: SuiteContext, sink: WebhookSink, concurrency: number) {
  const pool = new Pool(sink.origin, { connections: concurrency, pipelining: 1 });
  try {
    const result = await measure(
      async () => {
        const response = await pool.request({
          method: "POST",
          path: "/raw",
          headers: { "content-type": "application/json", "webhook-id": "raw" },
          body: SAMPLE_BODY,
        });
        await response.body.dump();
        if (response.statusCode !== 204) throw new Error(`HTTP ${response.statusCode}`);
      },
      {
        concurrency,
        warmupMs: ctx.settings.warmupMs,
        durationMs: ctx.settings.durationMs,
        signal: ctx.signal,
      },
    );
    return (result.requests * 1000) / result.elapsedMs;
  } finally {
    await pool.close();
  }
}

/** Waits until the sink has seen `count` distinct webhook-ids, or the deadline. */
async function received(sink: WebhookSink, count: number, deadline: number, signal: AbortSignal) {
  for (;;) {
    const stats = await sink.stats();
    if (stats.distinct >= count || epochMs() > deadline || signal.aborted) return stats;
    await sleep(50, signal);
  }
}

async function paced(ctx: SuiteContext, s: SuiteApp, sink: WebhookSink, endpoints: number) {
  const eventRate = knob("BENCH_WEBHOOK_RATE", 300);
  await sink.reset();
  let produced = 0;
  const startedAt = epochMs();
  const result = await runPaced(
    async () => {
      await s.app.deps.contacts.create(s.projectId, { name: `Webhook bench ${produced}` });
      produced += 1;
    },
    {
      ratePerSecond: eventRate,
      durationMs: ctx.settings.durationMs,
      maxInFlight: ctx.settings.concurrency[s.backend],
      signal: ctx.signal,
    },
  );
  const expected = produced * endpoints;
  const stats = await received(sink, expected, epochMs() + 30_000, ctx.signal);
  return {
    backend: s.backend,
    measurement: `paced ${eventRate} ev/s x ${endpoints} endpoints: event -> first attempt`,
    deliveries: stats.distinct,
    expected,
    rate: (stats.distinct * 1000) / Math.max(1, stats.lastAt - startedAt),
    latency: summarize(stats.latenciesMs),
    note:
      result.errors > 0
        ? `${result.errors} producer errors, first: ${result.firstError}`
        : result.missed > 0
          ? `${result.missed} scheduled events not started`
          : undefined,
  } satisfies WebhooksRow;
}

async function drain(ctx: SuiteContext, s: SuiteApp, sink: WebhookSink, endpointIds: string[]) {
  const count = knob("BENCH_WEBHOOK_DRAIN", 10_000);
  await sink.reset();
  const { db } = s.app.deps.database;
  const later = new Date(Date.now() + 86_400_000);
  for (let offset = 0; offset < count; offset += 500) {
    const rows = Array.from({ length: Math.min(500, count - offset) }, (_, i) => {
      const now = new Date();
      return {
        id: uuidv7(),
        project_id: s.projectId,
        endpoint_id: endpointIds[(offset + i) % endpointIds.length]!,
        event_id: uuidv7(),
        event_type: "contact.created",
        payload: JSON.stringify({
          type: "contact.created",
          timestamp: now.toISOString(),
          data: {},
        }),
        status: "pending" as const,
        next_attempt_at: later,
        created_at: now,
        updated_at: now,
      };
    });
    await db.insertInto("webhook_messages").values(rows).execute();
  }
  throwIfAborted(ctx.signal);
  const startedAt = epochMs();
  await db
    .updateTable("webhook_messages")
    .set({ next_attempt_at: new Date() })
    .where("next_attempt_at", "=", later)
    .execute();
  s.app.deps.webhookDispatcher.notify();
  const stats = await received(sink, count, epochMs() + 120_000, ctx.signal);
  return {
    backend: s.backend,
    measurement: `drain ${count} queued deliveries`,
    deliveries: stats.distinct,
    expected: count,
    rate: (stats.distinct * 1000) / Math.max(1, stats.lastAt - startedAt),
  } satisfies WebhooksRow;
}

export async function runWebhooksSuite(ctx: SuiteContext): Promise<WebhooksRow[]> {
  const endpoints = knob("BENCH_WEBHOOK_ENDPOINTS", 4);
  const concurrency = knob("BENCH_WEBHOOK_CONCURRENCY", 64);
  const sink = await startWebhookSink();
  const rows: WebhooksRow[] = [];
  try {
    ctx.progress(`webhooks: raw undici POST loop, ${concurrency} connections`);
    const raw = await rawBaseline(ctx, sink, concurrency);
    rows.push({
      backend: "-",
      measurement: `raw POST loop, ${concurrency} connections (baseline)`,
      deliveries: 0,
      expected: 0,
      rate: raw,
    });
    for (const backend of backendsOf(ctx.settings)) {
      ctx.progress(`webhooks: ${backend}`);
      const s = await openSuiteApp(ctx, backend, {
        env: {
          WEBHOOK_ALLOW_TARGETS: "127.0.0.1",
          WEBHOOK_CONCURRENCY: String(concurrency),
        },
      });
      try {
        const ids: string[] = [];
        for (let i = 0; i < endpoints; i++) {
          const endpoint = await s.app.deps.webhookEndpoints.create(s.projectId, {
            url: sink.url(`/endpoint-${i}`),
            eventTypes: ["contact.created"],
          });
          ids.push(endpoint.id);
        }
        for (const row of [await paced(ctx, s, sink, endpoints), await drain(ctx, s, sink, ids)])
          rows.push({ ...row, ratio: row.rate / raw });
      } finally {
        await s.close();
      }
    }
  } finally {
    await sink.close();
  }
  return rows;
}

export function formatWebhooksTable(rows: WebhooksRow[]): string {
  return renderTable<WebhooksRow>(
    [
      { header: "backend", cell: (r) => r.backend, text: true },
      { header: "measurement", cell: (r) => r.measurement, text: true },
      { header: "delivered", cell: (r) => (r.expected ? `${r.deliveries}/${r.expected}` : "-") },
      { header: "deliveries/s", cell: (r) => rate(r.rate) },
      { header: "vs raw", cell: (r) => percent(r.ratio) },
      { header: "p50 ms", cell: (r) => ms(r.latency?.p50) },
      { header: "p95 ms", cell: (r) => ms(r.latency?.p95) },
      { header: "p99 ms", cell: (r) => ms(r.latency?.p99) },
    ],
    rows,
  );
}

export const WEBHOOKS_LEGEND = [
  "deliveries/s: distinct webhook-ids the receiver got per second (first attempts; all 2xx)",
  "vs raw: that rate over a bare undici POST loop to the same receiver in this run",
  "latency: from the event's occurred_at (its `timestamp`) to the receiver reading the request",
];

export const webhooksJson = (rows: WebhooksRow[]) =>
  rows.map((r) => ({
    backend: r.backend,
    measurement: r.measurement,
    deliveries: r.deliveries,
    expected: r.expected,
    perSecond: jsonNumber(r.rate),
    ratio: jsonNumber(r.ratio),
    ...(r.latency
      ? {
          p50: jsonNumber(r.latency.p50),
          p95: jsonNumber(r.latency.p95),
          p99: jsonNumber(r.latency.p99),
        }
      : {}),
    ...(r.note ? { note: r.note } : {}),
  }));
