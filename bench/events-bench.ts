import amqplib from "amqplib";
import { loadConfig } from "../src/config.ts";
import type { DomainEvent } from "../src/domain/events/domain-event.ts";
import type { EventConsumer } from "../src/platform/bus/event-bus.ts";
import type { InProcessBus } from "../src/platform/bus/in-process-bus.ts";
import type { RabbitMqBus } from "../src/platform/bus/rabbitmq-bus.ts";
import { uuidv7 } from "../src/platform/ids.ts";
import { UnitOfWork } from "../src/services/unit-of-work.ts";
import { contactBody, phoneSequence, type PhoneSeries } from "./contact-traffic.ts";
import { measure, type Operation } from "./load.ts";
import { runPaced } from "./pacer.ts";
import { summarize, type LatencySummary } from "./percentiles.ts";
import type { Backend } from "./report.ts";
import type { EventProducerKind } from "./settings.ts";
import {
  backendsOf,
  describeJobStats,
  epochMs,
  jobStats,
  openSuiteApp,
  sleep,
  throwIfAborted,
  type SuiteApp,
  type SuiteContext,
} from "./suite-app.ts";
import { jsonNumber, ms, percent, rate, renderTable, type Column } from "./suite-table.ts";

/**
 * Domain events from the outbox to a consumer. Baseline: a raw amqplib confirm-channel
 * publish loop with the relay's in-flight window, on a topic exchange and durable queue of
 * its own. Then, per backend, the app with its RabbitMQ bus (when AMQP_URL is set) and
 * with the in-process bus: events produced at a paced rate and timed from `occurred_at`
 * (and from the producer's commit) to a bench consumer; on RabbitMQ also the maximum
 * throughput, end to end and as a pure outbox drain, beside the raw publish rate.
 */

export interface EventsRow {
  backend: Backend | "-";
  bus: "amqplib" | "rabbitmq" | "in-process";
  measurement: string;
  /** Raw: confirms in flight; paced: producers in flight at most; max: producers. */
  window: number | undefined;
  targetRate: number | undefined;
  /** Events produced (messages published, for the raw loop). */
  events: number;
  /** Of those, received by the bench consumer before the drain timeout. */
  delivered: number;
  errors: number;
  firstError: string | undefined;
  /** Per second; what is counted depends on the measurement (see the legend). */
  rate: number;
  latency: LatencySummary | undefined;
  ratioToRaw: number;
  note: string | undefined;
  skipped: string | undefined;
}

export interface EventsReport {
  rows: EventsRow[];
  notes: string[];
}

const PROBE = "bench-probe";
/** Events per transaction when the outbox is filled ahead of a drain. */
const PREFILL_BATCH = 500;

function row(partial: Partial<EventsRow> & Pick<EventsRow, "backend" | "bus" | "measurement">) {
  return {
    window: undefined,
    targetRate: undefined,
    events: 0,
    delivered: 0,
    errors: 0,
    firstError: undefined,
    rate: Number.NaN,
    latency: undefined,
    ratioToRaw: Number.NaN,
    note: undefined,
    skipped: undefined,
    ...partial,
  } satisfies EventsRow;
}

/** First arrival of each aggregate's event at the bench consumer. */
class Deliveries {
  private readonly byAggregate = new Map<string, { at: number; occurredAt: number }>();

  record(event: Partial<DomainEvent> | null, at: number) {
    const id = event?.aggregate?.id;
    if (typeof id !== "string" || this.byAggregate.has(id)) return;
    this.byAggregate.set(id, { at, occurredAt: Date.parse(String(event?.occurredAt)) });
  }

  get(id: string) {
    return this.byAggregate.get(id);
  }

  /** Waits until every id has arrived (true) or the deadline passes (false). Arrivals are
   * never removed, so the scan resumes where the last one stopped. */
  async waitFor(ids: readonly string[], deadline: number, signal: AbortSignal) {
    let from = 0;
    for (;;) {
      while (from < ids.length && this.byAggregate.has(ids[from]!)) from += 1;
      if (from === ids.length) return true;
      if (epochMs() >= deadline || signal.aborted) return false;
      await sleep(10, signal);
    }
  }
}

interface Produced {
  id: string;
  committedAt: number;
}
type Produce = () => Promise<Produced>;

