import { createHmac, randomBytes, randomUUID } from "node:crypto";
import { isIP } from "node:net";

/**
 * WAHA webhook events as the real server posts them (GOWS engine), built in the exact
 * shapes of ../shared/fixtures/waha/*.json: envelope `{id: "evt_<ulid>", timestamp (ms),
 * event, session, metadata, me, payload, environment}`, payload `timestamp` in seconds,
 * `_data` in GOWS form (`Info` + `Message`). Also the signing and posting of a webhook
 * (`X-Webhook-Hmac` = hex HMAC-SHA512 of the raw body).
 */

export type WahaSessionStatus = "STOPPED" | "STARTING" | "SCAN_QR_CODE" | "WORKING" | "FAILED";

export const WAHA_ACK = {
  ERROR: -1,
  PENDING: 0,
  SERVER: 1,
  DEVICE: 2,
  READ: 3,
  PLAYED: 4,
} as const;
export type WahaAckName = keyof typeof WAHA_ACK;

export interface WahaMe {
  id: string;
  pushName: string;
  lid?: string;
}

export interface WahaEnvironment {
  version: string;
  engine: string;
  tier: string;
  browser: string | null;
}

export interface WahaEvent<P = Record<string, any>> {
  id: string;
  timestamp: number;
  event: string;
  session: string;
  metadata: Record<string, string>;
  me: WahaMe | null;
  payload: P;
  environment: WahaEnvironment;
}

export interface WahaMedia {
  url: string;
  mimetype: string;
  filename: string | null;
  error: null;
}

export interface WahaReplyTo {
  /** Serialized id of the quoted message (`true_<chat>_<key>`). */
  id: string;
  participant?: string | null;
  body?: string | null;
}

/** A message in WAHA's format (`WAMessage`), as in webhooks, send answers and history. */
export interface WahaMessage {
  id: string;
  timestamp: number;
  from: string;
  fromMe: boolean;
  source: "app" | "api";
  to: string;
  hasMedia: boolean;
  body: string;
  ack: number;
  ackName: string;
  replyTo: WahaReplyTo | null;
  media?: WahaMedia | null;
  location?: { latitude: number; longitude: number; description: string | null };
  vCards?: string[];
  participant?: string | null;
  mentionedJid?: string[];
  _data: { Info: Record<string, unknown>; Message: Record<string, unknown> };
  [key: string]: unknown;
}

// Defaults mirror the fixtures so a builder called without arguments looks like them.
export const DEFAULT_ME: WahaMe = {
  id: "5511900000001@c.us",
  pushName: "Acme Support",
  lid: "20000000000001@lid",
};
export const DEFAULT_CONTACT = "5511987654321@c.us";
export const DEFAULT_PUSH_NAME = "Maria Souza";
export const DEFAULT_GROUP = "120363000000000001@g.us";
export const DEFAULT_ENVIRONMENT: WahaEnvironment = {
  version: "2025.10.1",
  engine: "GOWS",
  tier: "PLUS",
  browser: null,
};

const CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz";

/** `evt_` + a lower-case ULID (10 time characters, 16 random), as WAHA's event ids. */
export function newEventId(nowMs = Date.now()): string {
  let time = "";
  let t = Math.max(0, Math.floor(nowMs));
  for (let i = 0; i < 10; i++) {
    time = CROCKFORD.charAt(t % 32) + time;
    t = Math.floor(t / 32);
  }
  const bytes = randomBytes(16);
  let random = "";
  for (const byte of bytes) random += CROCKFORD.charAt(byte % 32);
  return `evt_${time}${random}`;
}

/** A WhatsApp message key id like the ones in the fixtures (`3EB0` + 16 hex digits). */
export function newMessageKeyId(): string {
  return `3EB0${randomBytes(8).toString("hex").toUpperCase()}`;
}

/** `5511...@c.us` -> `5511...@s.whatsapp.net` (the JID form GOWS uses inside `_data`). */
export function toJid(id: string): string {
  return id.endsWith("@c.us") ? `${id.slice(0, -"@c.us".length)}@s.whatsapp.net` : id;
}

