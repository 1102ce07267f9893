import type { Kysely } from "kysely";
import type { DomainEvent } from "../../domain/events/domain-event.ts";
import type { DB } from "../db/schema.ts";
import { withTransaction } from "../db/transaction.ts";
import type { EventConsumer } from "./event-bus.ts";

/**
 * Applies an event to a consumer at most once: the processed-id record and the
 * consumer's own writes commit together, so a crash between them cannot double-apply.
 */
export async function consumeEvent(
  db: Kysely<DB>,
  consumer: EventConsumer,
  event: DomainEvent,
): Promise<"applied" | "duplicate"> {
  const { applied } = await consumeEvents(db, consumer, [event]);
  return applied === 1 ? "applied" : "duplicate";
}

/**
 * A batch of events in one transaction: one processed-id insert for all, then the
 * consumer's `handleBatch` (or `handle` for each) on the fresh ones. All or nothing: if
 * anything throws, nothing is recorded and the caller falls back to one event at a time.
 */
export async function consumeEvents(
  db: Kysely<DB>,
  consumer: EventConsumer,
  events: DomainEvent[],
): Promise<{ applied: number; duplicate: number }> {
  const unique = [...new Map(events.map((e) => [e.id, e])).values()];
  const applied = await withTransaction(db, async (trx) => {
    const fresh = await trx
      .insertInto("consumed_events")
      .values(unique.map((e) => ({ consumer: consumer.name, event_id: e.id })))
      .onConflict((oc) => oc.columns(["consumer", "event_id"]).doNothing())
      .returning("event_id")
      .execute();
    const ids = new Set(fresh.map((row) => row.event_id));
    const todo = unique.filter((e) => ids.has(e.id));
    if (todo.length === 0) return todo;
    if (consumer.handleBatch) await consumer.handleBatch(todo, trx);
    else for (const event of todo) await consumer.handle(event, trx);
    return todo;
  });
  for (const event of applied) consumer.afterCommit?.(event);
  return { applied: applied.length, duplicate: events.length - applied.length };
}