const contactSnapshot = (id: string, phone: string) => {
  const body = contactBody(phone);
  return {
    id,
    name: body.name,
    phone,
    email: body.email,
    tags: body.tags,
    customFields: {},
    externalId: null,
  };
};

/**
 * One domain event per transaction: a contact created through the service (the state
 * change and its event commit together), or a bare outbox write through the UnitOfWork.
 */
function producerFor(kind: EventProducerKind, s: SuiteApp, series: PhoneSeries): Produce {
  const nextPhone = phoneSequence(series);
  if (kind === "contacts") {
    return async () => {
      const contact = await s.app.deps.contacts.create(s.projectId, contactBody(nextPhone()));
      return { id: contact.id, committedAt: epochMs() };
    };
  }
  const uow = new UnitOfWork(s.app.deps.database.db, () => s.app.deps.relay.notify());
  return async () => {
    const id = uuidv7();
    const contact = contactSnapshot(id, nextPhone());
    await uow.run(async ({ emit }) => {
      emit("contact.created", { projectId: s.projectId, aggregateId: id, data: { contact } });
    });
    return { id, committedAt: epochMs() };
  };
}

const sampleEvent = (): DomainEvent => {
  const id = uuidv7();
  return {
    id: uuidv7(),
    type: "contact.created",
    version: 1,
    occurredAt: new Date().toISOString(),
    projectId: uuidv7(),
    aggregate: { type: "contact", id },
    data: { contact: contactSnapshot(id, "15000000001") },
  };
};

const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** The broker alone: a confirm channel, `window` unconfirmed messages at any time. */
async function rawAmqplib(ctx: SuiteContext, url: string, window: number): Promise<EventsRow> {
  const { settings, signal } = ctx;
  const exchange = `ventros_bench_${process.pid}_raw`;
  const queue = `${exchange}.queue`;
  ctx.progress(`amqplib: raw confirm publish to ${exchange} (window ${window})`);
  const connection = await amqplib.connect(url);
  connection.on("error", () => undefined);
  try {
    const publisher = await connection.createConfirmChannel();
    publisher.on("error", () => undefined);
    const drain = await connection.createChannel();
    drain.on("error", () => undefined);
    try {
      await publisher.assertExchange(exchange, "topic", { durable: true });
      await publisher.assertQueue(queue, { durable: true });
      await publisher.bindQueue(queue, exchange, "#");
      // Drained like the app's queues are, so the queue does not grow during the run.
      await drain.consume(queue, () => undefined, { noAck: true });
      const body = Buffer.from(JSON.stringify(sampleEvent()));
      let sequence = 0;
      const publish: Operation = () =>
        new Promise<void>((resolve, reject) => {
          sequence += 1;
          publisher.publish(
            exchange,
            "contact.created",
            body,
            {
              persistent: true,
              mandatory: true,
              contentType: "application/json",
              messageId: `raw-${sequence}`,
            },
            (error: unknown) => (error ? reject(new Error(errorText(error))) : resolve()),
          );
        });
      const result = await measure(publish, {
        concurrency: window,
        warmupMs: settings.warmupMs,
        durationMs: settings.durationMs,
        signal,
      });
      throwIfAborted(signal);
      return row({
        backend: "-",
        bus: "amqplib",
        measurement: "raw confirm publish",
        window,
        events: result.requests,
        delivered: result.requests,
        errors: result.errors,
        firstError: result.firstError,
        rate: (result.requests * 1000) / result.elapsedMs,
        latency: summarize(result.latenciesMs),
        ratioToRaw: 1,
        note: "latency = publish to confirm, per message",
      });
    } finally {
      // A fresh channel: the publishing one may be the thing that failed.
      const cleanup = await connection.createChannel().catch(() => undefined);
      cleanup?.on("error", () => undefined);
      await cleanup?.deleteQueue(queue).catch(() => undefined);
      await cleanup?.deleteExchange(exchange).catch(() => undefined);
    }
  } finally {
    await connection.close().catch(() => undefined);
  }
}