/** Splits a serialized message id `true_<chat>_<key>[_<participant>]`. */
export function parseMessageId(serialized: string): {
  fromMe: boolean;
  chatId: string;
  keyId: string;
  participant: string | null;
} {
  const [fromMe, chatId = "", keyId = "", ...rest] = serialized.split("_");
  return {
    fromMe: fromMe === "true",
    chatId,
    keyId,
    participant: rest.length > 0 ? rest.join("_") : null,
  };
}

export function ackName(ack: number): string {
  for (const [name, value] of Object.entries(WAHA_ACK)) if (value === ack) return name;
  return "UNKNOWN";
}

const EXTENSIONS: Record<string, string> = {
  "image/jpeg": "jpeg",
  "image/png": "png",
  "image/webp": "webp",
  "video/mp4": "mp4",
  "audio/ogg": "oga",
  "audio/mpeg": "mp3",
  "audio/mp4": "m4a",
  "application/pdf": "pdf",
};

export function extensionFor(mimetype: string): string {
  return EXTENSIONS[mimetype.split(";")[0]!.trim().toLowerCase()] ?? "bin";
}

// ---------------------------------------------------------------------------------------
// Message payloads
// ---------------------------------------------------------------------------------------

export type WahaMessageKind =
  "text" | "image" | "video" | "audio" | "voice" | "document" | "sticker" | "location" | "vcard";

export interface WahaMediaSpec {
  /** Media URL; by default `<mediaBaseUrl>/api/files/<session>/<keyId>.<ext>`. */
  url?: string;
  mimetype?: string;
  filename?: string | null;
  fileLength?: number;
  width?: number;
  height?: number;
  seconds?: number;
  pageCount?: number;
}

export interface WahaMessageSpec {
  kind: WahaMessageKind;
  /** The chat: a contact (`...@c.us`) or a group (`...@g.us`). */
  chatId: string;
  fromMe: boolean;
  me: WahaMe;
  session: string;
  /** Who wrote it: for a group, the participant; defaults to the contact or to me. */
  sender?: string;
  pushName?: string;
  keyId?: string;
  /** Seconds. */
  timestamp?: number;
  source?: "app" | "api";
  ack?: WahaAckName;
  /** Text, caption, or (documents) the file name shown as body. */
  body?: string;
  replyTo?: WahaReplyTo | null;
  mentions?: string[];
  media?: WahaMediaSpec;
  /** Base of the default media URL (WAHA's own origin). */
  mediaBaseUrl?: string;
  location?: { latitude: number; longitude: number; name?: string | null; address?: string };
  vcards?: Array<{ displayName: string; vcard: string }>;
}

const DEFAULT_MIMETYPES: Partial<Record<WahaMessageKind, string>> = {
  image: "image/jpeg",
  video: "video/mp4",
  audio: "audio/mpeg",
  voice: "audio/ogg; codecs=opus",
  document: "application/pdf",
  sticker: "image/webp",
};

const MEDIA_TYPES: Partial<Record<WahaMessageKind, string>> = {
  image: "image",
  video: "video",
  audio: "audio",
  voice: "ptt",
  document: "document",
  sticker: "sticker",
  location: "location",
};

