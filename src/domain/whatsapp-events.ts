/**
 * WhatsApp events in our own terms, independent of the gateway (WAHA today) that
 * delivers them. Adapters parse their payloads into these; services act on them.
 */
export const MESSAGE_TYPES = [
  "text",
  "image",
  "video",
  "audio",
  "voice",
  "document",
  "sticker",
  "location",
  "contact",
  "unknown",
] as const;
export type MessageType = (typeof MESSAGE_TYPES)[number];

export interface MessageMedia {
  url: string | null;
  mimetype: string | null;
  filename: string | null;
}

export interface MessageLocation {
  latitude: number;
  longitude: number;
  name: string | null;
  address: string | null;
}

export interface IncomingMessage {
  /** The gateway's message id (WAHA: `false_<chat>_<id>`), unique per channel. */
  externalId: string;
  timestamp: Date;
  /** Sent by our own number (possibly from another device). */
  fromMe: boolean;
  /** The person this conversation is with (for groups: the sender). */
  counterpart: {
    wid: string | null;
    lid: string | null;
    phone: string | null;
    name: string | null;
  };
  type: MessageType;
  text: string | null;
  media: MessageMedia | null;
  location: MessageLocation | null;
  vcard: string | null;
  replyToExternalId: string | null;
  group: { id: string; mentions: string[] } | null;
  /** Click-to-WhatsApp ad referral, as the gateway reported it. */
  attribution: Record<string, unknown> | null;
  ack: number | null;
}

export type InboundWhatsAppEvent =
  | { kind: "message"; message: IncomingMessage }
  | { kind: "ack"; externalId: string; ack: number; timestamp: Date }
  | { kind: "reaction"; targetExternalId: string; emoji: string; by: string; timestamp: Date }
  | { kind: "edited"; targetExternalId: string; text: string; timestamp: Date }
  | { kind: "revoked"; targetExternalId: string; timestamp: Date }
  | { kind: "session_status"; status: string; timestamp: Date }
  | { kind: "ignored"; reason: string };

/** Delivery statuses move only forward along this order; `failed` is terminal before `sent`. */
export const MESSAGE_STATUS_RANK = {
  queued: 0,
  failed: 1,
  sent: 2,
  delivered: 3,
  read: 4,
  played: 5,
} as const;
export type MessageStatus = keyof typeof MESSAGE_STATUS_RANK;

/** WhatsApp ack codes (-1 ERROR, 0 PENDING, 1 SERVER, 2 DEVICE, 3 READ, 4 PLAYED). */
export function statusFromAck(ack: number): MessageStatus | undefined {
  switch (ack) {
    case -1:
      return "failed";
    case 1:
      return "sent";
    case 2:
      return "delivered";
    case 3:
      return "read";
    case 4:
      return "played";
    default:
      return undefined;
  }
}

/** True when moving from `current` to `next` is progress (never backwards, never failed after sent). */
export const isForward = (current: MessageStatus, next: MessageStatus): boolean =>
  next === "failed"
    ? current === "queued"
    : MESSAGE_STATUS_RANK[next] > MESSAGE_STATUS_RANK[current];

/** Channel status from the gateway's session status. */
export function channelStatusFromSession(
  status: string,
): "active" | "activating" | "disconnected" | "failed" {
  switch (status) {
    case "WORKING":
      return "active";
    case "STARTING":
    case "SCAN_QR_CODE":
      return "activating";
    case "FAILED":
      return "failed";
    default:
      return "disconnected";
  }
}
