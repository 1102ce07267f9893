import Type, { type TSchema } from "typebox";

export const ErrorResponse = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: "stable machine-readable code, e.g. CONTACT_NOT_FOUND" }),
      message: Type.String(),
      details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
      requestId: Type.String(),
    }),
  },
  { $id: "ErrorResponse", description: "Every error answer has this shape" },
);

const errorRef = Type.Ref("ErrorResponse");

/** The error answers every authenticated route may give, for the OpenAPI document. */
export const errorResponses = (...extra: number[]) =>
  Object.fromEntries([400, 401, 403, 429, 503, ...extra].map((code) => [code, errorRef]));

export const IdParams = Type.Object(
  { id: Type.String({ format: "uuid", description: "resource id" }) },
  { additionalProperties: false },
);

export const PageQuery = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
  cursor: Type.Optional(
    Type.String({ maxLength: 200, description: "nextCursor of the previous page" }),
  ),
};

export const Page = <T extends TSchema>(item: T) =>
  Type.Object({ data: Type.Array(item), nextCursor: Type.Union([Type.String(), Type.Null()]) });

export const Timestamp = Type.String({ format: "date-time" });
export const NullableTimestamp = Type.Union([Timestamp, Type.Null()]);
export const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
