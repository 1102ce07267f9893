import Type, { type TInteger, type TNumber } from "typebox";

/**
 * The resilience settings of one outbound integration as config schema entries, named
 * `<PREFIX>_TIMEOUT_MS`, `<PREFIX>_RETRY_*`, `<PREFIX>_BREAKER_*`, `<PREFIX>_BULKHEAD_*`,
 * `<PREFIX>_RATE_*`. Spread into ConfigSchema; read back with `policySettingsFromConfig`
 * (src/platform/resilience/policy-settings.ts). Defaults come from INTEGRATIONS.md.
 */
export interface PolicyDefaults {
  timeoutMs: number;
  attempts: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  jitter?: "full" | "decorrelated" | "none";
  breakerFailureRatio: number;
  breakerWindowMs: number;
  breakerMinRequests: number;
  breakerHalfOpenMs: number;
  bulkheadMaxConcurrent: number;
  bulkheadMaxQueue: number;
  ratePerSecond: number;
  rateBurst: number;
  rateMaxWaitMs: number;
}

type IntKey =
  | "TIMEOUT_MS"
  | "RETRY_ATTEMPTS"
  | "RETRY_BASE_MS"
  | "RETRY_MAX_DELAY_MS"
  | "BREAKER_WINDOW_MS"
  | "BREAKER_MIN_REQUESTS"
  | "BREAKER_HALF_OPEN_MS"
  | "BULKHEAD_MAX_CONCURRENT"
  | "BULKHEAD_MAX_QUEUE"
  | "RATE_BURST"
  | "RATE_MAX_WAIT_MS";
type NumberKey = "BREAKER_FAILURE_RATIO" | "RATE_PER_SECOND";

const jitter = (def: PolicyDefaults["jitter"], description: string) =>
  Type.Enum(["full", "decorrelated", "none"], { default: def ?? "full", description });

export type PolicyEnv<P extends string> = { [K in IntKey as `${P}_${K}`]: TInteger } & {
  [K in NumberKey as `${P}_${K}`]: TNumber;
} & { [K in `${P}_RETRY_JITTER`]: ReturnType<typeof jitter> };

export function integrationPolicyEnv<P extends string>(
  prefix: P,
  name: string,
  d: PolicyDefaults,
): PolicyEnv<P> {
  const int = (def: number, min: number, max: number, what: string) =>
    Type.Integer({ default: def, minimum: min, maximum: max, description: `${name}: ${what}` });
  const num = (def: number, min: number, max: number, what: string) =>
    Type.Number({ default: def, minimum: min, maximum: max, description: `${name}: ${what}` });
  const entries = {
    TIMEOUT_MS: int(d.timeoutMs, 0, 3_600_000, "per-attempt timeout in ms (0 = none)"),
    RETRY_ATTEMPTS: int(d.attempts, 1, 20, "attempts including the first (1 = no retry)"),
    RETRY_BASE_MS: int(d.backoffBaseMs, 0, 600_000, "first retry delay in ms, doubled per retry"),
    RETRY_MAX_DELAY_MS: int(
      d.backoffMaxMs,
      0,
      3_600_000,
      "longest retry delay in ms; a longer Retry-After is not waited for in-process",
    ),
    RETRY_JITTER: jitter(d.jitter, `${name}: retry delay jitter (full, decorrelated, none)`),
    BREAKER_FAILURE_RATIO: num(
      d.breakerFailureRatio,
      0.01,
      0.99,
      "circuit opens when more than this ratio of calls in the window failed (0 < r < 1)",
    ),
    BREAKER_WINDOW_MS: int(d.breakerWindowMs, 1_000, 3_600_000, "breaker sampling window in ms"),
    BREAKER_MIN_REQUESTS: int(
      d.breakerMinRequests,
      1,
      100_000,
      "calls in the window before the breaker may open",
    ),
    BREAKER_HALF_OPEN_MS: int(
      d.breakerHalfOpenMs,
      100,
      3_600_000,
      "open time in ms before one probe call (half-open)",
    ),
    BULKHEAD_MAX_CONCURRENT: int(d.bulkheadMaxConcurrent, 1, 10_000, "concurrent calls at most"),
    BULKHEAD_MAX_QUEUE: int(d.bulkheadMaxQueue, 0, 100_000, "calls waiting for a slot at most"),
    RATE_PER_SECOND: num(d.ratePerSecond, 0, 100_000, "client-side rate limit (0 = none)"),
    RATE_BURST: int(d.rateBurst, 1, 100_000, "client-side rate limit burst (bucket size)"),
    RATE_MAX_WAIT_MS: int(
      d.rateMaxWaitMs,
      0,
      600_000,
      "longest wait in ms for a rate-limit token before failing with rate_limited",
    ),
  };
  return Object.fromEntries(
    Object.entries(entries).map(([key, schema]) => [`${prefix}_${key}`, schema]),
  ) as PolicyEnv<P>;
}
