import type { Kysely, Selectable } from "kysely";
import type { DB, MessagesTable } from "../platform/db/schema.ts";
import { notFound } from "../platform/errors.ts";
import { decodeCursor, toPage, type Page } from "./pagination.ts";

export interface Message {
  id: string;
  channelId: string;
  contactId: string;
  sessionId: string | null;
  direction: "inbound" | "outbound";
  type: string;
  text: string | null;
  media: unknown;
  location: unknown;
  vcard: string | null;
  replyToId: string | null;
  group: unknown;
  status: string;
  externalId: string | null;
  sentAt: string | null;
  deliveredAt: string | null;
  readAt: string | null;
  playedAt: string | null;
  failureReason: string | null;
  attribution: unknown;
  reactions: unknown;
  editedAt: string | null;
  revokedAt: string | null;
  enrichments: unknown[];
  createdAt: string;
  updatedAt: string;
}

export type MessageRow = Selectable<MessagesTable>;

const iso = (d: Date | null) => d?.toISOString() ?? null;

export function toMessage(row: MessageRow): Message {
  return {
    id: row.id,
    channelId: row.channel_id,
    contactId: row.contact_id,
    sessionId: row.session_id,
    direction: row.direction,
    type: row.type,
    text: row.text,
    media: row.media,
    location: row.location,
    vcard: row.vcard,
    replyToId: row.reply_to_id,
    group: row.group_info,
    status: row.status,
    externalId: row.external_id,
    sentAt: iso(row.sent_at),
    deliveredAt: iso(row.delivered_at),
    readAt: iso(row.read_at),
    playedAt: iso(row.played_at),
    failureReason: row.failure_reason,
    attribution: row.attribution,
    reactions: row.reactions,
    editedAt: iso(row.edited_at),
    revokedAt: iso(row.revoked_at),
    // Filled by the AI enrichment capability; empty until it exists.
    enrichments: [],
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

export const messageSnapshot = (row: MessageRow) => ({
  id: row.id,
  channelId: row.channel_id,
  contactId: row.contact_id,
  sessionId: row.session_id,
  direction: row.direction,
  type: row.type,
  text: row.text,
  status: row.status,
  externalId: row.external_id,
});

/** Reads of stored messages, scoped to a project. */
export class Messages {
  constructor(private readonly db: Kysely<DB>) {}

  async get(projectId: string, id: string): Promise<Message> {
    const row = await this.db
      .selectFrom("messages")
      .selectAll()
      .where("project_id", "=", projectId)
      .where("id", "=", id)
      .executeTakeFirst();
    if (!row) throw notFound("message");
    return toMessage(row);
  }

  async list(
    projectId: string,
    f: {
      contactId?: string;
      sessionId?: string;
      channelId?: string;
      direction?: "inbound" | "outbound";
      type?: string;
      limit: number;
      cursor?: string;
    },
  ): Promise<Page<Message>> {
    let query = this.db.selectFrom("messages").selectAll().where("project_id", "=", projectId);
    if (f.contactId) query = query.where("contact_id", "=", f.contactId);
    if (f.sessionId) query = query.where("session_id", "=", f.sessionId);
    if (f.channelId) query = query.where("channel_id", "=", f.channelId);
    if (f.direction) query = query.where("direction", "=", f.direction);
    if (f.type) query = query.where("type", "=", f.type);
    if (f.cursor) query = query.where("id", "<", decodeCursor(f.cursor));
    const rows = await query
      .orderBy("id", "desc")
      .limit(f.limit + 1)
      .execute();
    return toPage(rows, f.limit, toMessage);
  }
}
