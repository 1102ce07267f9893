import type { AddressInfo } from "node:net";
import { sql } from "kysely";
import Value from "typebox/value";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compose, type App } from "../../src/compose.ts";
import { loadConfig } from "../../src/config.ts";
import type { DomainEvent } from "../../src/domain/events/domain-event.ts";
import { EVENT_CATALOGUE, EVENT_TYPES } from "../../src/domain/events/event-catalogue.ts";
import { consumeEvent } from "../../src/platform/bus/consume-event.ts";
import type { EventConsumer } from "../../src/platform/bus/event-bus.ts";
import type { InProcessBus } from "../../src/platform/bus/in-process-bus.ts";
import { withTransaction } from "../../src/platform/db/transaction.ts";
import { createLogger } from "../../src/platform/logger.ts";
import { toEvent } from "../../src/platform/outbox/outbox-relay.ts";
import { UnitOfWork } from "../../src/services/unit-of-work.ts";
import { expectError } from "../support/api-assertions.ts";
import { client } from "../support/http.ts";
import { SseClient } from "../support/sse-client.ts";
import { backend, createTestApp, type TestApp } from "../support/test-app.ts";
import { waitFor } from "../support/wait-for.ts";

/**
 * Domain events end to end on the in-process bus: the transactional outbox, the relay,
 * consumers (retries, dead letters, deduplication), the contact timeline, the event-type
 * catalogue and the server-sent events stream over a real socket.
 */

const ADMIN_TOKEN = "events-admin-token-0123456789abcdef";
const WAIT_MS = 10_000;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const ENVELOPE_KEYS = ["aggregate", "data", "id", "occurredAt", "projectId", "type", "version"];

type Api = ReturnType<typeof client>;

// --- test consumers -------------------------------------------------------------------

/** Records every event it is given, in the order it is given them. */
function recorder(name: string) {
  const seen: DomainEvent[] = [];
  const consumer: EventConsumer = {
    name,
    eventTypes: ["contact.*"],
    async handle(event) {
      seen.push(event);
    },
  };
  return {
    consumer,
    seen,
    of: (aggregateId: string) => seen.filter((e) => e.aggregate.id === aggregateId),
    count: (eventId: string) => seen.filter((e) => e.id === eventId).length,
  };
}

const main = recorder("recorder");

/** Fails every delivery of a contact named "Doomed ..."; applies everything else. */
const doomed = { attempts: new Map<string, number>() };
const doomedConsumer: EventConsumer = {
  name: "doomed",
  eventTypes: ["contact.created"],
  maxAttempts: 3,
  async handle(event) {
    const name = (event.data as { contact: { name: string } }).contact.name;
    if (!name.startsWith("Doomed")) return;
    doomed.attempts.set(event.id, (doomed.attempts.get(event.id) ?? 0) + 1);
    throw new Error("the doomed consumer always fails");
  },
};

// --- helpers --------------------------------------------------------------------------

interface OutboxRow {
  seq: string;
  id: string;
  project_id: string;
  type: string;
  version: number;
  aggregate_type: string;
  aggregate_id: string;
  data: any;
  occurred_at: Date;
  published_at: Date | null;
  attempts: number;
  last_error: string | null;
}

/** Outbox rows (all, or of one aggregate / project), in commit (seq) order. */
async function outbox(
  app: App,
  filter: { aggregateId?: string; projectId?: string; afterSeq?: string } = {},
): Promise<OutboxRow[]> {
  let query = app.deps.database.db
    .selectFrom("outbox_events")
    .select([
      sql<string>`seq::text`.as("seq"),
      "id",
      "project_id",
      "type",
      "version",
      "aggregate_type",
      "aggregate_id",
      "data",
      "occurred_at",
      "published_at",
      "attempts",
      "last_error",
    ]);
  if (filter.aggregateId) query = query.where("aggregate_id", "=", filter.aggregateId);
  if (filter.projectId) query = query.where("project_id", "=", filter.projectId);
  if (filter.afterSeq) query = query.where("seq", ">", filter.afterSeq);
  // The qualified name is the bigint column; a bare "seq" would sort by the text alias.
  return (await query.orderBy("outbox_events.seq").execute()) as OutboxRow[];
}

/**
 * Moves the outbox sequence so the next events get seq values that cross a decimal digit
 * boundary (…98, …99, 1…00): anything that orders events by seq as text, not as a number,
 * then puts them out of commit order.
 */
async function jumpToDigitBoundary(app: App): Promise<void> {
  const last = (await outbox(app)).at(-1)?.seq ?? "0";
  const next = 10 ** (last.length + 1) - 3;
  await sql`select setval(pg_get_serial_sequence('outbox_events', 'seq'), ${next})`.execute(
    app.deps.database.db,
  );
}

const unpublishedCount = async (app: App) =>
  Number(
    (
      await app.deps.database.db
        .selectFrom("outbox_events")
        .select((eb) => eb.fn.countAll<string>().as("n"))
        .where("published_at", "is", null)
        .executeTakeFirstOrThrow()
    ).n,
  );

const allPublished = (app: App) =>
  waitFor(async () => (await unpublishedCount(app)) === 0, WAIT_MS, {
    what: "every outbox event to be published",
  });

