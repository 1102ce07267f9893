import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { sql } from "kysely";
import pg from "pg";
import { Connection } from "rabbitmq-client";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { App } from "../../src/compose.ts";
import type { DomainEvent } from "../../src/domain/events/domain-event.ts";
import type { EventConsumer } from "../../src/platform/bus/event-bus.ts";
import type { RabbitMqBus } from "../../src/platform/bus/rabbitmq-bus.ts";
import { openPgliteDatabase } from "../../src/platform/db/pglite-database.ts";
import { uuidv7 } from "../../src/platform/ids.ts";
import { crashDatabase } from "../support/crash-database.ts";
import { client } from "../support/http.ts";
import { startTcpProxy, type TcpProxy } from "../support/tcp-proxy.ts";
import { createTestApp, type TestApp } from "../support/test-app.ts";
import { waitFor } from "../support/wait-for.ts";

/**
 * The event pipeline on a real RabbitMQ: outbox -> relay -> exchange -> per-consumer
 * queues (with retry and dead-letter queues) and per-instance live queues. The broker is
 * made to disappear through a loopback TCP proxy, never stopped. Every app uses its own
 * prefix and deletes its topology at the end; the last suite checks nothing is left.
 */

const AMQP_URL = process.env["AMQP_URL"] ?? "amqp://guest:guest@127.0.0.1:5672";
const WAIT_MS = 20_000;
/** Reconnect backoff (up to 10 s) plus outbox backoff after an outage. */
const RECOVERY_MS = 60_000;

const runId = inject("runId");
let prefixCounter = 0;
const prefixes: { prefix: string; consumers: string[] }[] = [];
/** A prefix no other app, test file or run uses; remembered for the leak check. */
const newPrefix = (consumers: EventConsumer[] = []) => {
  const prefix = `vt_${runId}_${process.pid}_${prefixCounter++}`;
  prefixes.push({ prefix, consumers: ["contact-timeline", ...consumers.map((c) => c.name)] });
  return prefix;
};

const rabbitEnv = (prefix: string, extra: Record<string, string> = {}) => ({
  AMQP_URL,
  AMQP_PREFIX: prefix,
  OUTBOX_POLL_INTERVAL_MS: "100",
  ...extra,
});

const busOf = (app: App) => app.deps.bus as RabbitMqBus;

/** Deletes the app's exchanges and queues, then stops it (and drops its database). */
async function closeWithTopology(t: TestApp | undefined) {
  if (!t) return;
  try {
    await busOf(t.app).deleteTopology();
  } finally {
    await t.close();
  }
}

/** The sum of a metric's samples whose labels include `labels`. */
async function metric(app: App, name: string, labels: Record<string, string> = {}) {
  const found = app.deps.metrics.registry.getSingleMetric(name);
  if (!found) throw new Error(`no metric ${name}`);
  const { values } = await found.get();
  return values
    .filter((v) =>
      Object.entries(labels).every(
        ([k, value]) => (v.labels as Record<string, unknown>)[k] === value,
      ),
    )
    .reduce((sum, v) => sum + v.value, 0);
}

const breakerState = (app: App) =>
  metric(app, "ventros_circuit_breaker_state", { integration: "rabbitmq" });

/** A consumer that records how many times its handler committed per event id. */
function recorder(name: string, eventTypes: string[]) {
  const applied = new Map<string, number>();
  const consumer: EventConsumer = {
    name,
    eventTypes,
    async handle(event) {
      applied.set(event.id, (applied.get(event.id) ?? 0) + 1);
    },
  };
  return { consumer, applied };
}

