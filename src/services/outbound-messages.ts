import type { Kysely, Transaction } from "kysely";
import type { MessageType } from "../domain/whatsapp-events.ts";
import type { DB } from "../platform/db/schema.ts";
import { AppError, notFound } from "../platform/errors.ts";
import { uuidv7 } from "../platform/ids.ts";
import type { Channels } from "./channels.ts";
import type { Conversations } from "./conversations.ts";
import { messageSnapshot, toMessage, type Message, type MessageRow } from "./messages.ts";
import { pacingDelay, type Pacing, type SendOutcome } from "./send-pacing.ts";
import { resolveSessionTimeout } from "./session-timeout.ts";
import { validateContent } from "./validate-outgoing-message.ts";
import type { UnitOfWork, UnitOfWorkContext } from "./unit-of-work.ts";
import type { OutboundUrlGuard, OutgoingMessage, WhatsAppGateway } from "./whatsapp-gateway.ts";

export interface SendInput {
  contactId: string;
  channelId: string;
  type: Exclude<MessageType, "sticker" | "unknown">;
  text?: string;
  media?: { url: string; mimetype?: string; filename?: string };
  location?: { latitude: number; longitude: number; name?: string; address?: string };
  vcard?: string;
  replyToId?: string;
}

export type EnqueueSend = (
  trx: Transaction<DB>,
  messageId: string,
  startAfter?: Date,
) => Promise<void>;

/**
 * Outbound WhatsApp messages: accepted as `queued` together with a durable send job,
 * then sent through the gateway. A send whose outcome is unknown (timed out after the
 * request was written) is reconciled against the chat before any resend, so a message
 * never goes out twice.
 */
export class OutboundMessages {
  constructor(
    private readonly deps: {
      db: Kysely<DB>;
      uow: UnitOfWork;
      channels: Channels;
      conversations: Conversations;
      gateway: WhatsAppGateway;
      /** Media URLs are fetched by WAHA on our behalf: they must pass the same SSRF rules. */
      mediaGuard: OutboundUrlGuard;
      enqueue: EnqueueSend;
      pacing: Pacing;
    },
  ) {}