/** A queue of our own bound to the app's exchange with `#`: every event, as published. */
async function openAmqpProbe(url: string, exchange: string, queue: string, into: Deliveries) {
  const connection = await amqplib.connect(url);
  connection.on("error", () => undefined);
  try {
    const channel = await connection.createChannel();
    channel.on("error", () => undefined);
    await channel.assertQueue(queue, { exclusive: true, autoDelete: true, durable: false });
    await channel.bindQueue(queue, exchange, "#");
    await channel.consume(
      queue,
      (message) => {
        if (!message) return;
        const at = epochMs();
        try {
          into.record(JSON.parse(message.content.toString("utf8")) as DomainEvent, at);
        } catch {
          // Not an event of ours.
        }
      },
      { noAck: true },
    );
    return {
      async close() {
        await channel.deleteQueue(queue).catch(() => undefined);
        await connection.close().catch(() => undefined);
      },
    };
  } catch (error) {
    await connection.close().catch(() => undefined);
    throw error;
  }
}

const latencyOf = (ids: readonly Produced[], deliveries: Deliveries, from: "occurred" | "commit") =>
  ids.map((p) => {
    const d = deliveries.get(p.id);
    if (!d) return Infinity;
    return d.at - (from === "occurred" ? d.occurredAt : p.committedAt);
  });

const deliveredOf = (ids: readonly Produced[], deliveries: Deliveries) =>
  ids.filter((p) => deliveries.get(p.id)).length;

const lastArrival = (ids: readonly Produced[], deliveries: Deliveries) =>
  Math.max(...ids.map((p) => deliveries.get(p.id)?.at ?? Number.NEGATIVE_INFINITY));

interface PacedOutcome {
  produced: Produced[];
  errors: number;
  firstError: string | undefined;
  achievedRate: number;
  missed: number;
}

/**
 * Produces at the paced rate for the measured window, then waits for the deliveries. At
 * most the backend's concurrency is in flight (as for every other load on it): a deeper
 * queue of producers would only stand in front of the relay's own statements.
 */
async function paced(
  ctx: SuiteContext,
  backend: Backend,
  produce: Produce,
  deliveries: Deliveries,
  durationMs: number,
): Promise<PacedOutcome> {
  const { settings, signal } = ctx;
  const produced: Produced[] = [];
  const result = await runPaced(
    async () => {
      produced.push(await produce());
    },
    {
      ratePerSecond: settings.events.ratePerSecond,
      durationMs,
      maxInFlight: settings.concurrency[backend],
      signal,
    },
  );
  throwIfAborted(signal);
  await deliveries.waitFor(
    produced.map((p) => p.id),
    epochMs() + settings.drainTimeoutMs,
    signal,
  );
  throwIfAborted(signal);
  return {
    produced,
    errors: result.errors,
    firstError: result.firstError,
    achievedRate: (produced.length * 1000) / Math.max(durationMs, result.elapsedMs),
    missed: result.missed,
  };
}

function pacedRows(
  backend: Backend,
  bus: EventsRow["bus"],
  target: string,
  ctx: SuiteContext,
  outcome: PacedOutcome,
  deliveries: Deliveries,
  extraNote?: string,
): EventsRow[] {
  const delivered = deliveredOf(outcome.produced, deliveries);
  const slipped = outcome.missed > 0 ? `; ${outcome.missed} scheduled events not started` : "";
  // With timeouts the percentiles say little about the events that did arrive: add theirs.
  const arrived = (from: "occurred" | "commit") => {
    if (delivered === outcome.produced.length || delivered === 0) return "";
    const l = summarize(latencyOf(outcome.produced, deliveries, from).filter(Number.isFinite));
    return `; the ${delivered} received: p50 ${ms(l.p50)} ms, p99 ${ms(l.p99)} ms, max ${ms(l.max)} ms`;
  };
  const base = {
    backend,
    bus,
    window: ctx.settings.concurrency[backend],
    targetRate: ctx.settings.events.ratePerSecond,
    events: outcome.produced.length,
    delivered,
    errors: outcome.errors,
    firstError: outcome.firstError,
    rate: outcome.achievedRate,
  };
  return [
    row({
      ...base,
      measurement: `paced: occurred_at -> ${target}`,
      latency: summarize(latencyOf(outcome.produced, deliveries, "occurred")),
      note:
        `ev/s = events committed per second${slipped}${extraNote ? `; ${extraNote}` : ""}` +
        arrived("occurred"),
    }),
    row({
      ...base,
      measurement: `paced: commit -> ${target}`,
      latency: summarize(latencyOf(outcome.produced, deliveries, "commit")),
      note: arrived("commit").replace(/^; /, "") || undefined,
    }),
  ];
}