let phoneCounter = 0;
async function createContacts(api: ReturnType<typeof client>, n: number, tag: string) {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const res = await api.post("/v1/contacts", {
      name: `${tag} ${i}`,
      phone: `55218${String(++phoneCounter).padStart(8, "0")}`,
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    ids.push(res.body.id);
  }
  return ids;
}

/** The outbox rows of the given aggregates. */
async function outboxOf(app: App, aggregateIds: string[]) {
  return app.deps.database.db
    .selectFrom("outbox_events")
    .select(["id", "type", "aggregate_id", "published_at"])
    .where("aggregate_id", "in", aggregateIds)
    .execute();
}

async function timelineCount(app: App, contactIds: string[]) {
  const rows = await app.deps.database.db
    .selectFrom("contact_timeline")
    .select(["contact_id", "event_id"])
    .where("contact_id", "in", contactIds)
    .execute();
  return rows.length;
}

/** Unpublished outbox rows of these aggregates, read straight from a database at rest. */
async function unpublishedIn(where: { url: string } | { dataDir: string }, aggregateIds: string[]) {
  const text =
    "select count(*)::int as n from outbox_events where published_at is null and aggregate_id = any($1)";
  if ("url" in where) {
    const c = new pg.Client({ connectionString: where.url, connectionTimeoutMillis: 5_000 });
    await c.connect();
    try {
      return (await c.query<{ n: number }>(text, [aggregateIds])).rows[0]?.n;
    } finally {
      await c.end();
    }
  }
  const database = await openPgliteDatabase({ dataDir: join(where.dataDir, "pglite") });
  try {
    const { rows } = await sql<{ n: number }>`select count(*)::int as n from outbox_events
      where published_at is null and aggregate_id in (${sql.join(aggregateIds)})`.execute(
      database.db,
    );
    return rows[0]?.n;
  } finally {
    await database.close();
  }
}

function assertLoopback(url: string) {
  const { hostname } = new URL(url);
  if (!["127.0.0.1", "localhost", "[::1]"].includes(hostname))
    throw new Error(`outage tests proxy loopback only, not ${hostname}`);
}

describe("happy path through RabbitMQ", () => {
  let t: TestApp;
  let api: ReturnType<typeof client>;

  beforeAll(async () => {
    t = await createTestApp(rabbitEnv(newPrefix()));
    api = client(t.app, t.adminKey);
  });
  afterAll(() => closeWithTopology(t));

  it("is ready with the broker checked", async () => {
    expect(t.app.deps.bus.kind).toBe("rabbitmq");
    const ready = await api.get("/health/ready");
    expect(ready.status, JSON.stringify(ready.body)).toBe(200);
    expect(ready.body.checks.broker.status).toBe("ok");
  });

  it("delivers contact.created and contact.updated to the timeline consumer", async () => {
    const [id] = await createContacts(api, 1, "Happy");
    const updated = await api.patch(`/v1/contacts/${id}`, { name: "Happy renamed" });
    expect(updated.status).toBe(200);

    const timeline = await waitFor(
      async () => {
        const res = await api.get(`/v1/contacts/${id}/timeline`);
        return res.status === 200 && res.body.data.length === 2 ? res.body.data : undefined;
      },
      WAIT_MS,
      { what: "two timeline items" },
    );
    expect(timeline.map((item: { type: string }) => item.type)).toEqual([
      "contact.updated",
      "contact.created",
    ]);
    expect(
      await metric(t.app, "ventros_event_consumer_total", {
        consumer: "contact-timeline",
        outcome: "applied",
      }),
    ).toBe(2);
    const rows = await outboxOf(t.app, [id!]);
    expect(rows.every((r) => r.published_at !== null)).toBe(true);
  });
});

describe("broker unreachable while events are produced", () => {
  const N = 20;
  const PUBLISH_TIMEOUT_MS = 1000;
  let proxy: TcpProxy;
  let t: TestApp;
  let api: ReturnType<typeof client>;
  const record = recorder("outage-recorder", ["contact.created"]);
  let ids: string[] = [];

  beforeAll(async () => {
    assertLoopback(AMQP_URL);
    const target = new URL(AMQP_URL);
    proxy = await startTcpProxy({ host: "127.0.0.1", port: Number(target.port || 5672) });
    t = await createTestApp(
      rabbitEnv(newPrefix([record.consumer]), {
        AMQP_URL: proxy.urlVia(AMQP_URL),
        AMQP_PUBLISH_TIMEOUT_MS: String(PUBLISH_TIMEOUT_MS),
        AMQP_BREAKER_THRESHOLD: "3",
        AMQP_BREAKER_HALF_OPEN_MS: "1000",
      }),
      { compose: { consumers: [record.consumer] } },
    );
    api = client(t.app, t.adminKey);
  });
  afterAll(async () => {
    proxy?.restore();
    if (t)
      await waitFor(async () => (await api.get("/health/ready")).status === 200, RECOVERY_MS, {
        what: "the broker connection before cleanup",
      }).catch(() => undefined);
    await closeWithTopology(t);
    await proxy?.close();
  });

  it("delivers through the proxy before the outage", async () => {
    const [id] = await createContacts(api, 1, "Before");
    await waitFor(async () => (await timelineCount(t.app, [id!])) === 1, WAIT_MS, {
      what: "the first event through the proxy",
    });
    expect(await breakerState(t.app)).toBe(0);
  });

  it("keeps events in the outbox, opens the breaker and reports the broker unavailable", async () => {
    const appliedBefore = record.applied.size;
    proxy.cut();
    // The API still accepts writes: their events wait in the outbox.
    ids = await createContacts(api, N, "Outage");

    await waitFor(async () => (await breakerState(t.app)) === 2, WAIT_MS, {
      what: "the publish breaker to open",
    });
    const ready = await api.get("/health/ready");
    expect(ready.status).toBe(503);
    expect(ready.body.error.code).toBe("BROKER_UNAVAILABLE");
    expect(ready.body.checks.broker.status).toBe("unavailable");
    expect(ready.body.checks.database.status).toBe("ok");

    const rows = await outboxOf(t.app, ids);
    expect(rows).toHaveLength(N);
    expect(rows.filter((r) => r.published_at === null)).toHaveLength(N);
    expect(await metric(t.app, "ventros_outbox_lag_seconds")).toBeGreaterThan(0);
    expect(await timelineCount(t.app, ids)).toBe(0);
    expect(record.applied.size).toBe(appliedBefore);
  });

  it("delivers every event exactly once after the broker is back and closes the breaker", async () => {
    proxy.restore();
    const rows = await outboxOf(t.app, ids);
    const expected = rows.map((r) => r.id).sort();
    expect(expected).toHaveLength(N);

    await waitFor(() => expected.every((id) => record.applied.has(id)), RECOVERY_MS, {
      what: `all ${N} events at the consumer`,
    });
    await waitFor(async () => (await timelineCount(t.app, ids)) === N, WAIT_MS, {
      what: "every timeline item",
    });
    await waitFor(async () => (await breakerState(t.app)) === 0, RECOVERY_MS, {
      what: "the breaker to close",
    });
    await waitFor(async () => (await metric(t.app, "ventros_outbox_lag_seconds")) === 0, WAIT_MS, {
      what: "outbox lag back to 0",
    });
    expect((await outboxOf(t.app, ids)).every((r) => r.published_at !== null)).toBe(true);
    const ready = await api.get("/health/ready");
    expect(ready.status).toBe(200);

    // None lost, none applied twice (redeliveries of timed-out publishes are duplicates).
    for (const id of expected) expect(record.applied.get(id), id).toBe(1);
    const consumed = await t.app.deps.database.db
      .selectFrom("consumed_events")
      .select("event_id")
      .where("consumer", "=", "outage-recorder")
      .where("event_id", "in", expected)
      .execute();
    expect(consumed).toHaveLength(N);
  }, 120_000);
});

describe("broker unreachable at start; publish while the breaker is open", () => {
  const PUBLISH_TIMEOUT_MS = 2000;
  let proxy: TcpProxy;
  let t: TestApp;
  let api: ReturnType<typeof client>;

  beforeAll(async () => {
    assertLoopback(AMQP_URL);
    const target = new URL(AMQP_URL);
    proxy = await startTcpProxy({ host: "127.0.0.1", port: Number(target.port || 5672) });
    proxy.cut();
    // Starting without the broker is allowed (the outbox keeps events meanwhile).
    t = await createTestApp(
      rabbitEnv(newPrefix(), {
        AMQP_URL: proxy.urlVia(AMQP_URL),
        AMQP_PUBLISH_TIMEOUT_MS: String(PUBLISH_TIMEOUT_MS),
        AMQP_BREAKER_THRESHOLD: "1",
        AMQP_BREAKER_HALF_OPEN_MS: "600000",
      }),
      { compose: { relay: false } },
    );
    api = client(t.app, t.adminKey);
  });
  afterAll(async () => {
    proxy?.restore();
    await closeWithTopology(t);
    await proxy?.close();
  });

  const event = (): DomainEvent => ({
    id: uuidv7(),
    type: "test.breaker",
    version: 1,
    occurredAt: new Date().toISOString(),
    projectId: uuidv7(),
    aggregate: { type: "test", id: uuidv7() },
    data: {},
  });

  it("fails fast, well under the publish timeout, once the breaker is open", async () => {
    const ready = await api.get("/health/ready");
    expect(ready.status).toBe(503);
    expect(ready.body.error.code).toBe("BROKER_UNAVAILABLE");

    const bus = busOf(t.app);
    // The first publish waits for its confirm until the timeout and opens the breaker.
    expect(await bus.publish([event()])).toEqual([false]);
    expect(await breakerState(t.app)).toBe(2);

    const started = performance.now();
    expect(await bus.publish([event(), event(), event()])).toEqual([false, false, false]);
    expect(performance.now() - started).toBeLessThan(PUBLISH_TIMEOUT_MS / 4);
    expect(await breakerState(t.app)).toBe(2);
  });

  it("connects by itself once the broker becomes reachable", async () => {
    proxy.restore();
    const ready = await waitFor(
      async () => {
        const res = await api.get("/health/ready");
        return res.status === 200 ? res : undefined;
      },
      RECOVERY_MS,
      { what: "readiness once the broker is reachable" },
    );
    expect(ready.body.checks.broker.status).toBe("ok");
  }, 90_000);
});

describe("a consumer that always throws, and an event delivered twice", () => {
  let t: TestApp;
  let api: ReturnType<typeof client>;
  let failures = 0;
  const failing: EventConsumer = {
    name: "always-fails",
    eventTypes: ["contact.created"],
    maxAttempts: 3,
    async handle(event) {
      failures++;
      throw new Error(`always-fails cannot take ${event.id}`);
    },
  };
  const counting = recorder("counting", ["test.*"]);

  beforeAll(async () => {
    t = await createTestApp(rabbitEnv(newPrefix([failing, counting.consumer])), {
      compose: { consumers: [failing, counting.consumer] },
    });
    api = client(t.app, t.adminKey);
  });
  afterAll(() => closeWithTopology(t));

  it("retries through the retry queue, then dead-letters to the DLQ, visible in metrics", async () => {
    const [id] = await createContacts(api, 1, "Poison");
    const [row] = (await outboxOf(t.app, [id!])).filter((r) => r.type === "contact.created");
    const count = (outcome: string) =>
      metric(t.app, "ventros_event_consumer_total", { consumer: "always-fails", outcome });

    await waitFor(async () => (await count("dead_lettered")) === 1, WAIT_MS, {
      what: "the event to be dead-lettered",
    });
    expect(failures).toBe(3);
    expect(await count("retried")).toBe(2);
    expect(await count("applied")).toBe(0);
    // The other consumer of the same event is not affected.
    expect(await timelineCount(t.app, [id!])).toBe(1);

    const queue = busOf(t.app).queueOf("always-fails");
    const dlq = `${queue}.dlq`;
    const inspector = new Connection({ url: AMQP_URL, connectionName: "ventros-test-dlq" });
    inspector.on("error", () => undefined);
    try {
      const declared = await waitFor(
        async () => {
          const ok = await inspector.queueDeclare({ queue: dlq, passive: true });
          return ok.messageCount === 1 ? ok : undefined;
        },
        WAIT_MS,
        { what: "one message in the DLQ" },
      );
      expect(declared.messageCount).toBe(1);
      const message = await inspector.basicGet({ queue: dlq, noAck: true });
      expect(message).toBeDefined();
      // rabbitmq-client decodes application/json bodies itself.
      const raw: unknown = message!.body;
      const body = (Buffer.isBuffer(raw) ? JSON.parse(raw.toString("utf8")) : raw) as DomainEvent;
      expect(body.id).toBe(row!.id);
      expect(message!.messageId).toBe(row!.id);
      expect(Number(message!.headers?.["x-attempt"])).toBe(3);
      // Its last trip: expired out of the retry queue (TTL), then rejected by the consumer.
      const deaths = (message!.headers?.["x-death"] ?? []) as { queue: string; reason: string }[];
      expect(deaths.map((d) => `${d.queue}:${d.reason}`)).toEqual(
        expect.arrayContaining([`${queue}.retry:expired`, `${queue}:rejected`]),
      );
      const retry = await inspector.queueDeclare({ queue: `${queue}.retry`, passive: true });
      expect(retry.messageCount).toBe(0);
    } finally {
      await inspector.close();
    }
  });

  it("applies the same event published twice once", async () => {
    const event: DomainEvent = {
      id: uuidv7(),
      type: "test.duplicated",
      version: 1,
      occurredAt: new Date().toISOString(),
      projectId: uuidv7(),
      aggregate: { type: "test", id: uuidv7() },
      data: { n: 1 },
    };
    const bus = busOf(t.app);
    expect(await bus.publish([event])).toEqual([true]);
    expect(await bus.publish([structuredClone(event)])).toEqual([true]);

    const count = (outcome: string) =>
      metric(t.app, "ventros_event_consumer_total", { consumer: "counting", outcome });
    await waitFor(
      async () => (await count("applied")) === 1 && (await count("duplicate")) === 1,
      WAIT_MS,
      { what: "both deliveries: one applied, one duplicate" },
    );
    expect(counting.applied.get(event.id)).toBe(1);
    const consumed = await t.app.deps.database.db
      .selectFrom("consumed_events")
      .select("event_id")
      .where("consumer", "=", "counting")
      .where("event_id", "=", event.id)
      .execute();
    expect(consumed).toHaveLength(1);
  });
});

describe("process killed between state commit and publish", () => {
  const COUNT = 3;
  let child: ChildProcess | undefined;
  let t: TestApp | undefined;
  let prefix: string;
  let database: Awaited<ReturnType<typeof crashDatabase>> | undefined;

  beforeAll(async () => {
    prefix = newPrefix();
    database = await crashDatabase("crash");
  });
  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await closeWithTopology(t);
    await database?.drop();
  });

  it("publishes and consumes the committed events after a restart", async () => {
    const env: Record<string, string> = {
      PATH: process.env["PATH"] ?? "",
      HOME: process.env["HOME"] ?? "",
      AMQP_URL,
      AMQP_PREFIX: prefix,
      ...database!.env,
    };
    child = spawn(
      process.execPath,
      ["--import", "tsx", "test/support/crash-producer.ts", String(COUNT)],
      {
        cwd: process.cwd(),
        env,
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stderr = "";
    child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<void>((resolve) => child!.once("exit", () => resolve()));
    const lines = createInterface({ input: child.stdout! });
    const report = await new Promise<{ key: string; ids: string[] }>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`child gave no ids in time: ${stderr}`)),
        60_000,
      );
      lines.on("line", (line) => {
        try {
          const parsed = JSON.parse(line) as { key: string; ids: string[] };
          clearTimeout(timer);
          resolve(parsed);
        } catch {
          // not our line
        }
      });
      child!.once("exit", (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`child exited early (${code ?? signal}): ${stderr}`));
      });
    });
    expect(report.ids).toHaveLength(COUNT);
    child.kill("SIGKILL");
    await exited;
    expect(child.signalCode).toBe("SIGKILL");

    // Committed before the kill, never published: the relay was off.
    expect(await unpublishedIn(database!.existing, report.ids)).toBe(COUNT);

    t = await createTestApp(rabbitEnv(prefix), {
      existingDatabase: database!.existing,
    });
    const { app } = t;
    await waitFor(async () => (await timelineCount(app, report.ids)) === COUNT, WAIT_MS, {
      what: "the events committed before the kill at the timeline consumer",
    });
    const rows = await outboxOf(app, report.ids);
    expect(rows).toHaveLength(COUNT);
    await waitFor(
      async () => (await outboxOf(app, report.ids)).every((r) => r.published_at !== null),
      WAIT_MS,
      { what: "the outbox rows marked published" },
    );
    const api = client(app, report.key);
    const timeline = await api.get(`/v1/contacts/${report.ids[0]}/timeline`);
    expect(timeline.status).toBe(200);
    expect(timeline.body.data.map((i: { type: string }) => i.type)).toEqual(["contact.created"]);
  }, 120_000);
});

