import type {
  InboundWhatsAppEvent,
  IncomingMessage,
  MessageType,
} from "../../../domain/whatsapp-events.ts";

/** The WAHA webhook envelope (see shared/fixtures/waha). */
export interface WahaEnvelope {
  id: string;
  timestamp: number;
  event: string;
  session: string;
  payload: Record<string, unknown>;
  me?: { id?: string; lid?: string } | null;
}

// Vendor JSON varies by WAHA engine; it is read defensively field by field.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = Record<string, any>;

const isGroup = (jid: string | undefined) => !!jid && jid.endsWith("@g.us");
const phoneOf = (jid: string | null | undefined) => {
  const match = /^(\d{8,15})@(c\.us|s\.whatsapp\.net)$/.exec(jid ?? "");
  return match?.[1] ?? null;
};
/** `@s.whatsapp.net` (engine-internal) and `@c.us` name the same account. */
const toWid = (jid: string | null | undefined) =>
  jid ? jid.replace(/@s\.whatsapp\.net$/, "@c.us") : null;
const seconds = (value: unknown) =>
  new Date((typeof value === "number" ? value : Date.now() / 1000) * 1000);

const MEDIA_TYPES: Record<string, MessageType> = {
  imageMessage: "image",
  videoMessage: "video",
  audioMessage: "audio",
  documentMessage: "document",
  documentWithCaptionMessage: "document",
  stickerMessage: "sticker",
  locationMessage: "location",
  liveLocationMessage: "location",
  contactMessage: "contact",
  contactsArrayMessage: "contact",
};

function messageType(payload: Any): MessageType {
  const engineMessage: Any = payload._data?.Message ?? payload._data?.message ?? {};
  for (const [key, type] of Object.entries(MEDIA_TYPES)) {
    if (engineMessage[key]) {
      if (type === "audio" && (engineMessage[key].PTT || engineMessage[key].ptt)) return "voice";
      return type;
    }
  }
  const mediaType: string | undefined = payload._data?.Info?.MediaType ?? payload._data?.type;
  if (mediaType === "ptt") return "voice";
  if (
    mediaType &&
    (MEDIA_TYPES[`${mediaType}Message`] ||
      ["image", "video", "audio", "document", "sticker"].includes(mediaType))
  ) {
    return (MEDIA_TYPES[`${mediaType}Message`] ?? mediaType) as MessageType;
  }
  if (payload.location) return "location";
  if (Array.isArray(payload.vCards) && payload.vCards.length > 0) return "contact";
  const mimetype: string | undefined = payload.media?.mimetype;
  if (mimetype) {
    if (mimetype.startsWith("image/webp")) return "sticker";
    if (mimetype.startsWith("image/")) return "image";
    if (mimetype.startsWith("video/")) return "video";
    if (mimetype.startsWith("audio/")) return "audio";
    return "document";
  }
  return typeof payload.body === "string" ? "text" : "unknown";
}

/** The ad referral of a Click-to-WhatsApp message, wherever the engine put it. */
function attributionOf(payload: Any): Record<string, unknown> | null {
  const message: Any = payload._data?.Message ?? {};
  for (const part of Object.values(message)) {
    const reply = (part as Any | null)?.contextInfo?.externalAdReply;
    if (reply && typeof reply === "object") return reply as Record<string, unknown>;
  }
  const ctwa = payload._data?.ctwaContext ?? payload.referral;
  return ctwa && typeof ctwa === "object" ? (ctwa as Record<string, unknown>) : null;
}