/** Builds a message in WAHA's format (the `payload` of `message`/`message.any`). */
export function buildMessage(spec: WahaMessageSpec): WahaMessage {
  const isGroup = spec.chatId.endsWith("@g.us");
  const keyId = spec.keyId ?? newMessageKeyId();
  const sender = spec.sender ?? (spec.fromMe ? spec.me.id : spec.chatId);
  const pushName = spec.pushName ?? (spec.fromMe ? spec.me.pushName : DEFAULT_PUSH_NAME);
  const ack = spec.ack ?? "SERVER";
  const id =
    `${spec.fromMe}_${spec.chatId}_${keyId}` + (isGroup && !spec.fromMe ? `_${sender}` : "");
  const hasMedia = ["image", "video", "audio", "voice", "document", "sticker"].includes(spec.kind);
  const mimetype = spec.media?.mimetype ?? DEFAULT_MIMETYPES[spec.kind] ?? "";
  const filename =
    spec.media?.filename !== undefined
      ? spec.media.filename
      : spec.kind === "document"
        ? `${keyId}.${extensionFor(mimetype)}`
        : null;
  const body =
    spec.kind === "document" && spec.body === undefined ? (filename ?? "") : (spec.body ?? "");

  // Key order follows the fixtures: media/location/vCards, then group fields, then _data.
  const message = {
    id,
    timestamp: spec.timestamp ?? Math.floor(Date.now() / 1000),
    from: spec.fromMe ? spec.me.id : spec.chatId,
    fromMe: spec.fromMe,
    source: spec.source ?? "app",
    to: spec.fromMe ? spec.chatId : spec.me.id,
    hasMedia,
    body,
    ack: WAHA_ACK[ack],
    ackName: ack,
    replyTo: spec.replyTo ?? null,
  } as WahaMessage;
  if (hasMedia) {
    const base = (spec.mediaBaseUrl ?? "http://127.0.0.1:3000").replace(/\/+$/, "");
    message.media = {
      url:
        spec.media?.url ??
        `${base}/api/files/${encodeURIComponent(spec.session)}/${keyId}.${extensionFor(mimetype)}`,
      mimetype,
      filename,
      error: null,
    };
  }
  if (spec.kind === "location") {
    const location = spec.location ?? { latitude: 0, longitude: 0 };
    message.location = {
      latitude: location.latitude,
      longitude: location.longitude,
      description: location.name ?? null,
    };
  }
  if (spec.kind === "vcard") message.vCards = (spec.vcards ?? []).map((c) => c.vcard);
  if (isGroup) message.participant = sender;
  if (spec.mentions) message.mentionedJid = [...spec.mentions];

  const info: Record<string, unknown> = {
    Chat: toJid(spec.chatId),
    Sender: toJid(sender),
    IsFromMe: spec.fromMe,
    IsGroup: isGroup,
    ID: keyId,
    Type: spec.kind === "text" ? "text" : "media",
    PushName: pushName,
  };
  const mediaType =
    spec.kind === "vcard"
      ? (spec.vcards?.length ?? 0) > 1
        ? "contact_array"
        : "vcard"
      : MEDIA_TYPES[spec.kind];
  if (mediaType) info["MediaType"] = mediaType;
  message._data = { Info: info, Message: rawMessage(spec, body, mimetype, filename) };
  return message;
}

function contextInfo(spec: WahaMessageSpec): Record<string, unknown> | undefined {
  const context: Record<string, unknown> = {};
  if (spec.replyTo) {
    const quoted = parseMessageId(spec.replyTo.id);
    context["stanzaID"] = quoted.keyId;
    context["participant"] = toJid(
      spec.replyTo.participant ??
        quoted.participant ??
        (quoted.fromMe ? spec.me.id : quoted.chatId),
    );
    context["quotedMessage"] = { conversation: spec.replyTo.body ?? "" };
  }
  if (spec.mentions && spec.mentions.length > 0) context["mentionedJID"] = spec.mentions.map(toJid);
  return Object.keys(context).length > 0 ? context : undefined;
}

function rawMessage(
  spec: WahaMessageSpec,
  body: string,
  mimetype: string,
  filename: string | null,
): Record<string, unknown> {
  const media = spec.media ?? {};
  const context = contextInfo(spec);
  const withContext = (inner: Record<string, unknown>) =>
    context ? { ...inner, contextInfo: context } : inner;
  const caption = body !== "" ? { caption: body } : {};
  switch (spec.kind) {
    case "text":
      return context
        ? { extendedTextMessage: { text: body, contextInfo: context } }
        : { conversation: body };
    case "image":
      return {
        imageMessage: withContext({
          mimetype,
          ...caption,
          fileLength: media.fileLength ?? 95267,
          height: media.height ?? 1280,
          width: media.width ?? 720,
        }),
      };
    case "video":
      return {
        videoMessage: withContext({
          mimetype,
          ...caption,
          seconds: media.seconds ?? 12,
          fileLength: media.fileLength ?? 1048576,
          height: media.height ?? 1280,
          width: media.width ?? 720,
        }),
      };
    case "audio":
    case "voice":
      return {
        audioMessage: withContext({
          mimetype,
          seconds: media.seconds ?? 7,
          PTT: spec.kind === "voice",
        }),
      };
    case "document":
      return {
        documentMessage: withContext({
          mimetype,
          fileName: filename,
          pageCount: media.pageCount ?? 1,
          ...(spec.body !== undefined && spec.body !== filename ? { caption: spec.body } : {}),
        }),
      };
    case "sticker":
      return {
        stickerMessage: withContext({
          mimetype,
          height: media.height ?? 512,
          width: media.width ?? 512,
          isAnimated: false,
        }),
      };
    case "location": {
      const location = spec.location ?? { latitude: 0, longitude: 0 };
      return {
        locationMessage: withContext({
          degreesLatitude: location.latitude,
          degreesLongitude: location.longitude,
          name: location.name ?? "",
          address: location.address ?? "",
        }),
      };
    }
    case "vcard": {
      const contacts = spec.vcards ?? [];
      if (contacts.length === 1) {
        const [contact] = contacts;
        return { contactMessage: withContext({ ...contact }) };
      }
      return {
        contactsArrayMessage: withContext({
          displayName: `${contacts.length} contacts`,
          contacts: contacts.map((c) => ({ ...c })),
        }),
      };
    }
  }
}

