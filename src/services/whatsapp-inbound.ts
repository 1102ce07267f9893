import { createHmac, timingSafeEqual } from "node:crypto";
import type { Kysely } from "kysely";
import {
  statusFromAck,
  channelStatusFromSession,
  type IncomingMessage,
  type MessageStatus,
} from "../domain/whatsapp-events.ts";
import {
  parseWahaEvent,
  type WahaEnvelope,
} from "../integrations/messaging/waha/waha-event-parser.ts";
import type { DB } from "../platform/db/schema.ts";
import { AppError, notFound } from "../platform/errors.ts";
import { uuidv7 } from "../platform/ids.ts";
import type { ChannelRow, Channels } from "./channels.ts";
import type { Conversations } from "./conversations.ts";
import type { EntityCache } from "./entity-cache.ts";
import { messageSnapshot } from "./messages.ts";
import { resolveSessionTimeout } from "./session-timeout.ts";
import type { UnitOfWork, UnitOfWorkContext } from "./unit-of-work.ts";
import { adoptEcho, applyAck, applyEarlyAcks, updateMessage } from "./message-updates.ts";
import { resolveWhatsAppContact } from "./whatsapp-contacts.ts";

export type EnqueueInbound = (context: UnitOfWorkContext, inboundEventId: string) => Promise<void>;

const invalid = (message: string) => new AppError("INVALID_EVENT", "validation", message);

/**
 * WAHA webhooks in: verified, stored durably, answered, then processed by a job.
 * Processing is idempotent: the same event id is stored once, the same WhatsApp
 * message id (from `message` and `message.any`, or a sender retry) is recorded once.
 */
export class WhatsAppInbound {
  constructor(
    private readonly deps: {
      db: Kysely<DB>;
      uow: UnitOfWork;
      channels: Channels;
      conversations: Conversations;
      enqueue: EnqueueInbound;
      cache: EntityCache;
    },
  ) {}

  /** Verifies and stores one event; answers only after it is durably stored. */
  async accept(
    inboundId: string,
    raw: Buffer,
    signature: string | undefined,
  ): Promise<{ duplicate: boolean }> {
    const channel = await this.deps.channels.byInboundId(inboundId);
    if (!channel) throw notFound("channel");
    verifySignature(this.deps.channels.inboundSecretOf(channel), raw, signature);
    let envelope: WahaEnvelope;
    try {
      envelope = JSON.parse(raw.toString("utf8")) as WahaEnvelope;
    } catch {
      throw new AppError("MALFORMED_JSON", "validation", "The body is not valid JSON");
    }
    if (!envelope || typeof envelope !== "object") throw invalid("The event must be a JSON object");
    if (typeof envelope.event !== "string" || !envelope.event) throw invalid("`event` is required");
    if (!envelope.payload || typeof envelope.payload !== "object")
      throw invalid("`payload` must be an object");
    const externalId =
      typeof envelope.id === "string" && envelope.id
        ? envelope.id
        : `${envelope.event}:${String((envelope.payload as { id?: unknown }).id ?? "")}:${String(envelope.timestamp)}`;
    return this.deps.uow.run(async (context) => {
      const { trx } = context;
      const id = uuidv7();
      const inserted = await trx
        .insertInto("inbound_events")
        .values({
          id,
          project_id: channel.project_id,
          channel_id: channel.id,
          external_id: externalId,
          event_type: envelope.event,
          payload: JSON.stringify(envelope),
        })
        .onConflict((oc) => oc.columns(["channel_id", "external_id"]).doNothing())
        .returning("id")
        .executeTakeFirst();
      if (!inserted) return { duplicate: true };
      await this.deps.enqueue(context, id);
      return { duplicate: false };
    });
  }

  /** The durable job: applies one stored event. */
  async process(inboundEventId: string): Promise<string> {
    return this.deps.uow.run(async (context) => {
      const { trx } = context;
      const stored = await trx
        .selectFrom("inbound_events")
        .selectAll()
        .where("id", "=", inboundEventId)
        .forUpdate()
        .executeTakeFirst();
      if (!stored || stored.status !== "pending") return "already processed";
      const channel = await trx
        .selectFrom("channels")
        .selectAll()
        .where("id", "=", stored.channel_id)
        .executeTakeFirst();
      // A deactivated channel (explicitly, so status_changed_at is set) takes no events, even
      // if WAHA still posts them; a channel never activated still records what arrives.
      const result =
        !channel || channel.deleted_at
          ? "ignored: channel deleted"
          : channel.status === "inactive" && channel.status_changed_at !== null
            ? "ignored: channel deactivated"
            : await this.apply(context, channel, stored.payload as WahaEnvelope);
      await trx
        .updateTable("inbound_events")
        .set({
          status: result.startsWith("ignored") ? "ignored" : "processed",
          result,
          processed_at: new Date(),
        })
        .where("id", "=", inboundEventId)
        .execute();
      return result;
    });
  }

