import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { vi } from "vitest";
import { TokenBucket, TokenBucketEmptyError } from "./token-bucket.ts";

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("TokenBucket", () => {
  it("lets a burst through at once, then paces callers at the rate", async () => {
    const bucket = new TokenBucket({ perSecond: 10, burst: 3 });
    const start = performance.now();
    const times: number[] = [];
    const calls = Array.from({ length: 6 }, () =>
      bucket.acquire(10_000).then(() => times.push(performance.now() - start)),
    );
    await vi.advanceTimersByTimeAsync(1_000);
    await Promise.all(calls);
    expect(times).toEqual([0, 0, 0, 100, 200, 300]);
  });

  it("refills over time, never above the burst", async () => {
    const bucket = new TokenBucket({ perSecond: 2, burst: 2 });
    await bucket.acquire(0);
    await bucket.acquire(0);
    expect(bucket.available()).toBeCloseTo(0);
    await vi.advanceTimersByTimeAsync(500);
    expect(bucket.available()).toBeCloseTo(1);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(bucket.available()).toBe(2);
  });

  it("fails without reserving when the wait would exceed the bound", async () => {
    const bucket = new TokenBucket({ perSecond: 1, burst: 1 });
    await bucket.acquire(0);
    const error = await bucket.acquire(500).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TokenBucketEmptyError);
    expect((error as TokenBucketEmptyError).retryAfterMs).toBeCloseTo(1_000);
    expect(bucket.available()).toBeCloseTo(0);
  });

  it("gives the token back when the waiting caller aborts", async () => {
    const bucket = new TokenBucket({ perSecond: 1, burst: 1 });
    await bucket.acquire(0);
    const controller = new AbortController();
    const waiting = bucket.acquire(5_000, controller.signal).catch((e: unknown) => e);
    expect(bucket.available()).toBeCloseTo(-1);
    controller.abort(new Error("stop"));
    expect(((await waiting) as Error).message).toBe("stop");
    expect(bucket.available()).toBeCloseTo(0);
  });
});