/** A vCard as WhatsApp and WAHA write it. */
export function vcardOf(contact: {
  fullName: string;
  phoneNumber: string;
  whatsappId?: string;
  organization?: string;
}): string {
  const waid = contact.whatsappId ?? contact.phoneNumber.replace(/\D/g, "");
  return [
    "BEGIN:VCARD",
    "VERSION:3.0",
    `FN:${contact.fullName}`,
    ...(contact.organization ? [`ORG:${contact.organization};`] : []),
    `TEL;type=CELL;waid=${waid}:${contact.phoneNumber}`,
    "END:VCARD",
  ].join("\n");
}

// ---------------------------------------------------------------------------------------
// Envelopes and event builders
// ---------------------------------------------------------------------------------------

export interface EnvelopeOptions {
  session?: string;
  me?: WahaMe | null;
  metadata?: Record<string, string>;
  /** Envelope id; `evt_<ulid>` by default. */
  eventId?: string;
  /** Envelope timestamp in milliseconds; now by default. */
  timestampMs?: number;
  environment?: Partial<WahaEnvironment>;
}

export function envelope<P>(
  event: string,
  payload: P,
  options: EnvelopeOptions = {},
): WahaEvent<P> {
  const timestampMs = options.timestampMs ?? Date.now();
  return {
    id: options.eventId ?? newEventId(timestampMs),
    timestamp: timestampMs,
    event,
    session: options.session ?? "default",
    metadata: { ...(options.metadata ?? {}) },
    me: options.me === undefined ? { ...DEFAULT_ME } : options.me && { ...options.me },
    payload,
    environment: { ...DEFAULT_ENVIRONMENT, ...(options.environment ?? {}) },
  };
}

export interface MessageEventOptions extends EnvelopeOptions {
  /** `message.any` like the fixtures, or `message`. */
  event?: "message" | "message.any";
  /** The contact who wrote (a `...@c.us` id). */
  from?: string;
  pushName?: string;
  /** The WhatsApp key id (`3EB0...`); random by default. */
  messageId?: string;
  /** Payload timestamp in seconds; the envelope time minus one second by default. */
  timestamp?: number;
  ack?: WahaAckName;
  replyTo?: WahaReplyTo | string | null;
  /** Base of the default media URL (e.g. the simulator's `baseUrl`). */
  mediaBaseUrl?: string;
}

export type MediaEventOptions = MessageEventOptions & WahaMediaSpec;

function replyToOf(value: WahaReplyTo | string | null | undefined): WahaReplyTo | null {
  if (value === undefined || value === null) return null;
  return typeof value === "string" ? { id: value, participant: null, body: null } : value;
}

function incoming(
  kind: WahaMessageKind,
  options: MessageEventOptions,
  extra: Partial<WahaMessageSpec>,
): WahaEvent<WahaMessage> {
  const timestampMs = options.timestampMs ?? Date.now();
  const me = options.me ?? DEFAULT_ME;
  const session = options.session ?? "default";
  const payload = buildMessage({
    kind,
    chatId: options.from ?? DEFAULT_CONTACT,
    fromMe: false,
    me,
    session,
    pushName: options.pushName ?? DEFAULT_PUSH_NAME,
    keyId: options.messageId,
    timestamp: options.timestamp ?? Math.floor(timestampMs / 1000) - 1,
    ack: options.ack,
    replyTo: replyToOf(options.replyTo),
    mediaBaseUrl: options.mediaBaseUrl,
    ...extra,
  });
  return envelope(options.event ?? "message.any", payload, { ...options, timestampMs, session });
}

