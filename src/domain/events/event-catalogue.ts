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
} as const;

export type EventType = keyof typeof EVENT_CATALOGUE;
export type EventData<T extends EventType> = Static<(typeof EVENT_CATALOGUE)[T]["schema"]>;
export const EVENT_TYPES = Object.keys(EVENT_CATALOGUE) as EventType[];