function parseMessage(payload: Any): IncomingMessage | { ignored: string } {
  const from: string = payload.from ?? "";
  const to: string = payload.to ?? "";
  const fromMe = payload.fromMe === true;
  const chat = fromMe ? to : from;
  if (chat === "status@broadcast" || from === "status@broadcast")
    return { ignored: "status broadcast" };
  const group = isGroup(chat) ? chat : null;
  const info: Any = payload._data?.Info ?? {};
  // In a group the counterpart is the participant who wrote (or nobody, for our own).
  const counterpartJid: string | null = group
    ? fromMe
      ? null
      : (payload.participant ?? toWid(info.Sender))
    : chat;
  const type = messageType(payload);
  const body: string | null =
    typeof payload.body === "string" && payload.body !== "" ? payload.body : null;
  const media =
    payload.hasMedia || payload.media
      ? {
          url: payload.media?.url ?? null,
          mimetype: payload.media?.mimetype ?? null,
          filename: payload.media?.filename ?? null,
        }
      : null;
  // WAHA puts a document's file name into `body` when there is no caption.
  const text = type === "document" && body !== null && body === media?.filename ? null : body;
  const engine: Any = payload._data?.Message ?? {};
  const location = payload.location ?? engine.locationMessage;
  const lid = counterpartJid?.endsWith("@lid") ? counterpartJid : null;
  return {
    externalId: String(payload.id),
    timestamp: seconds(payload.timestamp),
    fromMe,
    counterpart: {
      wid: lid ? null : toWid(counterpartJid),
      lid,
      phone: phoneOf(counterpartJid),
      name: fromMe
        ? null
        : (info.PushName ?? payload._data?.notifyName ?? payload.notifyName ?? null),
    },
    type,
    text,
    media: type === "location" || type === "contact" || type === "text" ? null : media,
    location: location
      ? {
          latitude: Number(location.latitude ?? location.degreesLatitude),
          longitude: Number(location.longitude ?? location.degreesLongitude),
          name: location.description ?? location.name ?? null,
          address: location.address ?? engine.locationMessage?.address ?? null,
        }
      : null,
    vcard:
      Array.isArray(payload.vCards) && payload.vCards.length > 0
        ? payload.vCards.join("\n")
        : (engine.contactMessage?.vcard ?? null),
    replyToExternalId:
      payload.replyTo?.id ?? (typeof payload.replyTo === "string" ? payload.replyTo : null),
    group: group
      ? {
          id: group,
          mentions: Array.isArray(payload.mentionedJid) ? payload.mentionedJid.map(String) : [],
        }
      : null,
    attribution: attributionOf(payload),
    ack: typeof payload.ack === "number" ? payload.ack : null,
  };
}

/**
 * WAHA names an edited or revoked message by its key id alone (`3EB0...`); our messages
 * are stored under the serialized id (`<fromMe>_<chat>_<key>[_<participant>]`), rebuilt
 * here from the event's own message (only its author edits or revokes it).
 */
function serializedTarget(id: unknown, message: Any | null | undefined): string {
  const key = String(id ?? "");
  if (!key || key.includes("_") || !message) return key;
  const fromMe = message.fromMe === true;
  const chat: unknown = fromMe ? message.to : message.from;
  if (typeof chat !== "string" || !chat) return key;
  const participant = isGroup(chat) && !fromMe ? message.participant : null;
  return `${fromMe}_${chat}_${key}${typeof participant === "string" ? `_${participant}` : ""}`;
}

/** Maps one WAHA webhook event to our domain event; unknown events are ignored, not errors. */
export function parseWahaEvent(envelope: WahaEnvelope): InboundWhatsAppEvent {
  const payload = envelope.payload as Any;
  const at = new Date(envelope.timestamp);
  switch (envelope.event) {
    case "message":
    case "message.any": {
      const parsed = parseMessage(payload);
      return "ignored" in parsed
        ? { kind: "ignored", reason: parsed.ignored }
        : { kind: "message", message: parsed };
    }
    case "message.ack":
      return {
        kind: "ack",
        externalId: String(payload.id),
        ack: Number(payload.ack),
        timestamp: at,
      };
    case "message.reaction":
      return {
        kind: "reaction",
        targetExternalId: String(payload.reaction?.messageId ?? ""),
        emoji: String(payload.reaction?.text ?? ""),
        by: toWid(payload.participant ?? payload.from) ?? "",
        timestamp: seconds(payload.timestamp),
      };
    case "message.edited":
      return {
        kind: "edited",
        targetExternalId: serializedTarget(
          payload.editedMessageId ?? payload._data?.editedMessageId ?? payload.id,
          payload,
        ),
        text: String(payload.body ?? ""),
        timestamp: seconds(payload.timestamp),
      };
    case "message.revoked":
      return {
        kind: "revoked",
        targetExternalId: serializedTarget(
          payload.revokedMessageId ?? payload.before?.id ?? payload.after?.id ?? "",
          payload.after ?? payload.before,
        ),
        timestamp: at,
      };
    case "session.status":
      return { kind: "session_status", status: String(payload.status), timestamp: at };
    default:
      return { kind: "ignored", reason: `event ${envelope.event}` };
  }
}