/** Sum of a counter or gauge's samples whose labels include `labels`. */
async function metricValue(
  app: App,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const metric = app.deps.metrics.registry.getSingleMetric(name);
  if (!metric) throw new Error(`no metric ${name}`);
  const { values } = await metric.get();
  return values
    .filter((v) => Object.entries(labels).every(([k, value]) => v.labels[k] === value))
    .reduce((sum, v) => sum + v.value, 0);
}

async function outboxLag(app: App): Promise<number> {
  const text = await app.deps.metrics.registry.getSingleMetricAsString(
    "ventros_outbox_lag_seconds",
  );
  const match = /^ventros_outbox_lag_seconds (\S+)$/m.exec(text);
  if (!match) throw new Error(`no lag sample in ${text}`);
  return Number(match[1]);
}

/** Wraps the bus so every publish call (events the bus accepted) is recorded in order. */
function spyOnPublish(app: App) {
  const bus = app.deps.bus;
  const original = bus.publish.bind(bus);
  const calls: DomainEvent[][] = [];
  const spy = {
    calls,
    /** Throw instead of publishing when this returns true for a batch (once per call). */
    failWhen: undefined as ((events: DomainEvent[]) => boolean) | undefined,
    failures: 0,
    /** Accepted events of one aggregate, flattened in publish order. */
    of: (aggregateId: string) => calls.flat().filter((e) => e.aggregate.id === aggregateId),
  };
  bus.publish = async (events) => {
    if (spy.failWhen?.(events)) {
      spy.failures++;
      throw new Error("simulated broker failure");
    }
    const outcomes = await original(events);
    calls.push(events.filter((_, i) => outcomes[i]));
    return outcomes;
  };
  return spy;
}

let phoneCounter = 0;
const nextPhone = () => `5511${String(900_000_000 + phoneCounter++)}`;

async function createContact(api: Api, body: Record<string, unknown>) {
  const res = await api.post("/v1/contacts", body);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as { id: string; name: string; phone: string | null; tags: string[] };
}

