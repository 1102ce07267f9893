import Type from "typebox";
import { Nullable, NullableTimestamp, Timestamp } from "./common.ts";

const Url = Type.String({
  minLength: 1,
  maxLength: 2048,
  description: "http(s) URL; must resolve to public addresses unless allow-listed",
});
const EventTypes = Type.Array(
  Type.String({ minLength: 1, maxLength: 100, pattern: "^(\\*|[a-z_]+\\.(\\*|[a-z_]+))$" }),
  {
    minItems: 1,
    maxItems: 100,
    uniqueItems: true,
    description: 'catalogue types, family wildcards ("contact.*") or "*"; default ["*"]',
  },
);
// Names are RFC 9110 tokens and values field-content (HTAB, SP, VCHAR, obs-text): exactly
// what undici sends; anything else would be stored only to fail every delivery attempt.
const Headers = Type.Record(
  Type.String({ pattern: "^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$" }),
  Type.String({ maxLength: 1000, pattern: "^[\\t\\x20-\\x7e\\x80-\\xff]*$" }),
  {
    maxProperties: 20,
    // A Record only constrains names matching its key pattern; refuse every other name.
    additionalProperties: false,
    description: "extra headers sent with every delivery (stored encrypted; values never returned)",
  },
);
const RateLimit = Type.Integer({
  minimum: 1,
  maximum: 10_000,
  description: "deliveries per second to this endpoint, at most (per instance)",
});
const Description = Type.String({ maxLength: 500 });

export const WebhookEndpoint = Type.Object({
  id: Type.String(),
  url: Type.String(),
  description: Nullable(Type.String()),
  eventTypes: Type.Array(Type.String()),
  headers: Type.Record(Type.String(), Type.String(), { description: "values masked" }),
  rateLimitPerSecond: Nullable(Type.Integer()),
  status: Type.Enum(["enabled", "disabled"]),
  disabledReason: Nullable(Type.String({ description: "gone (410) or failing" })),
  disabledAt: NullableTimestamp,
  failingSince: NullableTimestamp,
  lastSuccessAt: NullableTimestamp,
  createdAt: Timestamp,
  updatedAt: Timestamp,
});

export const CreatedWebhookEndpoint = Type.Intersect([
  WebhookEndpoint,
  Type.Object({
    secret: Nullable(
      Type.String({ description: "whsec_...; shown once (null on an Idempotency-Key replay)" }),
    ),
  }),
]);

export const CreateWebhookEndpointBody = Type.Object(
  {
    url: Url,
    eventTypes: Type.Optional(EventTypes),
    description: Type.Optional(Nullable(Description)),
    headers: Type.Optional(Headers),
    rateLimitPerSecond: Type.Optional(Nullable(RateLimit)),
  },
  { additionalProperties: false },
);

export const UpdateWebhookEndpointBody = Type.Object(
  {
    url: Type.Optional(Url),
    eventTypes: Type.Optional(EventTypes),
    description: Type.Optional(Nullable(Description)),
    headers: Type.Optional(Headers),
    rateLimitPerSecond: Type.Optional(Nullable(RateLimit)),
  },
  { additionalProperties: false, minProperties: 1 },
);

export const RotateSecretBody = Type.Object(
  {
    gracePeriodSeconds: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 30 * 86_400,
        description:
          "how long the previous secret keeps signing (default WEBHOOK_SECRET_GRACE_HOURS)",
      }),
    ),
  },
  { additionalProperties: false },
);

export const RotatedSecret = Type.Object({
  secret: Nullable(Type.String({ description: "the new whsec_ secret, shown once" })),
  previousSecretsExpireAt: Timestamp,
});

export const WebhookAttempt = Type.Object({
  attempt: Type.Integer(),
  trigger: Type.Enum(["scheduled", "manual", "recover"]),
  startedAt: Timestamp,
  durationMs: Nullable(Type.Integer()),
  statusCode: Nullable(Type.Integer()),
  responseBody: Nullable(Type.String({ description: "at most WEBHOOK_MAX_RESPONSE_BYTES" })),
  responseTruncated: Type.Boolean(),
  error: Nullable(Type.String()),
  outcome: Type.Enum(["succeeded", "failed", "interrupted"]),
});

export const WebhookDelivery = Type.Object({
  id: Type.String(),
  webhookId: Type.String({ description: "the webhook-id header, the same on every attempt" }),
  endpointId: Type.String(),
  eventId: Type.String(),
  eventType: Type.String(),
  status: Type.Enum(["pending", "succeeded", "failed"]),
  attemptCount: Type.Integer(),
  nextAttemptAt: NullableTimestamp,
  lastAttemptAt: NullableTimestamp,
  lastStatusCode: Nullable(Type.Integer()),
  lastError: Nullable(Type.String()),
  createdAt: Timestamp,
  succeededAt: NullableTimestamp,
  payload: Type.Unknown({ description: "the body sent: {type, timestamp, data}" }),
  attempts: Type.Array(WebhookAttempt),
});

export const RecoverBody = Type.Object(
  { since: Type.String({ format: "date-time", description: "failed deliveries created since" }) },
  { additionalProperties: false },
);
