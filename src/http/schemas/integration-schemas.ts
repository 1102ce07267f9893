import Type from "typebox";
import { Nullable } from "./common.ts";

const Ms = (description: string) => Type.Number({ description });

const PolicySettings = Type.Object(
  {
    timeoutMs: Nullable(Ms("per-attempt timeout; null = none")),
    retry: Nullable(
      Type.Object({
        maxAttempts: Type.Integer({ description: "attempts including the first" }),
        baseDelayMs: Ms("first retry delay, doubled per retry"),
        maxDelayMs: Ms("cap of a retry delay and of an honoured Retry-After"),
        jitter: Type.Enum(["full", "decorrelated", "proportional", "none"]),
        jitterRatio: Type.Optional(Type.Number()),
        scheduleMs: Type.Optional(Type.Array(Type.Integer(), { description: "fixed delays" })),
      }),
    ),
    breaker: Nullable(
      Type.Object({
        failureRatio: Type.Number(),
        windowMs: Ms("sampling window"),
        minRequests: Type.Integer(),
        halfOpenAfterMs: Ms("open time before a probe call"),
      }),
    ),
    bulkhead: Nullable(Type.Object({ maxConcurrent: Type.Integer(), maxQueue: Type.Integer() })),
    rateLimit: Nullable(
      Type.Object({ perSecond: Type.Number(), burst: Type.Integer(), maxWaitMs: Type.Number() }),
    ),
  },
  { description: "the live policy settings; null = that stage is off" },
);

const Points = Type.Object(
  Object.fromEntries(
    [
      "timeout",
      "retry",
      "circuitBreaker",
      "authentication",
      "signature",
      "inputValidation",
      "unitTests",
      "integrationTests",
      "e2eTests",
      "logging",
      "metrics",
    ].map((fact) => [fact, Type.Number()]),
  ),
  { description: "points each fact earned (0 when not earned)" },
);

export const Integration = Type.Object({
  name: Type.String({ description: "the `integration` metric label, e.g. waha" }),
  settings: PolicySettings,
  breaker: Type.Object({
    state: Type.Enum(["closed", "open", "half_open", "isolated", "disabled"]),
  }),
  counts: Type.Object({
    requests: Type.Integer({ description: "attempts since start, including rejected ones" }),
    errors: Type.Integer({ description: "attempts that did not succeed" }),
    retries: Type.Integer(),
    byOutcome: Type.Record(Type.String(), Type.Integer()),
  }),
  latencyMs: Nullable(
    Type.Object(
      {
        p50: Type.Number(),
        p95: Type.Number(),
        p99: Type.Number(),
        samples: Type.Integer(),
      },
      { description: "of the latest attempts that reached the provider; null before any" },
    ),
  ),
  score: Type.Object(
    {
      total: Type.Number({ description: "0-10" }),
      resilience: Type.Number(),
      security: Type.Number(),
      testing: Type.Number(),
      monitoring: Type.Number(),
      points: Points,
    },
    {
      description:
        "INTEGRATIONS.md: resilience*0.40 + security*0.25 + testing*0.20 + monitoring*0.15",
    },
  ),
});
