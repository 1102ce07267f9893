import Type, { type Static, type TSchema } from "typebox";

const ContactSnapshot = Type.Object({
  id: Type.String(),
  name: Type.String(),
  phone: Type.Union([Type.String(), Type.Null()]),
  email: Type.Union([Type.String(), Type.Null()]),
  tags: Type.Array(Type.String()),
  customFields: Type.Record(Type.String(), Type.Unknown()),
  externalId: Type.Union([Type.String(), Type.Null()]),
});

const contactExample = {
  id: "01939d6e-7a1c-7b7e-9c41-6f0e7b1d2a01",
  name: "Ana Souza",
  phone: "5511988880001",
  email: "ana@example.com",
  tags: ["lead"],
  customFields: { plan: "gold" },
  externalId: null,
};

const MessageSnapshot = Type.Object({
  id: Type.String(),
  channelId: Type.String(),
  contactId: Type.String(),
  sessionId: Type.Union([Type.String(), Type.Null()]),
  direction: Type.Enum(["inbound", "outbound"]),
  type: Type.String(),
  text: Type.Union([Type.String(), Type.Null()]),
  status: Type.String(),
  externalId: Type.Union([Type.String(), Type.Null()]),
});

const messageExample = {
  id: "01939d6e-7a1c-7b7e-9c41-6f0e7b1d2a10",
  channelId: "01939d6e-7a1c-7b7e-9c41-6f0e7b1d2a11",
  contactId: contactExample.id,
  sessionId: "01939d6e-7a1c-7b7e-9c41-6f0e7b1d2a12",
  direction: "inbound" as const,
  type: "text",
  text: "Olá! Quero saber o preço do plano anual.",
  status: "delivered",
  externalId: "false_5511988880001@c.us_3EB0A1B2C3D4E5F60001",
};

const SessionSnapshot = Type.Object({
  sessionId: Type.String(),
  contactId: Type.String(),
  channelId: Type.String(),
});

interface CatalogueEntry<S extends TSchema> {
  version: number;
  aggregate: string;
  description: string;
  schema: S;
  example: Static<S>;
}

const entry = <S extends TSchema>(e: CatalogueEntry<S>) => e;

/**
 * Every event type Ventros emits, with the schema of its `data`. Producers are typed
 * against this list, `GET /v1/event-types` serves it, and integrators subscribe by name.
 */
