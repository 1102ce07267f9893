import Type from "typebox";
import { Nullable, Timestamp } from "./common.ts";

export const Project = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    settings: Type.Object({ defaultSessionTimeoutMinutes: Type.Integer() }),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  },
  { description: "A tenant: every resource belongs to one project" },
);

export const CreateProjectBody = Type.Object(
  { name: Type.String({ minLength: 1, maxLength: 200 }) },
  { additionalProperties: false },
);

export const UpdateProjectBody = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    settings: Type.Optional(
      Type.Object(
        {
          defaultSessionTimeoutMinutes: Type.Optional(Type.Integer({ minimum: 1, maximum: 1440 })),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false, minProperties: 1 },
);

const Role = Type.Enum(["admin", "agent", "readonly"]);

export const ApiKey = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    role: Role,
    prefix: Type.String({ description: "first characters of the key, to recognise it" }),
    createdAt: Timestamp,
    lastUsedAt: Nullable(Timestamp),
  },
  { description: "An API key (the secret itself is shown only on creation)" },
);

export const CreateApiKeyBody = Type.Object(
  { name: Type.String({ minLength: 1, maxLength: 100 }), role: Role },
  { additionalProperties: false },
);
