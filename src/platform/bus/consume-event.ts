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
  const outcome = await withTransaction(db, async (trx) => {
    const fresh = await trx
      .insertInto("consumed_events")
      .values({ consumer: consumer.name, event_id: event.id })
      .onConflict((oc) => oc.columns(["consumer", "event_id"]).doNothing())
      .returning("event_id")
      .executeTakeFirst();
    if (!fresh) return "duplicate" as const;
    await consumer.handle(event, trx);
    return "applied" as const;
  });
  if (outcome === "applied") consumer.afterCommit?.(event);
  return outcome;
}
