import Type from "typebox";
import { Nullable, NullableTimestamp, PageQuery, Timestamp } from "./common.ts";

const Uuid = Type.String({ format: "uuid" });
const ChannelStatus = Type.Enum(["inactive", "activating", "active", "disconnected", "failed"]);

export const Channel = Type.Object({
  id: Type.String(),
  name: Type.String(),
  type: Type.Literal("waha"),
  status: ChannelStatus,
  waha: Type.Object({ baseUrl: Type.String(), session: Type.String() }),
  sessionTimeoutMinutes: Nullable(Type.Integer()),
  pipelineId: Nullable(Type.String({ description: "its pipeline's session timeout wins" })),
  allowGroups: Type.Boolean(),
  inboundUrl: Type.String({ description: "where WAHA posts events for this channel" }),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});

export const CreatedChannel = Type.Object({
  ...Channel.properties,
  inboundSecret: Type.String({ description: "HMAC key WAHA signs events with; shown once" }),
});

const WahaInput = {
  baseUrl: Type.String({
    minLength: 1,
    maxLength: 2048,
    description: "WAHA base URL, e.g. https://waha.example.com",
  }),
  apiKey: Type.String({
    minLength: 1,
    maxLength: 1024,
    description: "WAHA X-Api-Key; stored encrypted, never returned",
  }),
  session: Type.String({ minLength: 1, maxLength: 100, pattern: "^[A-Za-z0-9_.-]+$" }),
};

export const CreateChannelBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    type: Type.Literal("waha"),
    waha: Type.Object(WahaInput, { additionalProperties: false }),
    sessionTimeoutMinutes: Type.Optional(Type.Integer({ minimum: 1, maximum: 1440 })),
    pipelineId: Type.Optional(Nullable(Uuid)),
    allowGroups: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const UpdateChannelBody = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    waha: Type.Optional(
      Type.Object(
        {
          baseUrl: Type.Optional(WahaInput.baseUrl),
          apiKey: Type.Optional(WahaInput.apiKey),
          session: Type.Optional(WahaInput.session),
        },
        { additionalProperties: false, minProperties: 1 },
      ),
    ),
    sessionTimeoutMinutes: Type.Optional(Nullable(Type.Integer({ minimum: 1, maximum: 1440 }))),
    pipelineId: Type.Optional(Nullable(Uuid)),
    allowGroups: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false, minProperties: 1 },
);

export const Session = Type.Object({
  id: Type.String(),
  contactId: Type.String(),
  channelId: Type.String(),
  status: Type.Enum(["active", "ended"]),
  endReason: Nullable(Type.String()),
  startedAt: Timestamp,
  lastActivityAt: Timestamp,
  endedAt: NullableTimestamp,
  messageCount: Type.Integer(),
  inboundCount: Type.Integer(),
  outboundCount: Type.Integer(),
  timeoutMinutes: Type.Integer(),
  firstResponseSeconds: Nullable(Type.Integer()),
  totalWaitSeconds: Type.Integer(),
});

export const ListSessionsQuery = Type.Object(
  {
    contactId: Type.Optional(Uuid),
    channelId: Type.Optional(Uuid),
    status: Type.Optional(Type.Enum(["active", "ended"])),
    ...PageQuery,
  },
  { additionalProperties: false },
);

export const CloseSessionBody = Type.Object(
  { reason: Type.Optional(Type.String({ minLength: 1, maxLength: 100, pattern: "^[a-z0-9_]+$" })) },
  { additionalProperties: false },
);

const MessageTypeEnum = Type.Enum([
  "text",
  "image",
  "video",
  "audio",
  "voice",
  "document",
  "location",
  "contact",
]);

export const Message = Type.Object({
  id: Type.String(),
  channelId: Type.String(),
  contactId: Type.String(),
  sessionId: Nullable(Type.String()),
  direction: Type.Enum(["inbound", "outbound"]),
  type: Type.String(),
  text: Nullable(Type.String()),
  media: Type.Unknown({ description: "{url, mimetype, filename} or null" }),
  location: Type.Unknown({ description: "{latitude, longitude, name, address} or null" }),
  vcard: Nullable(Type.String()),
  replyToId: Nullable(Type.String()),
  group: Type.Unknown({ description: "{id, mentions[]} for group messages, else null" }),
  status: Type.String({ description: "queued, sent, delivered, read, played or failed" }),
  externalId: Nullable(Type.String({ description: "the WhatsApp message id" })),
  sentAt: NullableTimestamp,
  deliveredAt: NullableTimestamp,
  readAt: NullableTimestamp,
  playedAt: NullableTimestamp,
  failureReason: Nullable(Type.String()),
  attribution: Type.Unknown({ description: "Click-to-WhatsApp ad referral, or null" }),
  reactions: Type.Unknown(),
  editedAt: NullableTimestamp,
  revokedAt: NullableTimestamp,
  enrichments: Type.Array(Type.Unknown()),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});

export const ListMessagesQuery = Type.Object(
  {
    contactId: Type.Optional(Uuid),
    sessionId: Type.Optional(Uuid),
    channelId: Type.Optional(Uuid),
    direction: Type.Optional(Type.Enum(["inbound", "outbound"])),
    type: Type.Optional(Type.String({ maxLength: 20 })),
    ...PageQuery,
  },
  { additionalProperties: false },
);

export const SendMessageBody = Type.Object(
  {
    contactId: Uuid,
    channelId: Uuid,
    type: MessageTypeEnum,
    text: Type.Optional(Type.String({ minLength: 1, maxLength: 65_536 })),
    media: Type.Optional(
      Type.Object(
        {
          url: Type.String({ minLength: 1, maxLength: 4096 }),
          mimetype: Type.Optional(Type.String({ maxLength: 200 })),
          filename: Type.Optional(Type.String({ maxLength: 255 })),
        },
        { additionalProperties: false },
      ),
    ),
    location: Type.Optional(
      Type.Object(
        {
          latitude: Type.Number({ minimum: -90, maximum: 90 }),
          longitude: Type.Number({ minimum: -180, maximum: 180 }),
          name: Type.Optional(Type.String({ maxLength: 500 })),
          address: Type.Optional(Type.String({ maxLength: 500 })),
        },
        { additionalProperties: false },
      ),
    ),
    vcard: Type.Optional(Type.String({ minLength: 1, maxLength: 20_000 })),
    replyToId: Type.Optional(Uuid),
  },
  { additionalProperties: false },
);