export const EVENT_CATALOGUE = {
  "contact.created": entry({
    version: 1,
    aggregate: "contact",
    description: "A contact was created (through the API or from a first inbound message).",
    schema: Type.Object({ contact: ContactSnapshot }),
    example: { contact: contactExample },
  }),
  "contact.updated": entry({
    version: 1,
    aggregate: "contact",
    description: "A contact's fields changed; `changes` names the fields that changed.",
    schema: Type.Object({ contact: ContactSnapshot, changes: Type.Array(Type.String()) }),
    example: { contact: { ...contactExample, tags: ["lead", "vip"] }, changes: ["tags"] },
  }),
  "contact.deleted": entry({
    version: 1,
    aggregate: "contact",
    description: "A contact was deleted (soft delete: it no longer appears in reads).",
    schema: Type.Object({ contactId: Type.String() }),
    example: { contactId: contactExample.id },
  }),
  "project.updated": entry({
    version: 1,
    aggregate: "project",
    description: "The project's name or settings changed.",
    schema: Type.Object({
      name: Type.String(),
      settings: Type.Object({ defaultSessionTimeoutMinutes: Type.Integer() }),
      changes: Type.Array(Type.String()),
    }),
    example: {
      name: "Acme",
      settings: { defaultSessionTimeoutMinutes: 30 },
      changes: ["settings"],
    },
  }),
  "api_key.created": entry({
    version: 1,
    aggregate: "api_key",
    description: "An API key was created (the key itself is never in an event).",
    schema: Type.Object({ apiKeyId: Type.String(), name: Type.String(), role: Type.String() }),
    example: { apiKeyId: "01939d6e-7a1c-7b7e-9c41-6f0e7b1d2a02", name: "zapier", role: "agent" },
  }),
  "api_key.revoked": entry({
    version: 1,
    aggregate: "api_key",
    description: "An API key was revoked and no longer authenticates.",
    schema: Type.Object({ apiKeyId: Type.String() }),
    example: { apiKeyId: "01939d6e-7a1c-7b7e-9c41-6f0e7b1d2a02" },
  }),
  "channel.status_changed": entry({
    version: 1,
    aggregate: "channel",
    description: "A WhatsApp channel's status changed (activation, or its WAHA session status).",
    schema: Type.Object({ channelId: Type.String(), from: Type.String(), to: Type.String() }),
    example: { channelId: messageExample.channelId, from: "activating", to: "active" },
  }),
  "session.started": entry({
    version: 1,
    aggregate: "session",
    description: "A conversation session began with a contact on a channel.",
    schema: Type.Object({ ...SessionSnapshot.properties, timeoutMinutes: Type.Integer() }),
    example: {
      sessionId: messageExample.sessionId,
      contactId: contactExample.id,
      channelId: messageExample.channelId,
      timeoutMinutes: 30,
    },
  }),
  "session.ended": entry({
    version: 1,
    aggregate: "session",
    description:
      "A conversation session ended (inactivity_timeout or manual_close) with its counts.",
    schema: Type.Object({
      ...SessionSnapshot.properties,
      endReason: Type.String(),
      messageCount: Type.Integer(),
      firstResponseSeconds: Type.Union([Type.Integer(), Type.Null()]),
    }),
    example: {
      sessionId: messageExample.sessionId,
      contactId: contactExample.id,
      channelId: messageExample.channelId,
      endReason: "inactivity_timeout",
      messageCount: 6,
      firstResponseSeconds: 42,
    },
  }),
  "message.received": entry({
    version: 1,
    aggregate: "message",
    description: "An inbound WhatsApp message was stored.",
    schema: Type.Object({ message: MessageSnapshot, contactId: Type.String() }),
    example: { message: messageExample, contactId: contactExample.id },
  }),
  "message.sent": entry({
    version: 1,
    aggregate: "message",
    description: "An outbound message left through WhatsApp (or was sent from another device).",
    schema: Type.Object({ message: MessageSnapshot, contactId: Type.String() }),
    example: {
      message: { ...messageExample, direction: "outbound" as const, status: "sent" },
      contactId: contactExample.id,
    },
  }),
  "message.status_changed": entry({
    version: 1,
    aggregate: "message",
    description:
      "A message's delivery status moved forward (sent, delivered, read, played, failed).",
    schema: Type.Object({
      messageId: Type.String(),
      contactId: Type.String(),
      from: Type.String(),
      to: Type.String(),
      failureReason: Type.Union([Type.String(), Type.Null()]),
    }),
    example: {
      messageId: messageExample.id,
      contactId: contactExample.id,
      from: "sent",
      to: "read",
      failureReason: null,
    },
  }),
  "message.updated": entry({
    version: 1,
    aggregate: "message",
    description: "A message was reacted to, edited or revoked.",
    schema: Type.Object({
      messageId: Type.String(),
      contactId: Type.String(),
      change: Type.Enum(["reaction", "edited", "revoked"]),
    }),
    example: {
      messageId: messageExample.id,
      contactId: contactExample.id,
      change: "reaction" as const,
    },
  }),
  "webhook_endpoint.disabled": entry({
    version: 1,
    aggregate: "webhook_endpoint",
    description:
      "A webhook endpoint was disabled: it answered 410 Gone, or every attempt failed for the configured period. Its pending deliveries are marked failed; enable it and recover them.",
    schema: Type.Object({
      endpointId: Type.String(),
      url: Type.String(),
      reason: Type.Enum(["gone", "failing"]),
      failingSince: Type.Union([Type.String(), Type.Null()]),
    }),
    example: {
      endpointId: "01939d6e-7a1c-7b7e-9c41-6f0e7b1d2a20",
      url: "https://hooks.example.com/ventros",
      reason: "failing" as const,
      failingSince: "2026-12-01T08:00:00.000Z",
    },
  }),
} as const;

export type EventType = keyof typeof EVENT_CATALOGUE;
export type EventData<T extends EventType> = Static<(typeof EVENT_CATALOGUE)[T]["schema"]>;
export const EVENT_TYPES = Object.keys(EVENT_CATALOGUE) as EventType[];
