import { sql, type Kysely } from "kysely";
import type { DomainEvent } from "../domain/events/domain-event.ts";
import type { DB } from "../platform/db/schema.ts";
import { EVENT_COLUMNS, toEvent } from "../platform/outbox/outbox-relay.ts";

/**
 * Reads a project's committed events back from the outbox, in commit order, for stream
 * resumption (`Last-Event-ID`). Only events within the outbox retention can be replayed.
 */
export class EventHistory {
  constructor(private readonly db: Kysely<DB>) {}

  /** The position of an event, or undefined when unknown (or pruned) in this project. */
  async positionOf(projectId: string, eventId: string): Promise<string | undefined> {
    const row = await this.db
      .selectFrom("outbox_events")
      .select(sql<string>`seq::text`.as("seq"))
      .where("project_id", "=", projectId)
      .where("id", "=", eventId)
      .executeTakeFirst();
    return row?.seq;
  }

  async after(
    projectId: string,
    seq: string,
    limit: number,
  ): Promise<{ seq: string; event: DomainEvent }[]> {
    const rows = await this.db
      .selectFrom("outbox_events")
      .select(EVENT_COLUMNS)
      .where("project_id", "=", projectId)
      .where("seq", ">", seq)
      // Qualified: a bare "seq" would sort by the text alias above ("10" < "9").
      .orderBy("outbox_events.seq")
      .limit(limit)
      .execute();
    return rows.map((row) => ({ seq: row.seq, event: toEvent(row) }));
  }

  /** Deletes published events older than the retention, and their consumer receipts. */
  async prune(olderThan: Date): Promise<number> {
    const result = await this.db
      .deleteFrom("outbox_events")
      .where("published_at", "is not", null)
      .where("published_at", "<", olderThan)
      .executeTakeFirst();
    await this.db.deleteFrom("consumed_events").where("processed_at", "<", olderThan).execute();
    return Number(result.numDeletedRows);
  }

  /** Age in seconds of the oldest unpublished event (0 when all are out). */
  async oldestUnpublishedAgeSeconds(): Promise<number> {
    const row = await this.db
      .selectFrom("outbox_events")
      .select(sql<Date | null>`min(occurred_at)`.as("oldest"))
      .where("published_at", "is", null)
      .executeTakeFirst();
    const oldest = row?.oldest ? new Date(row.oldest) : undefined;
    return oldest ? Math.max(0, (Date.now() - oldest.getTime()) / 1000) : 0;
  }
}
