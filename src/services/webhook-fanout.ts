import type { Transaction } from "kysely";
import type { DomainEvent } from "../domain/events/domain-event.ts";
import { endpointWants } from "../domain/webhook-event-filter.ts";
import type { EventConsumer } from "../platform/bus/event-bus.ts";
import type { DB } from "../platform/db/schema.ts";
import { uuidv7 } from "../platform/ids.ts";

/** The body every attempt sends, fixed once (Standard Webhooks: type, timestamp, data). */
export const webhookPayload = (event: DomainEvent): string =>
  JSON.stringify({ type: event.type, timestamp: event.occurredAt, data: event.data });

/**
 * The event consumer that turns each domain event into one webhook message per enabled
 * endpoint of its project whose filters want it. It runs in the consumer's transaction
 * (with the processed-event record), and (endpoint, event) is unique, so a redelivered
 * event never queues a second message. `wake` runs after the commit.
 */
export function webhookFanout(deps: { now: () => number; wake: () => void }): EventConsumer {
  const fanOut = async (events: DomainEvent[], trx: Transaction<DB>) => {
    const projects = [...new Set(events.map((e) => e.projectId))];
    const endpoints = await trx
      .selectFrom("webhook_endpoints")
      .select(["id", "project_id", "event_types"])
      .where("project_id", "in", projects)
      .where("status", "=", "enabled")
      .execute();
    if (endpoints.length === 0) return;
    const now = new Date(deps.now());
    const rows = events.flatMap((event) => {
      const payload = webhookPayload(event);
      return endpoints
        .filter((e) => e.project_id === event.projectId && endpointWants(e.event_types, event.type))
        .map((endpoint) => ({
          id: uuidv7(),
          project_id: event.projectId,
          endpoint_id: endpoint.id,
          event_id: event.id,
          event_type: event.type,
          payload,
          status: "pending" as const,
          next_attempt_at: now,
          created_at: now,
          updated_at: now,
        }));
    });
    if (rows.length === 0) return;
    await trx
      .insertInto("webhook_messages")
      .values(rows)
      .onConflict((oc) => oc.columns(["endpoint_id", "event_id"]).doNothing())
      .execute();
  };
  return {
    name: "webhooks",
    eventTypes: ["*"],
    maxAttempts: 10,
    // Every event passes through here: more parallel handlers keep fan-out off the path.
    concurrency: 8,
    handle: (event, trx) => fanOut([event], trx),
    handleBatch: fanOut,
    afterCommit: () => deps.wake(),
  };
}