async function patchContact(api: Api, id: string, body: Record<string, unknown>) {
  const res = await api.patch(`/v1/contacts/${id}`, body);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

// --- the main app ---------------------------------------------------------------------

let t: TestApp;
let api: Api;
let projectId: string;
let publishes: ReturnType<typeof spyOnPublish>;
const streams: SseClient[] = [];

beforeAll(async () => {
  t = await createTestApp(
    { ADMIN_TOKEN, EVENT_STREAM_HEARTBEAT_MS: "1000" },
    { compose: { consumers: [main.consumer, doomedConsumer] } },
  );
  publishes = spyOnPublish(t.app);
  api = client(t.app, t.adminKey);
  projectId = (await api.get("/v1/project")).body.id;
});

afterAll(async () => {
  await Promise.all(streams.map((s) => s.close()));
  await t?.close();
});

async function newProject(name: string) {
  const res = await client(t.app, ADMIN_TOKEN).post("/v1/projects", { name });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return {
    id: res.body.project.id as string,
    key: res.body.apiKey as string,
    api: client(t.app, res.body.apiKey),
  };
}

describe("transactional outbox", () => {
  it("creating a contact writes exactly one contact.created event with the state", async () => {
    const contact = await createContact(api, {
      name: "Ana Atomic",
      phone: nextPhone(),
      tags: ["Lead"],
    });
    const rows = await outbox(t.app, { aggregateId: contact.id });
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      type: "contact.created",
      version: 1,
      project_id: projectId,
      aggregate_type: "contact",
      aggregate_id: contact.id,
    });
    expect(rows[0]!.data).toEqual({
      contact: {
        id: contact.id,
        name: "Ana Atomic",
        phone: contact.phone,
        email: null,
        tags: ["lead"],
        customFields: {},
        externalId: null,
      },
    });
    expect(Value.Check(EVENT_CATALOGUE["contact.created"].schema, rows[0]!.data)).toBe(true);
  });

  it("the event commits or rolls back with the state change", async () => {
    const { db } = t.app.deps.database;
    let createdId = "";
    const rollback = new Error("roll back");
    await expect(
      withTransaction(db, async (trx) => {
        const contact = await t.app.deps.contacts.create(projectId, { name: "Rolled Back" }, trx);
        createdId = contact.id;
        // Inside the transaction, the state and its event are both there...
        const inside = await trx
          .selectFrom("outbox_events")
          .select("type")
          .where("aggregate_id", "=", contact.id)
          .execute();
        expect(inside.map((r) => r.type)).toEqual(["contact.created"]);
        throw rollback;
      }),
    ).rejects.toBe(rollback);
    // ...and after the rollback neither is.
    expect(createdId).not.toBe("");
    expect(await outbox(t.app, { aggregateId: createdId })).toEqual([]);
    const contact = await db
      .selectFrom("contacts")
      .select("id")
      .where("id", "=", createdId)
      .executeTakeFirst();
    expect(contact).toBeUndefined();
  });

  it("an event whose data breaks its schema fails the whole transaction", async () => {
    const { db } = t.app.deps.database;
    const before = (await outbox(t.app)).length;
    const id = "01939d6e-7a1c-7b7e-9c41-000000000bad";
    await expect(
      new UnitOfWork(db).run(async ({ trx, emit }) => {
        await trx
          .insertInto("contacts")
          .values({
            id,
            project_id: projectId,
            name: "Bad Event",
            tags: [],
            custom_fields: "{}",
            created_at: new Date(),
            updated_at: new Date(),
          })
          .execute();
        emit("contact.deleted", {
          projectId,
          aggregateId: id,
          data: { contactId: 42 } as unknown as { contactId: string },
        });
      }),
    ).rejects.toThrow(/does not match its schema/);
    expect((await outbox(t.app)).length).toBe(before);
    expect(
      await db.selectFrom("contacts").select("id").where("id", "=", id).executeTakeFirst(),
    ).toBeUndefined();
  });

  it("a request that fails (409 duplicate phone) writes no event", async () => {
    const phone = nextPhone();
    await createContact(api, { name: "First Owner", phone });
    const before = await outbox(t.app, { projectId });
    const res = await api.post("/v1/contacts", { name: "Second Owner", phone });
    expectError(res, 409, "CONTACT_PHONE_TAKEN");
    const after = await outbox(t.app, { projectId });
    expect(after.map((r) => r.id)).toEqual(before.map((r) => r.id));
    expect(JSON.stringify(after.map((r) => r.data))).not.toContain("Second Owner");
  });

  it("PATCH that changes nothing emits no contact.updated", async () => {
    const phone = nextPhone();
    const contact = await createContact(api, { name: "Still Same", phone, tags: ["a", "b"] });
    // Same values, written differently: the normalized contact does not change.
    await patchContact(api, contact.id, {
      name: "  Still Same ",
      phone: `+${phone.slice(0, 2)} ${phone.slice(2, 4)} ${phone.slice(4)}`,
      tags: ["A", "b", "a"],
    });
    expectError(await api.patch(`/v1/contacts/${contact.id}`, {}), 400, "VALIDATION_FAILED");
    const rows = await outbox(t.app, { aggregateId: contact.id });
    expect(rows.map((r) => r.type)).toEqual(["contact.created"]);
  });

  it("PATCH emits contact.updated naming the changed fields", async () => {
    const contact = await createContact(api, { name: "Before Patch", tags: ["lead"] });
    const patched = await patchContact(api, contact.id, {
      name: "After Patch",
      tags: ["lead", "vip"],
    });
    await patchContact(api, contact.id, { customFields: { plan: "gold" }, email: "a@b.example" });
    const rows = await outbox(t.app, { aggregateId: contact.id });
    expect(rows.map((r) => r.type)).toEqual([
      "contact.created",
      "contact.updated",
      "contact.updated",
    ]);
    expect(rows[1]!.data.changes).toEqual(["name", "tags"]);
    expect(rows[1]!.data.contact).toMatchObject({
      id: contact.id,
      name: "After Patch",
      tags: patched.tags,
    });
    expect([...rows[2]!.data.changes].sort()).toEqual(["customFields", "email"]);
    expect(rows[2]!.data.contact).toMatchObject({
      customFields: { plan: "gold" },
      email: "a@b.example",
    });
    for (const row of rows.slice(1))
      expect(Value.Check(EVENT_CATALOGUE["contact.updated"].schema, row.data)).toBe(true);
  });

  it("DELETE emits contact.deleted; a second DELETE (404) emits nothing", async () => {
    const contact = await createContact(api, { name: "Soon Gone" });
    expect((await api.delete(`/v1/contacts/${contact.id}`)).status).toBe(204);
    expectError(await api.delete(`/v1/contacts/${contact.id}`), 404, "CONTACT_NOT_FOUND");
    const rows = await outbox(t.app, { aggregateId: contact.id });
    expect(rows.map((r) => r.type)).toEqual(["contact.created", "contact.deleted"]);
    expect(rows[1]).toMatchObject({ project_id: projectId, aggregate_type: "contact" });
    expect(rows[1]!.data).toEqual({ contactId: contact.id });
  });
});

