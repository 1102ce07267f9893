import Type from "typebox";
import { Nullable, Timestamp } from "./common.ts";

const Name = Type.String({ minLength: 1, maxLength: 200, pattern: "\\S" });
const Timeout = Type.Integer({
  minimum: 1,
  maximum: 1440,
  description: "inactivity timeout of sessions on this pipeline's channels; wins over theirs",
});
const StatusType = Type.Enum(["open", "won", "lost"]);

export const PipelineStatus = Type.Object({
  id: Type.String(),
  name: Type.String(),
  type: StatusType,
  color: Nullable(Type.String()),
  position: Type.Integer({ description: "0-based order within the pipeline" }),
});

export const Pipeline = Type.Object({
  id: Type.String(),
  name: Type.String(),
  sessionTimeoutMinutes: Nullable(Type.Integer()),
  statuses: Type.Array(PipelineStatus),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});

export const CreatePipelineBody = Type.Object(
  { name: Name, sessionTimeoutMinutes: Type.Optional(Nullable(Timeout)) },
  { additionalProperties: false },
);

export const UpdatePipelineBody = Type.Object(
  {
    name: Type.Optional(Name),
    sessionTimeoutMinutes: Type.Optional(Nullable(Timeout)),
  },
  { additionalProperties: false, minProperties: 1 },
);

export const CreatePipelineStatusBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100, pattern: "\\S" }),
    type: StatusType,
    color: Type.Optional(
      Nullable(Type.String({ pattern: "^#[0-9A-Fa-f]{6}$", description: "e.g. #22c55e" })),
    ),
    position: Type.Optional(
      Type.Integer({ minimum: 0, description: "0-based; omitted or past the end appends" }),
    ),
  },
  { additionalProperties: false },
);
