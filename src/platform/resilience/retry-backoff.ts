import type { IBackoff, IBackoffFactory, IRetryBackoffContext } from "cockatiel";
import { isIntegrationError } from "./integration-error.ts";
import type { RetrySettings } from "./policy-settings.ts";

/** The un-jittered delay before retry number `retry` (1-based): base x 2^(retry-1), capped. */
export const backoffCeiling = (retry: number, settings: RetrySettings): number =>
  Math.min(settings.maxDelayMs, settings.baseDelayMs * 2 ** (retry - 1));

/**
 * The delay before retry number `retry`:
 * - `none`: the ceiling itself;
 * - `full`: uniform in [0, ceiling] (AWS "full jitter");
 * - `decorrelated`: uniform in [base, 3 x previous delay], capped (AWS "decorrelated");
 * - `proportional`: the ceiling moved by up to +- jitterRatio (default 0.2).
 */
export function jitteredDelay(
  retry: number,
  previousMs: number,
  settings: RetrySettings,
  random: () => number,
): number {
  const { baseDelayMs: base, maxDelayMs: max } = settings;
  switch (settings.jitter) {
    case "none":
      return backoffCeiling(retry, settings);
    case "full":
      return Math.round(random() * backoffCeiling(retry, settings));
    case "proportional": {
      const spread = (random() * 2 - 1) * (settings.jitterRatio ?? 0.2);
      return Math.round(backoffCeiling(retry, settings) * (1 + spread));
    }
    case "decorrelated": {
      const upper = Math.max(base, (previousMs || base) * 3);
      return Math.min(max, Math.round(base + random() * (upper - base)));
    }
  }
}

/** The provider's Retry-After (carried by the error) is the least we wait. */
const retryAfterOf = (context: IRetryBackoffContext<unknown>) => {
  const error = "error" in context.result ? context.result.error : undefined;
  return isIntegrationError(error) ? (error.retryAfterMs ?? 0) : 0;
};

/** Cockatiel backoff: exponential x2 with jitter, never shorter than Retry-After. */
export class RetryBackoff implements IBackoffFactory<IRetryBackoffContext<unknown>> {
  constructor(
    private readonly settings: RetrySettings,
    private readonly random: () => number = Math.random,
  ) {}

  next(context: IRetryBackoffContext<unknown>): IBackoff<IRetryBackoffContext<unknown>> {
    return this.step(1, 0, context);
  }

  private step(
    retry: number,
    previousMs: number,
    context: IRetryBackoffContext<unknown>,
  ): IBackoff<IRetryBackoffContext<unknown>> {
    const jittered = jitteredDelay(retry, previousMs, this.settings, this.random);
    const duration = Math.max(jittered, retryAfterOf(context));
    return { duration, next: (ctx) => this.step(retry + 1, jittered, ctx) };
  }
}