describe("outbox relay", () => {
  it("publishes every event, marks published_at, and the metrics account for them", async () => {
    await allPublished(t.app);
    // Every row in this database was published by this app's relay, each counted once.
    const publishedBefore = (await outbox(t.app)).length;
    await waitFor(
      async () => (await metricValue(t.app, "ventros_outbox_published_total")) === publishedBefore,
      WAIT_MS,
      { what: "the published counter to match the outbox" },
    );
    const lastSeq = (await outbox(t.app)).at(-1)!.seq;

    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await createContact(api, { name: `Relay ${i}` })).id);
    await patchContact(api, ids[0]!, { name: "Relay 0 renamed" });

    await allPublished(t.app);
    const rows = await outbox(t.app, { afterSeq: lastSeq });
    expect(rows.length).toBeGreaterThanOrEqual(6);
    for (const row of rows) {
      expect(row.published_at).toBeInstanceOf(Date);
      expect(row.published_at!.getTime()).toBeGreaterThanOrEqual(row.occurred_at.getTime());
    }
    // Each event reached the bus (and the recorder consumer) exactly once.
    const accepted = publishes.calls.flat().map((e) => e.id);
    for (const row of rows) expect(accepted.filter((id) => id === row.id)).toHaveLength(1);
    await waitFor(() => rows.every((row) => main.count(row.id) === 1), WAIT_MS, {
      what: "the recorder to apply every event",
    });

    // The counter moves just after the rows are marked published.
    const expected = publishedBefore + rows.length;
    await waitFor(
      async () => (await metricValue(t.app, "ventros_outbox_published_total")) >= expected,
      WAIT_MS,
      { what: "the published counter" },
    );
    expect(await metricValue(t.app, "ventros_outbox_published_total")).toBe(expected);
    expect(await outboxLag(t.app)).toBe(0);
    const scrape = await client(t.app).get("/metrics");
    expect(scrape.status).toBe(200);
    expect(scrape.body).toMatch(/^ventros_outbox_lag_seconds 0$/m);
    expect(scrape.body).toMatch(new RegExp(`^ventros_outbox_published_total ${expected}$`, "m"));
  });

  it("a failed publish is retried with backoff, keeping the aggregate's order", async () => {
    await allPublished(t.app);
    const failuresBefore = await metricValue(t.app, "ventros_outbox_publish_failures_total");
    publishes.failWhen = (events) =>
      publishes.failures === 0 &&
      events.some((e) => (e.data as { contact?: { name?: string } }).contact?.name === "Retry Me");
    try {
      const contact = await createContact(api, { name: "Retry Me" });
      await patchContact(api, contact.id, { tags: ["one"] });
      await patchContact(api, contact.id, { tags: ["one", "two"] });
      await waitFor(() => main.of(contact.id).length === 3, WAIT_MS, {
        what: "the three events to reach the consumer",
      });
      expect(publishes.failures).toBe(1);
      const rows = await outbox(t.app, { aggregateId: contact.id });
      expect(rows.map((r) => r.type)).toEqual([
        "contact.created",
        "contact.updated",
        "contact.updated",
      ]);
      // The failed row was backed off and retried; it still went out first.
      expect(rows[0]!.attempts).toBe(1);
      expect(rows[0]!.last_error).toEqual(expect.any(String));
      expect(publishes.of(contact.id).map((e) => e.id)).toEqual(rows.map((r) => r.id));
      await allPublished(t.app);
      expect(await metricValue(t.app, "ventros_outbox_publish_failures_total")).toBeGreaterThan(
        failuresBefore,
      );
    } finally {
      publishes.failWhen = undefined;
    }
  });

  it("publishes one aggregate's events in commit order; the consumer gets each once", async () => {
    const contact = await createContact(api, { name: "Order v0" });
    for (let v = 1; v <= 5; v++) await patchContact(api, contact.id, { name: `Order v${v}` });

    const rows = await outbox(t.app, { aggregateId: contact.id });
    expect(rows.map((r) => r.data.contact.name)).toEqual(
      [0, 1, 2, 3, 4, 5].map((v) => `Order v${v}`),
    );
    await waitFor(() => main.of(contact.id).length >= 6, WAIT_MS, {
      what: "six events at the consumer",
    });
    // What the relay guarantees: the bus is handed the aggregate's events in commit order.
    expect(publishes.of(contact.id).map((e) => e.id)).toEqual(rows.map((r) => r.id));
    // The in-process consumer queue runs two handlers at a time and does not promise
    // order; it promises every event, once.
    expect(
      main
        .of(contact.id)
        .map((e) => e.id)
        .sort(),
    ).toEqual(rows.map((r) => r.id).sort());
  });
});

describe("crash between commit and publish", () => {
  const before = recorder("crash-recorder");
  const after = recorder("crash-recorder");
  let crashed: TestApp;
  let restarted: App | undefined;

  beforeAll(async () => {
    crashed = await createTestApp({}, { compose: { relay: false, consumers: [before.consumer] } });
  });
  afterAll(async () => {
    await restarted?.stop();
    await crashed?.close();
  });

  it("events committed while no relay runs are all published after restart", async () => {
    const crashedApi = client(crashed.app, crashed.adminKey);
    const ids: string[] = [];
    ids.push((await createContact(crashedApi, { name: "Crash 0" })).id);
    await jumpToDigitBoundary(crashed.app);
    for (let i = 1; i < 3; i++)
      ids.push((await createContact(crashedApi, { name: `Crash ${i}` })).id);
    for (let v = 1; v <= 4; v++) await patchContact(crashedApi, ids[0]!, { name: `Crash 0 v${v}` });

    const pending = await outbox(crashed.app);
    const ours = pending.filter((r) => ids.includes(r.aggregate_id));
    expect(ours).toHaveLength(7);
    // The batch spans seq values of different lengths (e.g. 98 … 103).
    expect(new Set(ours.slice(1).map((r) => r.seq.length)).size).toBe(2);
    expect(pending.every((r) => r.published_at === null)).toBe(true);
    expect(await waitFor(async () => (await outboxLag(crashed.app)) > 0, WAIT_MS)).toBe(true);
    const empty = await crashedApi.get(`/v1/contacts/${ids[0]}/timeline`);
    expect(empty.status).toBe(200);
    expect(empty.body.data).toEqual([]);
    expect(before.seen).toEqual([]);

    let relayApp: App;
    let publishSpy: ReturnType<typeof spyOnPublish>;
    if (backend === "pglite") {
      // One in-memory database cannot be opened twice: run the relay of this instance.
      relayApp = crashed.app;
      publishSpy = spyOnPublish(relayApp);
      expect(await relayApp.deps.relay.tick()).toBe(pending.length);
    } else {
      // The first process goes away without publishing; a new one on the same database
      // finds the events in the outbox.
      await crashed.app.stop();
      restarted = await compose(
        loadConfig({
          NODE_ENV: "test",
          LOG_LEVEL: "silent",
          JOBS_POLL_INTERVAL_SECONDS: "0.5",
          DATABASE_URL: crashed.databaseUrl!,
        }),
        { logger: createLogger("silent"), announce: () => {}, consumers: [after.consumer] },
      );
      relayApp = restarted;
      publishSpy = spyOnPublish(relayApp);
      await restarted.start();
    }
    const consumer = backend === "pglite" ? before : after;

    await allPublished(relayApp);
    const published = await outbox(relayApp);
    expect(published.map((r) => r.id)).toEqual(pending.map((r) => r.id));
    expect(published.every((r) => r.published_at !== null)).toBe(true);
    expect(await outboxLag(relayApp)).toBe(0);
    // In commit order, per aggregate and overall.
    expect(publishSpy.calls.flat().map((e) => e.id)).toEqual(pending.map((r) => r.id));

    const relayApi = client(relayApp, crashed.adminKey);
    for (const id of ids) {
      const expected = ours.filter((r) => r.aggregate_id === id).map((r) => r.id);
      const timeline = await waitFor(
        async () => {
          const res = await relayApi.get(`/v1/contacts/${id}/timeline`);
          return res.body.data?.length === expected.length ? res.body.data : undefined;
        },
        WAIT_MS,
        { what: `the timeline of ${id}` },
      );
      expect(timeline.map((item: { id: string }) => item.id)).toEqual([...expected].reverse());
    }
    await waitFor(() => consumer.seen.length >= ours.length, WAIT_MS, {
      what: "the test consumer to see every event",
    });
    expect(consumer.seen.map((e) => e.id).sort()).toEqual(ours.map((r) => r.id).sort());
  });
});