  private async apply(
    context: UnitOfWorkContext,
    channel: ChannelRow,
    envelope: WahaEnvelope,
  ): Promise<string> {
    const event = parseWahaEvent(envelope);
    switch (event.kind) {
      case "message":
        return this.recordMessage(context, channel, event.message);
      case "ack":
        return applyAck(context, channel, event.externalId, event.ack, event.timestamp);
      case "reaction":
        return updateMessage(context, channel, event.targetExternalId, "reaction", (row) => {
          const current = (Array.isArray(row.reactions) ? row.reactions : []) as { by?: string }[];
          const others = current.filter((r) => r.by !== event.by);
          const reactions = event.emoji
            ? [...others, { emoji: event.emoji, by: event.by, at: event.timestamp.toISOString() }]
            : others;
          return { reactions: JSON.stringify(reactions) };
        });
      case "edited":
        return updateMessage(context, channel, event.targetExternalId, "edited", () => ({
          text: event.text,
          edited_at: event.timestamp,
        }));
      case "revoked":
        return updateMessage(context, channel, event.targetExternalId, "revoked", () => ({
          revoked_at: event.timestamp,
        }));
      case "session_status": {
        const status = channelStatusFromSession(event.status);
        const row = await this.deps.channels.setStatus(channel, status, context, event.timestamp);
        return row.status_changed_at?.getTime() === event.timestamp.getTime()
          ? `channel ${status}`
          : `ignored: stale session status ${event.status}`;
      }
      case "ignored":
        return `ignored: ${event.reason}`;
    }
  }

  private async recordMessage(
    context: UnitOfWorkContext,
    channel: ChannelRow,
    message: IncomingMessage,
  ): Promise<string> {
    const { trx, emit } = context;
    if (message.group && !channel.allow_groups)
      return "ignored: group messages are not enabled on this channel";
    if (!message.counterpart.wid && !message.counterpart.lid && !message.counterpart.phone) {
      return "ignored: message without a counterpart";
    }
    const duplicate = await trx
      .selectFrom("messages")
      .select("id")
      .where("channel_id", "=", channel.id)
      .where("external_id", "=", message.externalId)
      .executeTakeFirst();
    if (duplicate) return "ignored: duplicate message";

    const { contactId } = await resolveWhatsAppContact(
      context,
      channel.project_id,
      message.counterpart,
      message.timestamp,
      this.deps.cache,
    );
    // Our own API send, echoed before its answer was saved: its session activity is counted.
    if (message.fromMe && (await adoptEcho(context, channel, contactId, message))) {
      return "outbound send confirmed by its echo";
    }
    const timeoutMinutes = await resolveSessionTimeout(trx, channel);
    const direction = message.fromMe ? "outbound" : "inbound";
    const sessionId = await this.deps.conversations.recordActivity(context, {
      projectId: channel.project_id,
      contactId,
      channelId: channel.id,
      at: message.timestamp,
      direction,
      timeoutMinutes,
    });
    const replyTo = message.replyToExternalId
      ? await trx
          .selectFrom("messages")
          .select("id")
          .where("channel_id", "=", channel.id)
          .where("external_id", "=", message.replyToExternalId)
          .executeTakeFirst()
      : undefined;
    const status: MessageStatus = message.fromMe
      ? (statusFromAck(message.ack ?? 1) ?? "sent")
      : "delivered";
    const row = await trx
      .insertInto("messages")
      .values({
        id: uuidv7(),
        project_id: channel.project_id,
        channel_id: channel.id,
        contact_id: contactId,
        session_id: sessionId,
        direction,
        type: message.type,
        text: message.text,
        media: message.media ? JSON.stringify(message.media) : null,
        location: message.location ? JSON.stringify(message.location) : null,
        vcard: message.vcard,
        reply_to_id: replyTo?.id ?? null,
        reply_to_external_id: message.replyToExternalId,
        group_info: message.group ? JSON.stringify(message.group) : null,
        status: status === "failed" ? "sent" : status,
        external_id: message.externalId,
        sent_at: message.timestamp,
        delivered_at: direction === "inbound" ? message.timestamp : null,
        attribution: message.attribution ? JSON.stringify(message.attribution) : null,
        updated_at: new Date(),
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    emit(direction === "inbound" ? "message.received" : "message.sent", {
      projectId: channel.project_id,
      aggregateId: row.id,
      data: { message: messageSnapshot(row), contactId },
    });
    await applyEarlyAcks(context, channel, message.externalId);
    return `${direction} ${message.type} recorded`;
  }
}

/** HMAC-SHA512 of the raw body, hex, compared in constant time. */
export function verifySignature(secret: string, raw: Buffer, signature: string | undefined): void {
  if (!signature)
    throw new AppError("SIGNATURE_MISSING", "unauthorized", "X-Webhook-Hmac is required");
  const expected = createHmac("sha512", secret).update(raw).digest();
  const given = /^[0-9a-f]+$/i.test(signature.trim())
    ? Buffer.from(signature.trim(), "hex")
    : Buffer.alloc(0);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new AppError("SIGNATURE_INVALID", "unauthorized", "The webhook signature does not match");
  }
}