  async queue(projectId: string, input: SendInput): Promise<Message> {
    validateContent(input);
    if (input.media?.url) await this.deps.mediaGuard.assertAllowed(input.media.url);
    const { db } = this.deps;
    const contact = await db
      .selectFrom("contacts")
      .select(["id", "phone", "whatsapp_wid", "whatsapp_lid"])
      .where("project_id", "=", projectId)
      .where("id", "=", input.contactId)
      .where("deleted_at", "is", null)
      .executeTakeFirst();
    if (!contact) throw notFound("contact");
    if (!contact.whatsapp_wid && !contact.phone && !contact.whatsapp_lid) {
      throw new AppError(
        "CONTACT_NOT_REACHABLE",
        "unprocessable",
        "The contact has no phone number or WhatsApp id",
      );
    }
    const channel = await this.deps.channels.row(projectId, input.channelId);
    const replyTo = input.replyToId
      ? await db
          .selectFrom("messages")
          .select(["id", "external_id"])
          .where("project_id", "=", projectId)
          .where("id", "=", input.replyToId)
          .executeTakeFirst()
      : undefined;
    if (input.replyToId && !replyTo) throw notFound("message", "REPLY_TO_NOT_FOUND");
    return this.deps.uow.run(async (context) => {
      const now = new Date();
      const timeoutMinutes = await resolveSessionTimeout(context.trx, channel);
      const sessionId = await this.deps.conversations.recordActivity(context, {
        projectId,
        contactId: contact.id,
        channelId: channel.id,
        at: now,
        direction: "outbound",
        timeoutMinutes,
      });
      const row = await context.trx
        .insertInto("messages")
        .values({
          id: uuidv7(),
          project_id: projectId,
          channel_id: channel.id,
          contact_id: contact.id,
          session_id: sessionId,
          direction: "outbound",
          type: input.type,
          text: input.text ?? null,
          media: input.media
            ? JSON.stringify({
                url: input.media.url,
                mimetype: input.media.mimetype ?? null,
                filename: input.media.filename ?? null,
              })
            : null,
          location: input.location
            ? JSON.stringify({ name: null, address: null, ...input.location })
            : null,
          vcard: input.vcard ?? null,
          reply_to_id: replyTo?.id ?? null,
          reply_to_external_id: replyTo?.external_id ?? null,
          status: "queued",
          updated_at: now,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      await this.deps.enqueue(context.trx, row.id);
      return toMessage(row);
    });
  }

  /**
   * One send attempt (the job's handler). Pacing and the breaker defer it; errors from
   * the gateway propagate for the job's retry policy, except indeterminate ones which
   * leave `send_attempted_at` set so the next attempt reconciles first.
   */
  async attempt(messageId: string, now = new Date()): Promise<SendOutcome> {
    const { db, gateway } = this.deps;
    const row = await db
      .selectFrom("messages")
      .selectAll()
      .where("id", "=", messageId)
      .executeTakeFirst();
    if (!row || row.status !== "queued") return { kind: "already_done" };
    const channel = await db
      .selectFrom("channels")
      .selectAll()
      .where("id", "=", row.channel_id)
      .executeTakeFirstOrThrow();
    const target = this.deps.channels.targetOf(channel);
    const chatId = await this.chatIdOf(row);

    if (row.send_attempted_at) {
      // The previous attempt may have reached WhatsApp: look before sending again, never
      // taking a message of this chat we already know (an earlier send) for this one.
      const after = new Date(row.send_attempted_at.getTime() - 60_000);
      const known = await db
        .selectFrom("messages")
        .select("external_id")
        .where("channel_id", "=", row.channel_id)
        .where("contact_id", "=", row.contact_id)
        .where("direction", "=", "outbound")
        .where("external_id", "is not", null)
        .where("sent_at", ">=", after)
        .execute();
      const found = await gateway.findSentMessage(target, chatId, {
        text: row.text,
        after,
        exclude: new Set(known.map((k) => k.external_id!)),
      });
      if (found) {
        await this.markSent(row, found.externalId, found.timestamp);
        return { kind: "sent" };
      }
    }
    const wait = await pacingDelay(this.deps.db, this.deps.pacing, row, now);
    if (wait) return wait;

    // Claim the session's send slot atomically, right before the send (the attempt's
    // `now` may be long past on a busy worker): concurrent jobs must not both pass the gap.
    const { minGapMs } = this.deps.pacing;
    const sendAt = new Date(Math.max(now.getTime(), Date.now()));
    // last_send_at is part of the cached channel row: written with its entries held.
    const claimed = await this.deps.channels.writing(channel, () =>
      db
        .updateTable("channels")
        .set({ last_send_at: sendAt })
        .where("id", "=", channel.id)
        .$if(minGapMs > 0, (q) =>
          q.where((eb) =>
            eb.or([
              eb("last_send_at", "is", null),
              eb("last_send_at", "<=", new Date(sendAt.getTime() - minGapMs)),
            ]),
          ),
        )
        .executeTakeFirst(),
    );
    if (claimed.numUpdatedRows === 0n) {
      return {
        kind: "deferred",
        until: new Date(sendAt.getTime() + minGapMs),
        reason: "session pacing",
      };
    }
    // From here the send may reach WhatsApp: a later attempt must reconcile first.
    await db
      .updateTable("messages")
      .set({ send_attempted_at: sendAt })
      .where("id", "=", row.id)
      .execute();
    const outgoing: OutgoingMessage = {
      chatId,
      type: row.type as MessageType,
      text: row.text,
      media: row.media as OutgoingMessage["media"],
      location: row.location as OutgoingMessage["location"],
      vcard: row.vcard,
      replyToExternalId: row.reply_to_external_id,
    };
    try {
      const sent = await gateway.send(target, outgoing);
      await this.markSent(row, sent.externalId, sent.timestamp);
      return { kind: "sent" };
    } catch (error) {
      // Only an answered refusal proves nothing went out: clear the marker so the
      // next attempt does not need to reconcile.
      const classification = (error as { classification?: string }).classification;
      if (classification === "retryable" || classification === "permanent") {
        await db
          .updateTable("messages")
          .set({ send_attempted_at: null })
          .where("id", "=", row.id)
          .execute();
      }
      throw error;
    }
  }

  /** Final failure of the send job: the message is `failed` with a reason, visibly. */
  async fail(messageId: string, reason: string): Promise<void> {
    await this.deps.uow.run(async ({ trx, emit }: UnitOfWorkContext) => {
      const row = await trx
        .updateTable("messages")
        .set({ status: "failed", failure_reason: reason, updated_at: new Date() })
        .where("id", "=", messageId)
        .where("status", "=", "queued")
        .returningAll()
        .executeTakeFirst();
      if (!row) return;
      emit("message.status_changed", {
        projectId: row.project_id,
        aggregateId: row.id,
        data: {
          messageId: row.id,
          contactId: row.contact_id,
          from: "queued",
          to: "failed",
          failureReason: reason,
        },
      });
    });
  }

  private async markSent(row: MessageRow, externalId: string, at: Date) {
    await this.deps.uow.run(async ({ trx, emit }) => {
      const updated = await trx
        .updateTable("messages")
        .set({ status: "sent", external_id: externalId, sent_at: at, updated_at: new Date() })
        .where("id", "=", row.id)
        .where("status", "=", "queued")
        .returningAll()
        .executeTakeFirst();
      if (!updated) return;
      emit("message.sent", {
        projectId: row.project_id,
        aggregateId: row.id,
        data: { message: messageSnapshot(updated), contactId: row.contact_id },
      });
      // Acks can beat the send's answer: apply any that are waiting.
      const early = await trx
        .deleteFrom("pending_acks")
        .where("channel_id", "=", row.channel_id)
        .where("external_id", "=", externalId)
        .returning(["ack", "acked_at"])
        .execute();
      const best = early.sort((a, b) => b.ack - a.ack)[0];
      if (best && best.ack >= 2) {
        const status = best.ack >= 4 ? "played" : best.ack === 3 ? "read" : "delivered";
        await trx
          .updateTable("messages")
          .set({
            status,
            delivered_at: best.acked_at,
            ...(best.ack >= 3 ? { read_at: best.acked_at } : {}),
            ...(best.ack >= 4 ? { played_at: best.acked_at } : {}),
          })
          .where("id", "=", row.id)
          .execute();
      }
    });
  }

  private async chatIdOf(row: MessageRow): Promise<string> {
    const contact = await this.deps.db
      .selectFrom("contacts")
      .select(["phone", "whatsapp_wid", "whatsapp_lid"])
      .where("id", "=", row.contact_id)
      .executeTakeFirstOrThrow();
    const chatId =
      contact.whatsapp_wid ?? (contact.phone ? `${contact.phone}@c.us` : contact.whatsapp_lid);
    if (!chatId)
      throw new AppError(
        "CONTACT_NOT_REACHABLE",
        "unprocessable",
        "The contact has no WhatsApp id",
      );
    return chatId;
  }
}