describe("consumers", () => {
  it("a consumer that throws is retried, then dead-lettered and counted", async () => {
    const labels = { consumer: "doomed", outcome: "dead_lettered" };
    expect(await metricValue(t.app, "ventros_event_consumer_total", labels)).toBe(0);
    const contact = await createContact(api, { name: "Doomed Dora" });
    const [event] = await outbox(t.app, { aggregateId: contact.id });

    await waitFor(
      async () => (await metricValue(t.app, "ventros_event_consumer_total", labels)) === 1,
      15_000,
      { what: "the doomed delivery to be dead-lettered", intervalMs: 100 },
    );
    expect(doomed.attempts.get(event!.id)).toBe(3);
    expect(
      await metricValue(t.app, "ventros_event_consumer_total", {
        consumer: "doomed",
        outcome: "failed",
      }),
    ).toBe(3);
    const queue = "event-consumer-doomed";
    const deadLetters: { data: unknown }[] = [];
    const parked = await waitFor(
      async () => {
        deadLetters.push(...(await t.app.deps.jobs.fetchDeadLetters(queue)));
        return deadLetters.find(
          (job) => (job.data as { event?: { id?: string } }).event?.id === event!.id,
        );
      },
      WAIT_MS,
      { what: "the delivery on the dead-letter queue" },
    );
    expect((parked.data as { event: DomainEvent }).event).toMatchObject({
      id: event!.id,
      type: "contact.created",
      aggregate: { type: "contact", id: contact.id },
    });
    expect(deadLetters).toHaveLength(1);
    expect(
      await metricValue(t.app, "ventros_jobs_total", { queue, outcome: "dead_lettered" }),
    ).toBe(1);
    // Other consumers of the same event are unaffected.
    await waitFor(() => main.count(event!.id) === 1, WAIT_MS);
    const timeline = await api.get(`/v1/contacts/${contact.id}/timeline`);
    expect(timeline.body.data.map((item: { id: string }) => item.id)).toEqual([event!.id]);
    // The consumer's other events are applied normally.
    expect(
      await metricValue(t.app, "ventros_event_consumer_total", {
        consumer: "doomed",
        outcome: "applied",
      }),
    ).toBeGreaterThan(0);
  });

  it("the same event delivered twice is applied once", async () => {
    const { db } = t.app.deps.database;
    const contact = await createContact(api, { name: "Twice Delivered" });
    const [row] = await outbox(t.app, { aggregateId: contact.id });
    const event = toEvent(row!);

    // Directly: the second consumeEvent is a no-op.
    let applied = 0;
    const direct: EventConsumer = {
      name: "direct-test",
      eventTypes: ["*"],
      async handle() {
        applied++;
      },
    };
    expect(await consumeEvent(db, direct, event)).toBe("applied");
    expect(await consumeEvent(db, direct, event)).toBe("duplicate");
    expect(applied).toBe(1);

    // A failed attempt records nothing: the id and the effect commit together.
    let flakyRuns = 0;
    const flaky: EventConsumer = {
      name: "direct-flaky",
      eventTypes: ["*"],
      async handle() {
        flakyRuns++;
        if (flakyRuns === 1) throw new Error("first attempt fails");
      },
    };
    await expect(consumeEvent(db, flaky, event)).rejects.toThrow("first attempt fails");
    expect(await consumeEvent(db, flaky, event)).toBe("applied");
    expect(await consumeEvent(db, flaky, event)).toBe("duplicate");
    expect(flakyRuns).toBe(2);

    // Through the bus: a duplicate delivery job for a registered consumer.
    await waitFor(() => main.count(event.id) === 1, WAIT_MS, { what: "the first delivery" });
    const duplicates = (consumer: string) =>
      metricValue(t.app, "ventros_event_consumer_total", { consumer, outcome: "duplicate" });
    const recorderBefore = await duplicates("recorder");
    const timelineBefore = await duplicates("contact-timeline");
    const bus = t.app.deps.bus as InProcessBus;
    const job = bus.jobDefinitions.find((d) => d.name === "event-consumer-recorder")!;
    await t.app.deps.jobs.enqueueMany(job, [{ event }]);
    await waitFor(async () => (await duplicates("recorder")) === recorderBefore + 1, WAIT_MS, {
      what: "the duplicate delivery job to run",
    });
    // And a republish of the whole event to every consumer.
    await bus.publish([event]);
    await waitFor(async () => (await duplicates("recorder")) === recorderBefore + 2, WAIT_MS);
    await waitFor(
      async () => (await duplicates("contact-timeline")) === timelineBefore + 1,
      WAIT_MS,
    );
    expect(main.count(event.id)).toBe(1);
    const timeline = await api.get(`/v1/contacts/${contact.id}/timeline`);
    expect(timeline.body.data.map((item: { id: string }) => item.id)).toEqual([event.id]);
  });
});

