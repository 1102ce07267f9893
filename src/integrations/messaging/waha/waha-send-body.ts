import type { OutgoingMessage } from "../../../services/whatsapp-gateway.ts";

// Vendor JSON varies by WAHA engine; it is built field by field.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = Record<string, any>;

/** The JSON body of WAHA's send route for one of our outgoing messages. */
export function sendBody(session: string, m: OutgoingMessage): Any {
  const base: Any = {
    session,
    chatId: m.chatId,
    ...(m.replyToExternalId ? { reply_to: m.replyToExternalId } : {}),
  };
  const file = m.media
    ? {
        url: m.media.url,
        // WAHA requires a mimetype; ours is optional, so infer it when the client gave none.
        mimetype: m.media.mimetype ?? guessMimetype(m.type, m.media.filename ?? m.media.url ?? ""),
        filename: m.media.filename ?? undefined,
      }
    : undefined;
  switch (m.type) {
    case "text":
      return { ...base, text: m.text };
    case "image":
    case "video":
      return {
        ...base,
        file,
        caption: m.text ?? undefined,
        ...(m.type === "video" ? { convert: true } : {}),
      };
    case "voice":
      return { ...base, file, convert: true };
    case "audio":
    case "document":
      return { ...base, file, caption: m.text ?? undefined };
    case "location":
      return {
        ...base,
        latitude: m.location?.latitude,
        longitude: m.location?.longitude,
        title: m.location?.name ?? undefined,
      };
    case "contact":
      return { ...base, contacts: [{ vcard: m.vcard }] };
    default:
      return base;
  }
}

const BY_EXTENSION: Record<string, string> = {
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  png: "image/png",
  webp: "image/webp",
  gif: "image/gif",
  mp4: "video/mp4",
  "3gp": "video/3gpp",
  mp3: "audio/mpeg",
  ogg: "audio/ogg",
  oga: "audio/ogg",
  opus: "audio/ogg; codecs=opus",
  m4a: "audio/mp4",
  pdf: "application/pdf",
  txt: "text/plain",
  csv: "text/csv",
  docx: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
  xlsx: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
};
const BY_TYPE: Record<string, string> = {
  image: "image/jpeg",
  video: "video/mp4",
  voice: "audio/ogg; codecs=opus",
  audio: "audio/mpeg",
  document: "application/octet-stream",
};

export function guessMimetype(type: string, nameOrUrl: string): string {
  const extension = /\.([a-z0-9]{1,5})(?:[?#].*)?$/i.exec(nameOrUrl)?.[1]?.toLowerCase();
  return (extension && BY_EXTENSION[extension]) || BY_TYPE[type] || "application/octet-stream";
}