function mediaSpec(options: WahaMediaSpec): WahaMediaSpec {
  const { url, mimetype, filename, fileLength, width, height, seconds, pageCount } = options;
  return { url, mimetype, filename, fileLength, width, height, seconds, pageCount };
}

export const wahaEvents = {
  /** Incoming text (`message-text.json`). */
  text(options: MessageEventOptions & { body?: string } = {}) {
    return incoming("text", options, { body: options.body ?? "Olá! Quero saber o preço." });
  },

  /** Incoming text quoting another message (`replyTo` filled, `extendedTextMessage`). */
  reply(options: MessageEventOptions & { body?: string; replyTo: WahaReplyTo | string }) {
    return incoming("text", options, { body: options.body ?? "Sim, esse mesmo." });
  },

  /** Incoming image with caption (`message-image-caption.json`). */
  image(options: MediaEventOptions & { caption?: string } = {}) {
    return incoming("image", options, {
      body: options.caption ?? "Segue a foto do produto",
      media: mediaSpec(options),
    });
  },

  video(options: MediaEventOptions & { caption?: string } = {}) {
    return incoming("video", options, { body: options.caption ?? "", media: mediaSpec(options) });
  },

  /** Audio file (not push-to-talk). */
  audio(options: MediaEventOptions = {}) {
    return incoming("audio", options, { body: "", media: mediaSpec(options) });
  },

  /** Voice note / PTT (`message-voice.json`). */
  voice(options: MediaEventOptions = {}) {
    return incoming("voice", options, { body: "", media: mediaSpec(options) });
  },

  /** Document (`message-document.json`); body is the file name unless a caption is given. */
  document(options: MediaEventOptions & { caption?: string } = {}) {
    const filename = options.filename === undefined ? "contrato.pdf" : options.filename;
    return incoming("document", options, {
      body: options.caption ?? filename ?? "",
      media: { ...mediaSpec(options), filename },
    });
  },

  sticker(options: MediaEventOptions = {}) {
    return incoming("sticker", options, { body: "", media: mediaSpec(options) });
  },

  /** Location (`message-location.json`). */
  location(
    options: MessageEventOptions & {
      latitude?: number;
      longitude?: number;
      name?: string;
      address?: string;
    } = {},
  ) {
    return incoming("location", options, {
      body: "",
      location: {
        latitude: options.latitude ?? -23.5613,
        longitude: options.longitude ?? -46.6565,
        name: options.name ?? "Av. Paulista, 1000",
        address: options.address ?? "São Paulo",
      },
    });
  },

  /** Contact card(s) (`message-vcard.json`). */
  vcard(
    options: MessageEventOptions & {
      contacts?: Array<{ displayName: string; vcard: string }>;
    } = {},
  ) {
    const contacts = options.contacts ?? [
      {
        displayName: "João Lima",
        vcard: vcardOf({ fullName: "João Lima", phoneNumber: "+55 21 98888-7777" }),
      },
    ];
    return incoming("vcard", options, { body: "", vcards: contacts });
  },

  /** Group message with participant and mentions (`message-group-mention.json`). */
  group(
    options: MessageEventOptions & {
      groupId?: string;
      participant?: string;
      body?: string;
      mentions?: string[];
    } = {},
  ) {
    const me = options.me ?? DEFAULT_ME;
    const mentions = options.mentions ?? [me.id];
    const firstMention = mentions[0]?.split("@")[0];
    return incoming(
      "text",
      { ...options, from: options.groupId ?? DEFAULT_GROUP },
      {
        sender: options.participant ?? options.from ?? DEFAULT_CONTACT,
        body:
          options.body ?? (firstMention ? `@${firstMention} alguém pode me ajudar?` : "Olá grupo"),
        mentions,
      },
    );
  },

  /** Our own number wrote from another device (`message-from-me-other-device.json`). */
  fromMeOtherDevice(options: MessageEventOptions & { to?: string; body?: string } = {}) {
    const timestampMs = options.timestampMs ?? Date.now();
    const me = options.me ?? DEFAULT_ME;
    const session = options.session ?? "default";
    const payload = buildMessage({
      kind: "text",
      chatId: options.to ?? DEFAULT_CONTACT,
      fromMe: true,
      me,
      session,
      keyId: options.messageId,
      timestamp: options.timestamp ?? Math.floor(timestampMs / 1000) - 1,
      ack: options.ack,
      replyTo: replyToOf(options.replyTo),
      body: options.body ?? "Oi, o plano anual custa R$ 1.200.",
    });
    return envelope(options.event ?? "message.any", payload, { ...options, timestampMs, session });
  },

  /** `message.ack` (`message-ack-*.json`); `messageId` is the serialized id. */
  ack(
    options: EnvelopeOptions & {
      messageId: string;
      ack?: WahaAckName | number;
      from?: string;
      to?: string;
      participant?: string | null;
      fromMe?: boolean;
    },
  ) {
    const parsed = parseMessageId(options.messageId);
    const me = options.me ?? DEFAULT_ME;
    const ack = typeof options.ack === "number" ? options.ack : WAHA_ACK[options.ack ?? "DEVICE"];
    return envelope(
      "message.ack",
      {
        id: options.messageId,
        from: options.from ?? parsed.chatId,
        to: options.to ?? me.id,
        participant: options.participant ?? null,
        fromMe: options.fromMe ?? parsed.fromMe,
        ack,
        ackName: ackName(ack),
      },
      options,
    );
  },

  /** `message.reaction` (`message-reaction.json`); `text: ""` removes a reaction. */
  reaction(
    options: EnvelopeOptions & {
      /** Serialized id of the message reacted to. */
      messageId: string;
      text?: string;
      from?: string;
      fromMe?: boolean;
      reactionId?: string;
      timestamp?: number;
    },
  ) {
    const timestampMs = options.timestampMs ?? Date.now();
    const me = options.me ?? DEFAULT_ME;
    const from = options.from ?? DEFAULT_CONTACT;
    const fromMe = options.fromMe ?? false;
    return envelope(
      "message.reaction",
      {
        id: `${fromMe}_${from}_${options.reactionId ?? newMessageKeyId()}`,
        timestamp: options.timestamp ?? Math.floor(timestampMs / 1000),
        from: fromMe ? me.id : from,
        fromMe,
        source: "app",
        to: fromMe ? from : me.id,
        reaction: { text: options.text ?? "👍", messageId: options.messageId },
      },
      { ...options, timestampMs },
    );
  },

  /**
   * `message.edited`: `payload.id` is the edit action's id, `editedMessageId` the key id of
   * the edited message (without chat), `body` the new text.
   */
  edited(options: MessageEventOptions & { editedMessageId: string; body?: string }) {
    const edited = options.editedMessageId.includes("_")
      ? parseMessageId(options.editedMessageId).keyId
      : options.editedMessageId;
    const event = incoming(
      "text",
      { ...options, event: "message.any" },
      {
        body: options.body ?? "Texto corrigido",
      },
    );
    const payload = event.payload as WahaMessage;
    const { _data, ...rest } = payload;
    const raw = {
      protocolMessage: {
        key: { ID: edited, fromMe: false },
        type: "MESSAGE_EDIT",
        editedMessage: { conversation: payload.body },
      },
    };
    return envelope(
      "message.edited",
      { ...rest, editedMessageId: edited, _data: { Info: _data.Info, Message: raw } },
      { ...options, timestampMs: event.timestamp, eventId: options.eventId ?? event.id },
    );
  },

  /** `message.revoked`: `after` is the revoke action, `revokedMessageId` the key id. */
  revoked(options: MessageEventOptions & { revokedMessageId: string }) {
    const revoked = options.revokedMessageId.includes("_")
      ? parseMessageId(options.revokedMessageId).keyId
      : options.revokedMessageId;
    const event = incoming("text", { ...options, event: "message.any" }, { body: "" });
    const after = event.payload as WahaMessage;
    after._data = {
      Info: after._data.Info,
      Message: {
        protocolMessage: { key: { ID: revoked, fromMe: false }, type: "REVOKE" },
      },
    };
    return envelope(
      "message.revoked",
      { after, revokedMessageId: revoked, before: null },
      { ...options, timestampMs: event.timestamp, eventId: options.eventId ?? event.id },
    );
  },

  /** `session.status` (`session-status-*.json`); `statuses` are the recent ones, ms. */
  sessionStatus(
    options: EnvelopeOptions & {
      status: WahaSessionStatus;
      statuses?: Array<{ status: WahaSessionStatus; timestamp: number }>;
    },
  ) {
    const timestampMs = options.timestampMs ?? Date.now();
    const statuses = options.statuses ?? [{ status: options.status, timestamp: timestampMs }];
    return envelope(
      "session.status",
      { status: options.status, statuses: statuses.map((s) => ({ ...s })) },
      { ...options, timestampMs },
    );
  },
};