describe("GET /v1/contacts/:id/timeline", () => {
  it("lists created and updated items newest first, with summaries", async () => {
    const contact = await createContact(api, { name: "Tim Eline" });
    await patchContact(api, contact.id, { name: "Tim Eline Jr" });
    await patchContact(api, contact.id, { tags: ["vip"], customFields: { tier: 2 } });
    const rows = await outbox(t.app, { aggregateId: contact.id });

    const res = await waitFor(
      async () => {
        const r = await api.get(`/v1/contacts/${contact.id}/timeline`);
        return r.body.data?.length === 3 ? r : undefined;
      },
      WAIT_MS,
      { what: "three timeline items" },
    );
    expect(res.status).toBe(200);
    expect(res.body.nextCursor).toBeNull();
    const items = res.body.data as any[];
    expect(items.map((i) => i.id)).toEqual(rows.map((r) => r.id).reverse());
    expect(items.map((i) => i.type)).toEqual([
      "contact.updated",
      "contact.updated",
      "contact.created",
    ]);
    expect(items.map((i) => i.summary)).toEqual([
      "Contact updated: tags, customFields",
      "Contact updated: name",
      "Contact created",
    ]);
    items.forEach((item, i) => {
      expect(Object.keys(item).sort()).toEqual(["data", "id", "occurredAt", "summary", "type"]);
      expect(item.occurredAt).toMatch(ISO);
      const row = rows[rows.length - 1 - i]!;
      expect(item.occurredAt).toBe(row.occurred_at.toISOString());
      expect(item.data).toEqual(row.data);
    });
  });

  it("pages with limit=1 and the cursor", async () => {
    const contact = await createContact(api, { name: "Page One" });
    await patchContact(api, contact.id, { name: "Page Two" });
    await patchContact(api, contact.id, { name: "Page Three" });
    const rows = await outbox(t.app, { aggregateId: contact.id });
    await waitFor(
      async () => (await api.get(`/v1/contacts/${contact.id}/timeline`)).body.data?.length === 3,
      WAIT_MS,
    );
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 3; page++) {
      const query: string = cursor ? `limit=1&cursor=${encodeURIComponent(cursor)}` : "limit=1";
      const res = await api.get(`/v1/contacts/${contact.id}/timeline?${query}`);
      expect(res.status).toBe(200);
      expect(res.body.data).toHaveLength(1);
      seen.push(res.body.data[0].id);
      cursor = res.body.nextCursor;
      if (page < 2) expect(cursor).toEqual(expect.any(String));
    }
    expect(cursor).toBeNull();
    expect(seen).toEqual(rows.map((r) => r.id).reverse());
    expectError(
      await api.get(`/v1/contacts/${contact.id}/timeline?cursor=not-a-cursor`),
      400,
      "VALIDATION_FAILED",
    );
  });

  it("answers 404 for another project's contact, an unknown one and a deleted one", async () => {
    const contact = await createContact(api, { name: "Mine Only" });
    await waitFor(
      async () => (await api.get(`/v1/contacts/${contact.id}/timeline`)).body.data?.length === 1,
      WAIT_MS,
    );
    const other = await newProject("Timeline Other");
    expectError(
      await other.api.get(`/v1/contacts/${contact.id}/timeline`),
      404,
      "CONTACT_NOT_FOUND",
    );
    expectError(
      await api.get(`/v1/contacts/01939d6e-7a1c-7b7e-9c41-6f0e7b1d2aff/timeline`),
      404,
      "CONTACT_NOT_FOUND",
    );
    expectError(
      await client(t.app).get(`/v1/contacts/${contact.id}/timeline`),
      401,
      "UNAUTHORIZED",
    );

    expect((await api.delete(`/v1/contacts/${contact.id}`)).status).toBe(204);
    expectError(await api.get(`/v1/contacts/${contact.id}/timeline`), 404, "CONTACT_NOT_FOUND");
  });
});