describe("live fan-out across instances", () => {
  let a: TestApp;
  let b: TestApp;
  const abort = new AbortController();

  beforeAll(async () => {
    const prefix = newPrefix();
    a = await createTestApp(rabbitEnv(prefix));
    // B publishes nothing itself: whatever reaches its stream came through the broker.
    b = await createTestApp(rabbitEnv(prefix), { shareDatabaseOf: a, compose: { relay: false } });
  });
  afterAll(async () => {
    abort.abort();
    await b?.close();
    await closeWithTopology(a);
  });

  it("streams an event produced through instance A to an SSE client of instance B", async () => {
    const address = await b.app.server.listen({ host: "127.0.0.1", port: 0 });
    const timer = setTimeout(() => abort.abort(), WAIT_MS);
    try {
      const response = await fetch(`${address}/v1/events/stream?types=contact.*`, {
        headers: { authorization: `Bearer ${b.adminKey}`, accept: "text/event-stream" },
        signal: abort.signal,
      });
      expect(response.status).toBe(200);
      const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      const nextFrame = async (): Promise<string> => {
        for (;;) {
          const end = buffer.indexOf("\n\n");
          if (end >= 0) {
            const frame = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            return frame;
          }
          const { value, done } = await reader.read();
          if (done) throw new Error("stream ended");
          buffer += value;
        }
      };
      // Connected: from here on live events are delivered.
      while (!(await nextFrame()).includes(": connected"));

      const [id] = await createContacts(client(a.app, a.adminKey), 1, "Fanout");
      let received: DomainEvent | undefined;
      while (!received) {
        const frame = await nextFrame();
        const data = frame
          .split("\n")
          .find((line) => line.startsWith("data: "))
          ?.slice(6);
        const event = data ? (JSON.parse(data) as DomainEvent) : undefined;
        if (event?.aggregate.id === id) received = event;
      }
      expect(received.type).toBe("contact.created");
      const [row] = await outboxOf(a.app, [id!]);
      expect(received.id).toBe(row!.id);
      await reader.cancel().catch(() => undefined);
    } finally {
      clearTimeout(timer);
      abort.abort();
    }
  });
});