// ---------------------------------------------------------------------------------------
// Signing and posting
// ---------------------------------------------------------------------------------------

/** Hex HMAC-SHA512 of the exact raw body, as `X-Webhook-Hmac`. */
export function signWebhookBody(rawBody: string | Buffer, key: string): string {
  return createHmac("sha512", key).update(rawBody).digest("hex");
}

export interface WebhookRequestOptions {
  hmacKey?: string | null;
  /** Extra headers (WAHA's `customHeaders`), added after the standard ones. */
  headers?: Record<string, string>;
  requestId?: string;
  timestampMs?: number;
  /** Post these exact bytes instead of `JSON.stringify(event)` (e.g. to tamper with them). */
  rawBody?: string;
}

/** The body and headers WAHA would send for `event` (for `inject` or any HTTP client). */
export function buildWebhookRequest(
  event: unknown,
  options: WebhookRequestOptions = {},
): { rawBody: string; headers: Record<string, string>; requestId: string } {
  const rawBody = options.rawBody ?? JSON.stringify(event);
  const requestId = options.requestId ?? randomUUID();
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "x-webhook-request-id": requestId,
    "x-webhook-timestamp": String(options.timestampMs ?? Date.now()),
  };
  if (options.hmacKey) {
    headers["x-webhook-hmac"] = signWebhookBody(rawBody, options.hmacKey);
    headers["x-webhook-hmac-algorithm"] = "sha512";
  }
  return { rawBody, headers: { ...headers, ...(options.headers ?? {}) }, requestId };
}