describe("GET /v1/event-types", () => {
  it("lists every catalogue type with a description, a schema and a valid example", async () => {
    const res = await api.get("/v1/event-types");
    expect(res.status).toBe(200);
    const entries = res.body.data as any[];
    expect(entries.map((e) => e.type).sort()).toEqual([...EVENT_TYPES].sort());
    for (const entry of entries) {
      const catalogue = EVENT_CATALOGUE[entry.type as keyof typeof EVENT_CATALOGUE];
      expect(entry.version).toBe(catalogue.version);
      expect(entry.aggregate).toBe(catalogue.aggregate);
      expect(entry.description).toBe(catalogue.description);
      expect(entry.description.length).toBeGreaterThan(10);
      expect(entry.schema).toEqual(JSON.parse(JSON.stringify(catalogue.schema)));
      expect(entry.schema.type).toBe("object");

      const example = entry.example;
      expect(Object.keys(example).sort()).toEqual(ENVELOPE_KEYS);
      expect(example).toMatchObject({
        type: entry.type,
        version: catalogue.version,
        aggregate: { type: catalogue.aggregate, id: expect.any(String) },
      });
      expect(example.occurredAt).toMatch(ISO);
      // The served schema (plain JSON) validates the example's data, and rejects junk.
      expect(Value.Check(entry.schema, example.data), entry.type).toBe(true);
      expect(Value.Check(entry.schema, {}), entry.type).toBe(false);
    }
    // Real events validate against the served schemas too.
    const byType = new Map(entries.map((e) => [e.type as string, e.schema]));
    const real = await outbox(t.app, { projectId });
    expect(real.length).toBeGreaterThan(0);
    for (const row of real)
      expect(Value.Check(byType.get(row.type), row.data), row.type).toBe(true);
  });
});

