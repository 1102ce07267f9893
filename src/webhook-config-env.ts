import Type from "typebox";

const Int = (def: number, min: number, max: number, description: string) =>
  Type.Integer({ default: def, minimum: min, maximum: max, description });

/**
 * The integrator-webhook settings (`WEBHOOK_*`) as config schema entries, spread into
 * ConfigSchema. Defaults follow INTEGRATIONS.md (15 s per attempt, the 27.6 h schedule,
 * +-20 % jitter, an endpoint disabled after 5 days of failure).
 */
export const webhookConfigEnv = {
  WEBHOOK_ALLOW_TARGETS: Type.String({
    default: "",
    pattern: "^[0-9A-Za-z:./,* _-]*$",
    description:
      "comma-separated CIDRs and host names (`*.corp.example` wildcards) webhook endpoints may target although not public, e.g. 10.20.0.0/16,hooks.internal",
  }),
  WEBHOOK_HTTPS_ONLY: Type.Enum(["true", "false"], {
    default: "false",
    description: "refuse http:// webhook endpoint URLs",
  }),
  WEBHOOK_TIMEOUT_MS: Int(15_000, 100, 120_000, "time budget of one webhook delivery attempt"),
  WEBHOOK_RETRY_SCHEDULE: Type.String({
    default: "5s,5m,30m,2h,5h,10h,10h",
    pattern: "^\\s*\\d+(ms|s|m|h|d)(\\s*,\\s*\\d+(ms|s|m|h|d))*\\s*$",
    description:
      "delays between webhook attempts after the first (immediate) one; a message fails after the last",
  }),
  WEBHOOK_RETRY_JITTER_RATIO: Type.Number({
    default: 0.2,
    minimum: 0,
    maximum: 0.5,
    description: "each retry delay is scheduled at delay x (1 +- r), at random",
  }),
  WEBHOOK_DISABLE_AFTER_HOURS: Int(
    120,
    1,
    8_760,
    "an endpoint failing every attempt for this long is disabled (per-endpoint breaker)",
  ),
  WEBHOOK_SECRET_GRACE_HOURS: Int(
    24,
    0,
    720,
    "default time a rotated-out signing secret keeps signing beside the new one",
  ),
  WEBHOOK_RETENTION_DAYS: Int(
    30,
    1,
    3_650,
    "finished webhook deliveries (and their attempts) are kept this long",
  ),
  WEBHOOK_MAX_RESPONSE_BYTES: Int(20_480, 0, 1_048_576, "response body bytes kept per attempt"),
  WEBHOOK_CONCURRENCY: Int(64, 1, 2_000, "webhook attempts in flight per instance"),
  WEBHOOK_BATCH_SIZE: Int(200, 1, 5_000, "due deliveries claimed per dispatcher pass"),
  WEBHOOK_POLL_INTERVAL_MS: Int(500, 10, 60_000, "idle dispatcher poll (new events also wake it)"),
};