export interface PostEventOptions extends WebhookRequestOptions {
  /** Bound on the whole request; 10 s by default. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface PostEventResult {
  status: number;
  body: string;
  headers: Record<string, string>;
  requestId: string;
  rawBody: string;
  sentHeaders: Record<string, string>;
}

/** True for 127.0.0.0/8, ::1 and `localhost`: the only hosts tests may post to. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, "").toLowerCase();
  if (host === "localhost") return true;
  if (isIP(host) === 4) return host.startsWith("127.");
  if (isIP(host) === 6) return host === "::1" || host === "::ffff:127.0.0.1";
  return false;
}

/**
 * Posts `event` to `url` like WAHA does (JSON body; `X-Webhook-Request-Id`,
 * `X-Webhook-Timestamp`; `X-Webhook-Hmac` + `X-Webhook-Hmac-Algorithm: sha512` when a key
 * is given). Loopback URLs only; bounded by `timeoutMs`.
 */
export async function postEvent(
  url: string,
  event: unknown,
  options: PostEventOptions = {},
): Promise<PostEventResult> {
  const target = new URL(url);
  if (!isLoopbackHost(target.hostname)) {
    throw new Error(`postEvent only posts to loopback addresses, not ${target.hostname}`);
  }
  const { rawBody, headers, requestId } = buildWebhookRequest(event, options);
  const timeout = AbortSignal.timeout(options.timeoutMs ?? 10_000);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  const response = await fetch(target, { method: "POST", headers, body: rawBody, signal });
  const body = await response.text();
  return {
    status: response.status,
    body,
    headers: Object.fromEntries(response.headers.entries()),
    requestId,
    rawBody,
    sentHeaders: headers,
  };
}
