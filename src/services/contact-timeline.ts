import type { Kysely, Transaction } from "kysely";
import type { DomainEvent } from "../domain/events/domain-event.ts";
import type { EventConsumer } from "../platform/bus/event-bus.ts";
import type { DB } from "../platform/db/schema.ts";
import { notFound } from "../platform/errors.ts";
import { decodeCursor, toPage, type Page } from "./pagination.ts";

export interface TimelineItem {
  id: string;
  type: string;
  summary: string;
  occurredAt: string;
  data: unknown;
}

/** One human line per event type; unknown types fall back to the type name. */
function summarize(event: DomainEvent): string {
  const data = event.data as { changes?: string[] };
  switch (event.type) {
    case "contact.created":
      return "Contact created";
    case "contact.updated":
      return `Contact updated: ${(data.changes ?? []).join(", ")}`;
    case "contact.deleted":
      return "Contact deleted";
    default:
      return event.type;
  }
}

/** The contact an event belongs to: its aggregate, or a `contactId` in its data. */
function contactOf(event: DomainEvent): string | undefined {
  if (event.aggregate.type === "contact") return event.aggregate.id;
  const contactId = (event.data as { contactId?: unknown } | null)?.contactId;
  return typeof contactId === "string" ? contactId : undefined;
}

/**
 * The contact timeline: built by an event consumer (so it is eventually consistent and
 * rebuilt from events alone), read newest first. Item ids are the event ids (UUIDv7),
 * so id order is the order things happened.
 */
export class ContactTimeline {
  constructor(private readonly db: Kysely<DB>) {}

  readonly consumer: EventConsumer = {
    name: "contact-timeline",
    eventTypes: ["contact.*"],
    handle: async (event: DomainEvent, trx: Transaction<DB>) => {
      const contactId = contactOf(event);
      if (!contactId) return;
      await trx
        .insertInto("contact_timeline")
        .values({
          id: event.id,
          project_id: event.projectId,
          contact_id: contactId,
          event_id: event.id,
          type: event.type,
          summary: summarize(event),
          data: JSON.stringify(event.data),
          occurred_at: event.occurredAt,
        })
        .onConflict((oc) => oc.column("event_id").doNothing())
        .execute();
    },
  };

  async list(
    projectId: string,
    contactId: string,
    limit: number,
    cursor?: string,
  ): Promise<Page<TimelineItem>> {
    const contact = await this.db
      .selectFrom("contacts")
      .select("id")
      .where("project_id", "=", projectId)
      .where("id", "=", contactId)
      .where("deleted_at", "is", null)
      .executeTakeFirst();
    if (!contact) throw notFound("contact");
    let query = this.db
      .selectFrom("contact_timeline")
      .selectAll()
      .where("project_id", "=", projectId)
      .where("contact_id", "=", contactId);
    if (cursor) query = query.where("id", "<", decodeCursor(cursor));
    const rows = await query
      .orderBy("id", "desc")
      .limit(limit + 1)
      .execute();
    return toPage(rows, limit, (row) => ({
      id: row.id,
      type: row.type,
      summary: row.summary,
      occurredAt: row.occurred_at.toISOString(),
      data: row.data,
    }));
  }
}