describe("cleanup", () => {
  it("leaves no exchange or queue of this file behind", async () => {
    const inspector = new Connection({ url: AMQP_URL, connectionName: "ventros-test-cleanup" });
    inspector.on("error", () => undefined);
    const left: string[] = [];
    const exists = async (check: () => Promise<unknown>) =>
      check().then(
        () => true,
        (error: { code?: string }) => {
          if (error.code !== "NOT_FOUND") throw error;
          return false;
        },
      );
    try {
      for (const { prefix, consumers } of prefixes) {
        for (const exchange of [`${prefix}.events`, `${prefix}.events.dlx`])
          if (await exists(() => inspector.exchangeDeclare({ exchange, passive: true }))) {
            left.push(exchange);
            await inspector.exchangeDelete({ exchange });
          }
        for (const consumer of consumers)
          for (const queue of [
            `${prefix}.${consumer}`,
            `${prefix}.${consumer}.retry`,
            `${prefix}.${consumer}.dlq`,
          ])
            if (await exists(() => inspector.queueDeclare({ queue, passive: true }))) {
              left.push(queue);
              await inspector.queueDelete({ queue });
            }
      }
    } finally {
      await inspector.close();
    }
    // Anything found was deleted above, so a failing run still leaves nothing behind.
    expect(left).toEqual([]);
  });
});
