import type { Config } from "../../config.ts";

export type Jitter = "full" | "decorrelated" | "proportional" | "none";

export interface RetrySettings {
  /** Attempts including the first; at least 2 (otherwise `retry` is null). */
  maxAttempts: number;
  /** Delay before the first retry; doubled for each further retry. */
  baseDelayMs: number;
  /** Cap of every delay; a provider asking (Retry-After) for longer is not retried here. */
  maxDelayMs: number;
  jitter: Jitter;
  /** `proportional` jitter: each delay moves by up to +- this ratio (default 0.2). */
  jitterRatio?: number;
  /**
   * A fixed schedule of delays (durable retries such as webhook deliveries) instead of
   * base x 2^n; the jitter applies to each entry.
   */
  scheduleMs?: number[];
}

export interface BreakerSettings {
  /** Opens when more than this ratio of the calls in the window failed (0 < r < 1). */
  failureRatio: number;
  windowMs: number;
  /** Calls in the window before it may open at all. */
  minRequests: number;
  /** Open time before one probe call is let through. */
  halfOpenAfterMs: number;
}

export interface BulkheadSettings {
  maxConcurrent: number;
  maxQueue: number;
}

export interface RateLimitSettings {
  perSecond: number;
  burst: number;
  /** Longest a call waits for a token before failing with rate_limited. */
  maxWaitMs: number;
}

/** One integration's policy; `null` switches a stage off (and costs its score points). */
export interface PolicySettings {
  /** Per attempt. */
  timeoutMs: number | null;
  retry: RetrySettings | null;
  breaker: BreakerSettings | null;
  bulkhead: BulkheadSettings | null;
  rateLimit: RateLimitSettings | null;
}

/** Config prefixes declared with `integrationPolicyEnv` (src/integration-policy-env.ts). */
export type PolicyPrefix = {
  [K in keyof Config]: K extends `${infer P}_RETRY_JITTER` ? P : never;
}[keyof Config];

/** Reads `<PREFIX>_TIMEOUT_MS`, `<PREFIX>_RETRY_*`, ... into PolicySettings. */
export function policySettingsFromConfig(config: Config, prefix: PolicyPrefix): PolicySettings {
  const values = config as unknown as Record<string, unknown>;
  const num = (suffix: string) => values[`${prefix}_${suffix}`] as number;
  const attempts = num("RETRY_ATTEMPTS");
  const perSecond = num("RATE_PER_SECOND");
  return {
    timeoutMs: num("TIMEOUT_MS") > 0 ? num("TIMEOUT_MS") : null,
    retry:
      attempts > 1
        ? {
            maxAttempts: attempts,
            baseDelayMs: num("RETRY_BASE_MS"),
            maxDelayMs: num("RETRY_MAX_DELAY_MS"),
            jitter: values[`${prefix}_RETRY_JITTER`] as Jitter,
          }
        : null,
    breaker: {
      failureRatio: num("BREAKER_FAILURE_RATIO"),
      windowMs: num("BREAKER_WINDOW_MS"),
      minRequests: num("BREAKER_MIN_REQUESTS"),
      halfOpenAfterMs: num("BREAKER_HALF_OPEN_MS"),
    },
    bulkhead: {
      maxConcurrent: num("BULKHEAD_MAX_CONCURRENT"),
      maxQueue: num("BULKHEAD_MAX_QUEUE"),
    },
    rateLimit:
      perSecond > 0
        ? { perSecond, burst: num("RATE_BURST"), maxWaitMs: num("RATE_MAX_WAIT_MS") }
        : null,
  };
}
