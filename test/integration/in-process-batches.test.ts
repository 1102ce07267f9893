import { afterAll, beforeAll, expect, it } from "vitest";
import type { DomainEvent } from "../../src/domain/events/domain-event.ts";
import type { EventConsumer } from "../../src/platform/bus/event-bus.ts";
import { uuidv7 } from "../../src/platform/ids.ts";
import { createTestApp, type TestApp } from "../support/test-app.ts";
import { waitFor } from "../support/wait-for.ts";

/**
 * The in-process bus delivers the relay's batches as one job per consumer. A batch with a
 * poison event must not take its neighbours down: the batch is split, the good events
 * are applied once each, and only the poison one is retried and dead-lettered.
 */

const applied = new Map<string, number>();
const batches: number[] = [];
const picky: EventConsumer = {
  name: "picky",
  eventTypes: ["test.*"],
  maxAttempts: 2,
  async handle(event) {
    if ((event.data as { poison?: boolean }).poison) throw new Error("poison");
  },
  // Counted once committed: a batch that rolls back applied nothing.
  afterCommit(event) {
    applied.set(event.id, (applied.get(event.id) ?? 0) + 1);
  },
  async handleBatch(events, trx) {
    batches.push(events.length);
    for (const event of events) await this.handle(event, trx);
  },
};

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({}, { compose: { consumers: [picky] } });
});
afterAll(async () => t?.close());

const event = (data: Record<string, unknown>): DomainEvent => ({
  id: uuidv7(),
  type: "test.batched",
  version: 1,
  occurredAt: new Date().toISOString(),
  projectId: uuidv7(),
  aggregate: { type: "test", id: uuidv7() },
  data,
});

const metric = async (outcome: string) => {
  const values = (await t.app.deps.metrics.eventConsumerTotal.get()).values;
  return (
    values.find((v) => v.labels.consumer === "picky" && v.labels.outcome === outcome)?.value ?? 0
  );
};

it("applies a clean batch in one transaction", async () => {
  const events = [event({ n: 1 }), event({ n: 2 }), event({ n: 3 })];
  expect(await t.app.deps.bus.publish(events)).toEqual([true, true, true]);
  await waitFor(() => events.every((e) => applied.get(e.id) === 1), 10_000);
  expect(batches).toContain(3);
  expect(await metric("applied")).toBeGreaterThanOrEqual(3);
});

it("splits a batch with a poison event: neighbours applied once, the poison dead-lettered", async () => {
  const events = [event({ n: 4 }), event({ poison: true }), event({ n: 6 })];
  await t.app.deps.bus.publish(events);
  await waitFor(
    () => applied.get(events[0]!.id) === 1 && applied.get(events[2]!.id) === 1,
    10_000,
    { what: "the poison's neighbours applied" },
  );
  await waitFor(async () => (await metric("dead_lettered")) === 1, 15_000, {
    what: "the poison event dead-lettered",
  });
  expect(await metric("split")).toBe(1);
  const parked = await t.app.deps.jobs.fetchDeadLetters("event-consumer-picky");
  expect(parked.map((job) => (job.data as { event: DomainEvent }).event.id)).toEqual([
    events[1]!.id,
  ]);
  // Replaying the batch changes nothing: every applied event is recorded as processed.
  await t.app.deps.bus.publish([events[0]!, events[2]!]);
  await waitFor(async () => (await metric("duplicate")) >= 2, 10_000, { what: "duplicates" });
  expect(applied.get(events[0]!.id)).toBe(1);
  expect(applied.get(events[2]!.id)).toBe(1);
});
