import type { Kysely } from "kysely";
import type { DB } from "../platform/db/schema.ts";
import type { MessageRow } from "./messages.ts";

/** Outcome of one send attempt, for the job to act on. */
export type SendOutcome =
  { kind: "sent" } | { kind: "already_done" } | { kind: "deferred"; until: Date; reason: string };

export interface Pacing {
  /** Minimum gap between two sends on one WAHA session. */
  minGapMs: number;
  /** Messages per contact per rolling hour. */
  perContactPerHour: number;
}

/**
 * Whether a send must wait: the channel's minimum gap since its last send, then the
 * contact's rolling hourly budget. Answers when to try again, never drops a message.
 */
export async function pacingDelay(
  db: Kysely<DB>,
  pacing: Pacing,
  row: MessageRow,
  now: Date,
): Promise<SendOutcome | undefined> {
  const channel = await db
    .selectFrom("channels")
    .select("last_send_at")
    .where("id", "=", row.channel_id)
    .executeTakeFirst();
  const gapUntil = channel?.last_send_at ? channel.last_send_at.getTime() + pacing.minGapMs : 0;
  if (gapUntil > now.getTime())
    return { kind: "deferred", until: new Date(gapUntil), reason: "session pacing" };
  const hourAgo = new Date(now.getTime() - 3_600_000);
  const recent = await db
    .selectFrom("messages")
    .select("sent_at")
    .where("contact_id", "=", row.contact_id)
    .where("direction", "=", "outbound")
    .where("sent_at", ">", hourAgo)
    .orderBy("sent_at")
    .execute();
  if (recent.length >= pacing.perContactPerHour) {
    const oldest = recent[recent.length - pacing.perContactPerHour]?.sent_at ?? now;
    return {
      kind: "deferred",
      until: new Date(oldest.getTime() + 3_600_000),
      reason: "contact hourly budget",
    };
  }
  return undefined;
}
