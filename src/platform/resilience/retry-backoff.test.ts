import type { IRetryBackoffContext } from "cockatiel";
import { describe, expect, it } from "vitest";
import { httpResponseError } from "./classify-http-response.ts";
import type { RetrySettings } from "./policy-settings.ts";
import { backoffCeiling, jitteredDelay, RetryBackoff } from "./retry-backoff.ts";

const settings = (jitter: RetrySettings["jitter"]): RetrySettings => ({
  maxAttempts: 10,
  baseDelayMs: 1_000,
  maxDelayMs: 30_000,
  jitter,
});

const context = (error?: unknown): IRetryBackoffContext<unknown> => ({
  attempt: 1,
  signal: new AbortController().signal,
  result: { error: (error ?? new Error("boom")) as Error },
});

/** A deterministic sequence of "random" numbers in [0, 1). */
const sequence = (...values: number[]) => {
  let i = 0;
  return () => values[i++ % values.length]!;
};

describe("backoff", () => {
  it("doubles from the base and stops at the maximum", () => {
    const delays = [1, 2, 3, 4, 5, 6, 7].map((n) => backoffCeiling(n, settings("none")));
    expect(delays).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000]);
  });

  it("without jitter the cockatiel backoff walks the same ceilings", () => {
    let backoff = new RetryBackoff(settings("none")).next(context());
    const seen = [backoff.duration];
    for (let i = 0; i < 5; i++) {
      backoff = backoff.next(context());
      seen.push(backoff.duration);
    }
    expect(seen).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 30_000]);
  });

  it("full jitter stays within [0, ceiling] for every retry", () => {
    for (const r of [0, 0.001, 0.25, 0.5, 0.75, 0.999999]) {
      for (let retry = 1; retry <= 8; retry++) {
        const delay = jitteredDelay(retry, 0, settings("full"), () => r);
        expect(delay).toBeGreaterThanOrEqual(0);
        expect(delay).toBeLessThanOrEqual(backoffCeiling(retry, settings("full")));
      }
    }
    expect(jitteredDelay(3, 0, settings("full"), () => 0.5)).toBe(2_000);
  });

  it("full jitter's upper bound grows x2 per retry", () => {
    const top = (retry: number) => jitteredDelay(retry, 0, settings("full"), () => 0.999999);
    expect([top(1), top(2), top(3), top(4)]).toEqual([1_000, 2_000, 4_000, 8_000]);
  });

  it("decorrelated jitter stays within [base, 3 x previous] and under the maximum", () => {
    const s = settings("decorrelated");
    const backoff = new RetryBackoff(s, sequence(0.9, 0.1, 0.99, 0.5, 0.7, 0.2, 0.95, 0.6));
    let current = backoff.next(context());
    let previous = s.baseDelayMs;
    for (let i = 0; i < 12; i++) {
      expect(current.duration).toBeGreaterThanOrEqual(s.baseDelayMs);
      expect(current.duration).toBeLessThanOrEqual(Math.min(s.maxDelayMs, previous * 3));
      previous = current.duration;
      current = current.next(context());
    }
  });

  it("never waits less than the provider's Retry-After", () => {
    const tooMany = httpResponseError("acme", { status: 429, headers: { "retry-after": "7" } });
    const backoff = new RetryBackoff(settings("full"), () => 0.1).next(context(tooMany));
    expect(backoff.duration).toBe(7_000);
    const shortRetryAfter = httpResponseError("acme", {
      status: 503,
      headers: { "retry-after": "0" },
    });
    expect(new RetryBackoff(settings("none")).next(context(shortRetryAfter)).duration).toBe(1_000);
  });
});