/** N events as fast as `concurrency` producers go; timed until all have been received. */
async function burst(
  ctx: SuiteContext,
  backend: Backend,
  produce: Produce,
  deliveries: Deliveries,
  concurrency: number,
  raw: EventsRow | undefined,
): Promise<EventsRow> {
  const { settings, signal } = ctx;
  const total = settings.events.burst;
  const produced: Produced[] = [];
  let started = 0;
  let errors = 0;
  let firstError: string | undefined;
  const begun = epochMs();
  const worker = async () => {
    while (started < total && !signal.aborted) {
      started += 1;
      try {
        produced.push(await produce());
      } catch (error) {
        errors += 1;
        firstError ??= errorText(error);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const producedAt = epochMs();
  throwIfAborted(signal);
  const all = await deliveries.waitFor(
    produced.map((p) => p.id),
    producedAt + settings.drainTimeoutMs,
    signal,
  );
  throwIfAborted(signal);
  const delivered = deliveredOf(produced, deliveries);
  const seconds = (lastArrival(produced, deliveries) - begun) / 1000;
  const perSecond = delivered > 0 ? delivered / seconds : 0;
  const produceRate = (produced.length * 1000) / (producedAt - begun);
  return row({
    backend,
    bus: "rabbitmq",
    measurement: "max: produce + publish",
    window: concurrency,
    events: produced.length,
    delivered,
    errors,
    firstError,
    rate: perSecond,
    latency: summarize(latencyOf(produced, deliveries, "occurred")),
    ratioToRaw: raw && raw.rate > 0 ? perSecond / raw.rate : Number.NaN,
    note:
      `ev/s = received / (last arrival - first produce); produced at ${produceRate.toFixed(0)} ev/s` +
      (all ? "" : "; not all arrived before the drain timeout"),
  });
}

/** The relay alone: N events already committed, the relay started, until all arrive. */
async function outboxDrain(
  ctx: SuiteContext,
  s: SuiteApp,
  deliveries: Deliveries,
  raw: EventsRow | undefined,
): Promise<EventsRow> {
  const { settings, signal } = ctx;
  const { relay } = s.app.deps;
  const total = settings.events.burst;
  const nextPhone = phoneSequence(7);
  const produced: Produced[] = [];
  await relay.stop();
  try {
    const uow = new UnitOfWork(s.app.deps.database.db);
    while (produced.length < total) {
      throwIfAborted(signal);
      const batch = Array.from({ length: Math.min(PREFILL_BATCH, total - produced.length) }, () =>
        uuidv7(),
      );
      await uow.run(async ({ emit }) => {
        for (const id of batch) {
          const contact = contactSnapshot(id, nextPhone());
          emit("contact.created", { projectId: s.projectId, aggregateId: id, data: { contact } });
        }
      });
      const committedAt = epochMs();
      produced.push(...batch.map((id) => ({ id, committedAt })));
    }
  } finally {
    relay.start();
  }
  const begun = epochMs();
  const all = await deliveries.waitFor(
    produced.map((p) => p.id),
    begun + Math.max(settings.drainTimeoutMs, 1000),
    signal,
  );
  throwIfAborted(signal);
  const delivered = deliveredOf(produced, deliveries);
  const perSecond =
    delivered > 0 ? (delivered * 1000) / (lastArrival(produced, deliveries) - begun) : 0;
  return row({
    backend: s.backend,
    bus: "rabbitmq",
    measurement: "max: outbox drain",
    window: s.app.config.OUTBOX_BATCH_SIZE,
    events: produced.length,
    delivered,
    rate: perSecond,
    ratioToRaw: raw && raw.rate > 0 ? perSecond / raw.rate : Number.NaN,
    note:
      "events committed with the relay stopped; ev/s = received / (last arrival - relay start)" +
      (all ? "" : "; not all arrived before the drain timeout"),
  });
}

async function rabbitScenario(
  ctx: SuiteContext,
  backend: Backend,
  url: string,
  raw: EventsRow | undefined,
): Promise<EventsRow[]> {
  const { settings } = ctx;
  const prefix = `ventros_bench_${process.pid}_${backend}`;
  ctx.progress(`${backend}: app on the RabbitMQ bus (prefix ${prefix})`);
  const s = await openSuiteApp(ctx, backend, { env: { AMQP_URL: url, AMQP_PREFIX: prefix } });
  const bus = s.app.deps.bus as RabbitMqBus;
  const rows: EventsRow[] = [];
  try {
    await bus.ping();
    const deliveries = new Deliveries();
    const probe = await openAmqpProbe(url, bus.exchange, `${prefix}.${PROBE}`, deliveries);
    try {
      const produce = producerFor(settings.events.producer, s, 5);
      if (settings.warmupMs > 0) {
        ctx.progress(`${backend}: rabbitmq warm-up ${settings.warmupMs} ms`);
        await paced(ctx, backend, produce, deliveries, settings.warmupMs);
      }
      ctx.progress(
        `${backend}: rabbitmq paced ${settings.events.ratePerSecond} events/s for ${settings.durationMs} ms`,
      );
      const outcome = await paced(ctx, backend, produce, deliveries, settings.durationMs);
      rows.push(...pacedRows(backend, "rabbitmq", "bench queue", ctx, outcome, deliveries));
      const concurrency = settings.concurrency[backend];
      ctx.progress(
        `${backend}: rabbitmq max: ${settings.events.burst} events, ${concurrency} producers`,
      );
      rows.push(await burst(ctx, backend, produce, deliveries, concurrency, raw));
      ctx.progress(`${backend}: rabbitmq outbox drain of ${settings.events.burst} events`);
      rows.push(await outboxDrain(ctx, s, deliveries, raw));
    } finally {
      await probe.close();
    }
  } finally {
    try {
      await bus.deleteTopology();
      ctx.progress(`${backend}: deleted the ${prefix}.* exchanges and queues`);
    } catch (error) {
      ctx.progress(`${backend}: deleting the ${prefix}.* topology failed: ${errorText(error)}`);
    }
    await s.close();
  }
  return rows;
}

async function inProcessScenario(ctx: SuiteContext, backend: Backend): Promise<EventsRow[]> {
  const { settings } = ctx;
  const deliveries = new Deliveries();
  // Through consumeEvent like every consumer: the handler runs once per event.
  const probe: EventConsumer = {
    name: PROBE,
    eventTypes: ["contact.created"],
    handle: async (event) => deliveries.record(event, epochMs()),
  };
  ctx.progress(`${backend}: app on the in-process bus`);
  const s = await openSuiteApp(ctx, backend, { consumers: [probe] });
  try {
    const job = (s.app.deps.bus as InProcessBus).jobDefinitions.find((d) => d.name.endsWith(PROBE));
    const poll = s.app.config.JOBS_POLL_INTERVAL_SECONDS;
    const produce = producerFor(settings.events.producer, s, 6);
    // No warm-up: deliveries run far behind the producer, and a warm-up backlog would
    // only queue ahead of the measured events.
    ctx.progress(
      `${backend}: in-process paced ${settings.events.ratePerSecond} events/s for ${settings.durationMs} ms`,
    );
    const outcome = await paced(ctx, backend, produce, deliveries, settings.durationMs);
    const delivered = outcome.produced.filter((p) => deliveries.get(p.id));
    const first = Math.min(...outcome.produced.map((p) => p.committedAt));
    const consumerRate =
      delivered.length > 0
        ? (delivered.length * 1000) / (lastArrival(outcome.produced, deliveries) - first)
        : 0;
    const stats = job ? describeJobStats(await jobStats(s.app, job.name)) : "";
    const note =
      `consumer job ${job?.name ?? "?"}: concurrency ${job?.concurrency ?? 1}, ` +
      `batch 1, idle poll ${poll} s; delivered ${consumerRate.toFixed(1)} ev/s; ${stats}`;
    return pacedRows(backend, "in-process", "consumer", ctx, outcome, deliveries, note);
  } finally {
    await s.close();
  }
}

export async function runEventsSuite(ctx: SuiteContext): Promise<EventsReport> {
  const { settings } = ctx;
  const rows: EventsRow[] = [];
  const notes: string[] = [];
  const backends = backendsOf(settings);
  let raw: EventsRow | undefined;
  if (settings.amqpUrl) {
    // The relay publishes a batch at a time, every event of it in flight at once.
    raw = await rawAmqplib(ctx, settings.amqpUrl, loadConfig({}).OUTBOX_BATCH_SIZE);
    rows.push(raw);
  } else {
    const skipped = "AMQP_URL unset";
    const measurement = `skipped: ${skipped}`;
    rows.push(row({ backend: "-", bus: "amqplib", measurement, skipped }));
    for (const backend of backends)
      rows.push(row({ backend, bus: "rabbitmq", measurement, skipped }));
    notes.push("RabbitMQ skipped: AMQP_URL is not set (raw amqplib and the RabbitMQ bus rows)");
  }
  for (const backend of backends) {
    throwIfAborted(ctx.signal);
    if (settings.amqpUrl) rows.push(...(await rabbitScenario(ctx, backend, settings.amqpUrl, raw)));
    rows.push(...(await inProcessScenario(ctx, backend)));
  }
  return { rows, notes };
}

export function formatEventsTable(rows: EventsRow[]): string {
  const columns: Column<EventsRow>[] = [
    { header: "backend", cell: (r) => r.backend, text: true },
    { header: "bus", cell: (r) => r.bus, text: true },
    { header: "measurement", cell: (r) => r.measurement, text: true },
    { header: "window", cell: (r) => (r.window === undefined ? "-" : String(r.window)) },
    { header: "target/s", cell: (r) => (r.targetRate === undefined ? "-" : String(r.targetRate)) },
    { header: "events", cell: (r) => (r.skipped ? "-" : String(r.events)) },
    { header: "received", cell: (r) => (r.skipped ? "-" : String(r.delivered)) },
    { header: "errors", cell: (r) => (r.skipped ? "-" : String(r.errors)) },
    { header: "ev/s", cell: (r) => rate(r.rate) },
    { header: "p50 ms", cell: (r) => ms(r.latency?.p50) },
    { header: "p95 ms", cell: (r) => ms(r.latency?.p95) },
    { header: "p99 ms", cell: (r) => ms(r.latency?.p99) },
    { header: "max ms", cell: (r) => ms(r.latency?.max) },
    {
      header: "vs raw",
      cell: (r) => (r.bus === "amqplib" && !r.skipped ? "base" : percent(r.ratioToRaw)),
    },
  ];
  return renderTable(columns, rows);
}

export const EVENTS_LEGEND = [
  "raw confirm publish = amqplib confirm channel, persistent + mandatory, to a durable topic",
  "  exchange and queue of its own; window = unconfirmed messages (the relay's OUTBOX_BATCH_SIZE)",
  "paced = one event per transaction (producer below) at target/s; latency from the event's",
  "  occurred_at (ms resolution) or from the producer's commit to its arrival at the bench",
  "  consumer (RabbitMQ: a queue bound to the app's exchange with #; in-process: a consumer",
  "  registered like the app's own); timeout = not received within the drain timeout",
  "max: produce + publish = events produced as fast as `window` producers go, until all arrived",
  "max: outbox drain = the relay alone publishing a filled outbox; vs raw = ev/s over raw msg/s",
];

export function eventsJson(report: EventsReport) {
  return report.rows.map((r) => ({
    backend: r.backend,
    bus: r.bus,
    measurement: r.measurement,
    window: r.window ?? null,
    targetRate: r.targetRate ?? null,
    events: r.events,
    received: r.delivered,
    errors: r.errors,
    rate: jsonNumber(r.rate),
    p50Ms: jsonNumber(r.latency?.p50),
    p95Ms: jsonNumber(r.latency?.p95),
    p99Ms: jsonNumber(r.latency?.p99),
    maxMs: jsonNumber(r.latency?.max),
    ratioToRaw: jsonNumber(r.ratioToRaw),
    ...(r.errors > 0 ? { firstError: r.firstError } : {}),
    ...(r.note ? { note: r.note } : {}),
    ...(r.skipped ? { skipped: r.skipped } : {}),
  }));
}
