import { sql } from "kysely";
import {
  isForward,
  statusFromAck,
  type IncomingMessage,
  type MessageStatus,
} from "../domain/whatsapp-events.ts";
import type { ChannelRow } from "./channels.ts";
import { messageSnapshot, type MessageRow } from "./messages.ts";
import type { UnitOfWorkContext } from "./unit-of-work.ts";

/**
 * Changes to stored WhatsApp messages that arrive as gateway events: delivery acks
 * (forward only, kept when they overtake their message), reactions, edits, revokes,
 * and the echo of our own send. Each runs inside the caller's unit of work.
 */
/** Acks that overtook their message are applied once it exists, in order. */
export async function applyEarlyAcks(
  context: UnitOfWorkContext,
  channel: ChannelRow,
  externalId: string,
) {
  const early = await context.trx
    .deleteFrom("pending_acks")
    .where("channel_id", "=", channel.id)
    .where("external_id", "=", externalId)
    .returningAll()
    .execute();
  for (const ack of early.sort((a, b) => a.ack - b.ack)) {
    await applyAck(context, channel, externalId, ack.ack, ack.acked_at);
  }
}

/**
 * WAHA echoes the messages we send through its API (`message.any`, fromMe). When the
 * echo is processed before the send's answer is saved, it names a message we already
 * hold as `queued`: confirm that one instead of storing a copy (which would also make
 * the send job's reconciliation miss it and send again).
 */
export async function adoptEcho(
  context: UnitOfWorkContext,
  channel: ChannelRow,
  contactId: string,
  message: IncomingMessage,
): Promise<boolean> {
  const { trx, emit } = context;
  let query = trx
    .selectFrom("messages")
    .selectAll()
    .where("channel_id", "=", channel.id)
    .where("contact_id", "=", contactId)
    .where("direction", "=", "outbound")
    .where("status", "=", "queued")
    .where("send_attempted_at", "is not", null)
    .where("type", "=", message.type);
  query =
    message.text === null
      ? query.where("text", "is", null)
      : query.where("text", "=", message.text);
  const pending = await query.orderBy("send_attempted_at").limit(1).forUpdate().executeTakeFirst();
  if (!pending) return false;
  const sent = await trx
    .updateTable("messages")
    .set({
      status: "sent",
      external_id: message.externalId,
      sent_at: message.timestamp,
      updated_at: new Date(),
    })
    .where("id", "=", pending.id)
    .returningAll()
    .executeTakeFirstOrThrow();
  emit("message.sent", {
    projectId: channel.project_id,
    aggregateId: sent.id,
    data: { message: messageSnapshot(sent), contactId },
  });
  await applyEarlyAcks(context, channel, message.externalId);
  return true;
}

export async function applyAck(
  context: UnitOfWorkContext,
  channel: ChannelRow,
  externalId: string,
  ack: number,
  at: Date,
) {
  const next = statusFromAck(ack);
  if (!next) return `ignored: ack ${ack}`;
  const { trx, emit } = context;
  const row = await trx
    .selectFrom("messages")
    .selectAll()
    .where("channel_id", "=", channel.id)
    .where("external_id", "=", externalId)
    .forUpdate()
    .executeTakeFirst();
  if (!row) {
    await trx
      .insertInto("pending_acks")
      .values({ channel_id: channel.id, external_id: externalId, ack, acked_at: at })
      .onConflict((oc) => oc.columns(["channel_id", "external_id", "ack"]).doNothing())
      .execute();
    return "ack kept until its message arrives";
  }
  const current = row.status as MessageStatus;
  if (!isForward(current, next)) return `ignored: ${current} does not move back to ${next}`;
  await trx
    .updateTable("messages")
    .set({
      status: next,
      updated_at: new Date(),
      ...(next === "failed" ? { failure_reason: "WhatsApp reported an error (ack -1)" } : {}),
      ...(next === "sent" ? { sent_at: sql`coalesce(sent_at, ${at})` } : {}),
      ...(["delivered", "read", "played"].includes(next)
        ? { delivered_at: sql`coalesce(delivered_at, ${at})` }
        : {}),
      ...(["read", "played"].includes(next) ? { read_at: sql`coalesce(read_at, ${at})` } : {}),
      ...(next === "played" ? { played_at: at } : {}),
    } as never)
    .where("id", "=", row.id)
    .execute();
  emit("message.status_changed", {
    projectId: row.project_id,
    aggregateId: row.id,
    data: {
      messageId: row.id,
      contactId: row.contact_id,
      from: current,
      to: next,
      failureReason: next === "failed" ? "WhatsApp reported an error (ack -1)" : null,
    },
  });
  return `status ${current} -> ${next}`;
}

export async function updateMessage(
  { trx, emit }: UnitOfWorkContext,
  channel: ChannelRow,
  externalId: string,
  change: "reaction" | "edited" | "revoked",
  patch: (row: MessageRow) => Record<string, unknown>,
): Promise<string> {
  const row = await trx
    .selectFrom("messages")
    .selectAll()
    .where("channel_id", "=", channel.id)
    .where("external_id", "=", externalId)
    .forUpdate()
    .executeTakeFirst();
  if (!row) return `ignored: ${change} for an unknown message`;
  await trx
    .updateTable("messages")
    .set({ ...patch(row), updated_at: new Date() } as never)
    .where("id", "=", row.id)
    .execute();
  emit("message.updated", {
    projectId: row.project_id,
    aggregateId: row.id,
    data: { messageId: row.id, contactId: row.contact_id, change },
  });
  return `message ${change}`;
}
