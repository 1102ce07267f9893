import Type from "typebox";
import { Nullable, NullableTimestamp, PageQuery, Timestamp } from "./common.ts";

const CustomFieldValue = Type.Union([
  Type.String({ maxLength: 2000 }),
  Type.Number(),
  Type.Boolean(),
  Type.Null(),
]);
const CustomFields = Type.Record(
  Type.String({ pattern: "^[A-Za-z][A-Za-z0-9_.-]{0,63}$" }),
  CustomFieldValue,
  {
    description: "flat map of custom fields; on PATCH, merged (a null value removes the key)",
    // Without this, keys that do not match the pattern would be accepted unchecked.
    additionalProperties: false,
  },
);
const Tags = Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 50 });

export const Contact = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    phone: Nullable(Type.String({ description: "E.164 digits without +" })),
    email: Nullable(Type.String()),
    tags: Type.Array(Type.String()),
    customFields: Type.Record(Type.String(), Type.Unknown()),
    externalId: Nullable(Type.String()),
    whatsapp: Type.Object({ wid: Nullable(Type.String()), lid: Nullable(Type.String()) }),
    firstInteractionAt: NullableTimestamp,
    lastInteractionAt: NullableTimestamp,
    createdAt: Timestamp,
    updatedAt: Timestamp,
  },
  { description: "A person the project talks to" },
);

export const CreateContactBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    phone: Type.Optional(
      Type.String({ minLength: 1, maxLength: 40, description: "any format; stored as digits" }),
    ),
    email: Type.Optional(Type.String({ minLength: 3, maxLength: 254 })),
    tags: Type.Optional(Tags),
    customFields: Type.Optional(CustomFields),
    externalId: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  },
  { additionalProperties: false },
);

export const UpdateContactBody = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    phone: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 40 }))),
    email: Type.Optional(Nullable(Type.String({ minLength: 3, maxLength: 254 }))),
    tags: Type.Optional(Tags),
    customFields: Type.Optional(CustomFields),
    externalId: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 200 }))),
  },
  { additionalProperties: false, minProperties: 1 },
);

export const ListContactsQuery = Type.Object(
  {
    q: Type.Optional(
      Type.String({ minLength: 1, maxLength: 200, description: "search in name, email, phone" }),
    ),
    phone: Type.Optional(Type.String({ minLength: 1, maxLength: 40 })),
    email: Type.Optional(Type.String({ minLength: 1, maxLength: 254 })),
    tag: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    createdAfter: Type.Optional(Type.String({ format: "date-time" })),
    createdBefore: Type.Optional(Type.String({ format: "date-time" })),
    ...PageQuery,
  },
  { additionalProperties: false },
);