describe("GET /v1/events/stream (server-sent events over a socket)", () => {
  let base: string;
  let p: Awaited<ReturnType<typeof newProject>>;
  let q: Awaited<ReturnType<typeof newProject>>;

  const open = async (key: string | undefined, path = "", headers: Record<string, string> = {}) => {
    const stream = await SseClient.connect(`${base}/v1/events/stream${path}`, {
      ...(key ? { authorization: `Bearer ${key}` } : {}),
      ...headers,
    });
    streams.push(stream);
    return stream;
  };

  beforeAll(async () => {
    await t.app.server.listen({ host: "127.0.0.1", port: 0 });
    const address = t.app.server.server.address() as AddressInfo;
    base = `http://127.0.0.1:${address.port}`;
    p = await newProject("Stream P");
    q = await newProject("Stream Q");
    await allPublished(t.app);
  });

  const parse = (data: string) => JSON.parse(data) as DomainEvent;

  it("streams live events, then resumes after a disconnect with no gap and no duplicate", async () => {
    const first = await open(p.key);
    const other = await open(q.key);
    expect(first.status).toBe(200);
    expect(first.headers.get("content-type")).toMatch(/^text\/event-stream/);

    const created: string[] = [];
    for (let i = 0; i < 3; i++)
      created.push((await createContact(p.api, { name: `Live ${i}` })).id);
    const qContact = await createContact(q.api, { name: "Q live" });
    await first.waitForFrames(3);
    const pRows = await outbox(t.app, { projectId: p.id });
    const liveRows = pRows.filter((r) => created.includes(r.aggregate_id));
    expect(first.ids()).toEqual(liveRows.map((r) => r.id));
    first.frames.forEach((frame, i) => {
      const row = liveRows[i]!;
      expect(frame.event).toBe("contact.created");
      const envelope = parse(frame.data);
      expect(Object.keys(envelope).sort()).toEqual(ENVELOPE_KEYS);
      expect(envelope).toEqual({
        id: row.id,
        type: "contact.created",
        version: 1,
        occurredAt: row.occurred_at.toISOString(),
        projectId: p.id,
        aggregate: { type: "contact", id: row.aggregate_id },
        data: row.data,
      });
    });
    const lastId = first.ids().at(-1)!;
    await first.close();

    // While disconnected: more of every kind, with seq values crossing a digit boundary.
    await jumpToDigitBoundary(t.app);
    const a = await createContact(p.api, { name: "Missed A" });
    const b = await createContact(p.api, { name: "Missed B" });
    await patchContact(p.api, a.id, { tags: ["missed"] });
    expect((await p.api.delete(`/v1/contacts/${b.id}`)).status).toBe(204);
    await createContact(q.api, { name: "Q while away" });
    const lastSeq = pRows.find((r) => r.id === lastId)!.seq;
    const missed = await outbox(t.app, { projectId: p.id, afterSeq: lastSeq });
    expect(missed.map((r) => r.type)).toEqual([
      "contact.created",
      "contact.created",
      "contact.updated",
      "contact.deleted",
    ]);
    expect(new Set(missed.map((r) => r.seq.length)).size).toBe(2);

    const resumed = await open(p.key, "", { "last-event-id": lastId });
    await resumed.waitForFrames(missed.length);
    expect(resumed.ids()).toEqual(missed.map((r) => r.id));
    expect(resumed.events().map((f) => f.event)).toEqual(missed.map((r) => r.type));

    // Then live events continue on the same connection.
    const live = await createContact(p.api, { name: "After Resume" });
    const sentinel = await createContact(p.api, { name: "Sentinel" });
    await resumed.waitForFrames(missed.length + 2);
    const liveIds = [
      ...(await outbox(t.app, { aggregateId: live.id })),
      ...(await outbox(t.app, { aggregateId: sentinel.id })),
    ].map((r) => r.id);
    expect(resumed.ids()).toEqual([...missed.map((r) => r.id), ...liveIds]);

    // Another project's events never appear; its own stream got only its own.
    const qIds = new Set((await outbox(t.app, { projectId: q.id })).map((r) => r.id));
    for (const frame of [...first.frames, ...resumed.frames]) {
      expect(parse(frame.data).projectId).toBe(p.id);
      expect(qIds.has(frame.id!)).toBe(false);
    }
    await other.waitForFrames(2);
    const qContactIds = (await outbox(t.app, { projectId: q.id }))
      .filter((r) => r.type.startsWith("contact."))
      .map((r) => r.id);
    expect(other.ids()).toEqual(qContactIds);
    expect(other.frames.every((f) => parse(f.data).projectId === q.id)).toBe(true);
    expect(qContactIds[0]).toBe((await outbox(t.app, { aggregateId: qContact.id }))[0]!.id);
    await other.close();
  });

  it("filters with ?types=contact.deleted", async () => {
    const stream = await open(p.key, "?types=contact.deleted");
    const doomedOne = await createContact(p.api, { name: "Filter One" });
    await patchContact(p.api, doomedOne.id, { name: "Filter One b" });
    expect((await p.api.delete(`/v1/contacts/${doomedOne.id}`)).status).toBe(204);
    const doomedTwo = await createContact(p.api, { name: "Filter Two" });
    expect((await p.api.delete(`/v1/contacts/${doomedTwo.id}`)).status).toBe(204);
    await stream.waitForFrames(2);
    const deletions = [
      ...(await outbox(t.app, { aggregateId: doomedOne.id })),
      ...(await outbox(t.app, { aggregateId: doomedTwo.id })),
    ].filter((r) => r.type === "contact.deleted");
    expect(stream.events().map((f) => f.event)).toEqual(["contact.deleted", "contact.deleted"]);
    expect(stream.ids()).toEqual(deletions.map((r) => r.id));
    await stream.close();
  });

  it("answers an unknown or foreign Last-Event-ID with a reset frame, then goes live", async () => {
    const unknown = await open(p.key, "", {
      "last-event-id": "01939d6e-7a1c-7b7e-9c41-6f0e7b1d2a77",
    });
    // An id of another project is unknown here (and reveals nothing about it).
    const qEvent = (await outbox(t.app, { projectId: q.id })).at(-1)!;
    const foreign = await open(p.key, `?lastEventId=${qEvent.id}`);
    for (const stream of [unknown, foreign]) {
      const [reset] = await stream.waitForFrames(1);
      expect(reset!.event).toBe("reset");
      expect(reset!.id).toBeUndefined();
      expect(JSON.parse(reset!.data)).toEqual({ reason: expect.any(String) });
    }
    const contact = await createContact(p.api, { name: "After Reset" });
    const [row] = await outbox(t.app, { aggregateId: contact.id });
    for (const stream of [unknown, foreign]) {
      await stream.waitForFrames(2);
      expect(stream.ids()).toEqual([row!.id]);
      expect(stream.frames.map((f) => f.event)).toEqual(["reset", "contact.created"]);
      await stream.close();
    }
  });

  it("sends a connected comment and heartbeats", async () => {
    const stream = await open(p.key);
    await waitFor(
      () =>
        stream.comments.includes("connected") &&
        stream.comments.some((c) => c.startsWith("heartbeat ")),
      WAIT_MS,
      { what: "connected and heartbeat comments" },
    );
    expect(stream.frames).toEqual([]);
    await stream.close();
  });

  it("stopping the app ends open streams instead of waiting for them", async () => {
    const other = await createTestApp({ EVENT_STREAM_HEARTBEAT_MS: "1000" });
    let stream: SseClient | undefined;
    try {
      await other.app.server.listen({ host: "127.0.0.1", port: 0 });
      const { port } = other.app.server.server.address() as AddressInfo;
      stream = await SseClient.connect(`http://127.0.0.1:${port}/v1/events/stream`, {
        authorization: `Bearer ${other.adminKey}`,
      });
      streams.push(stream);
      expect(stream.status).toBe(200);
      await waitFor(() => stream!.comments.includes("connected"), WAIT_MS);
      // Bounded: before the fix, close() waited for the client forever (heartbeats).
      let timer: NodeJS.Timeout | undefined;
      const stopped = await Promise.race([
        other.app.stop().then(() => "stopped"),
        new Promise((resolve) => (timer = setTimeout(() => resolve("still waiting"), 10_000))),
      ]);
      clearTimeout(timer);
      expect(stopped).toBe("stopped");
      await waitFor(() => stream!.ended, WAIT_MS, { what: "the client to see the end" });
      expect(stream.readError).toBeUndefined();
    } finally {
      await stream?.close();
      await other.close();
    }
  });

  it("refuses a request without a valid key (401)", async () => {
    for (const key of [undefined, "vtr_not-a-real-key-000000000000000000000000000"]) {
      const stream = await open(key);
      expect(stream.status).toBe(401);
      expect((stream.errorBody as { error: { code: string } }).error.code).toBe("UNAUTHORIZED");
    }
  });
});
