import { describe, expect, it } from "vitest";
import { withLocalLeases } from "./leased-rate-limiter.ts";
import type { RateLimitDecision, RateLimiter } from "./rate-limiter.ts";

/** A shared limiter with a fixed window, counting the calls made to it. */
function fakeShared(limit: number, clock: { now: number }, windowMs = 60_000) {
  let used = 0;
  let windowEnds = clock.now + windowMs;
  const calls: number[] = [];
  const shared: RateLimiter = {
    name: "api_key",
    limit,
    async consume(_key, points = 1): Promise<RateLimitDecision> {
      calls.push(points);
      if (clock.now >= windowEnds) {
        used = 0;
        windowEnds = clock.now + windowMs;
      }
      used += points;
      const allowed = used <= limit;
      return {
        allowed,
        remaining: allowed ? limit - used : 0,
        resetMs: windowEnds - clock.now,
        limit,
        store: "redis",
      };
    },
    async reset() {
      used = 0;
    },
  };
  return { shared, calls, used: () => used };
}

describe("withLocalLeases", () => {
  it("takes one chunk from the shared store per twentieth of the limit", async () => {
    const clock = { now: 0 };
    const { shared, calls } = fakeShared(1_200, clock);
    const limiter = withLocalLeases(shared, { now: () => clock.now });
    const decisions: RateLimitDecision[] = [];
    for (let i = 0; i < 120; i++) decisions.push(await limiter.consume("k"));
    expect(decisions.every((d) => d.allowed)).toBe(true);
    expect(calls).toEqual([60, 60]);
    expect(decisions[0]).toMatchObject({ remaining: 1_199, limit: 1_200, store: "redis" });
    expect(decisions[119]!.remaining).toBe(1_080);
  });

  it("never lets more than the limit through in a window, using its tail exactly", async () => {
    const clock = { now: 0 };
    const { shared, used } = fakeShared(100, clock);
    const limiter = withLocalLeases(shared, { chunk: 30, now: () => clock.now });
    let allowed = 0;
    for (let i = 0; i < 150; i++) if ((await limiter.consume("k")).allowed) allowed += 1;
    expect(allowed).toBe(100);
    expect(used()).toBeGreaterThanOrEqual(100);
    const refused = await limiter.consume("k");
    expect(refused).toMatchObject({ allowed: false, remaining: 0 });
    expect(refused.resetMs).toBeGreaterThan(0);
  });

  it("starts over when the window ends", async () => {
    const clock = { now: 0 };
    const { shared } = fakeShared(40, clock);
    const limiter = withLocalLeases(shared, { now: () => clock.now });
    for (let i = 0; i < 40; i++) expect((await limiter.consume("k")).allowed).toBe(true);
    expect((await limiter.consume("k")).allowed).toBe(false);
    clock.now += 60_000;
    expect((await limiter.consume("k")).allowed).toBe(true);
  });

  it("drops leases of a store that is no longer the one deciding (Redis lost or back)", async () => {
    const clock = { now: 0 };
    const { shared, calls } = fakeShared(1_000, clock);
    let where: "redis" | "memory" = "redis";
    const limiter = withLocalLeases(shared, { now: () => clock.now, store: () => where });
    await limiter.consume("k");
    await limiter.consume("k");
    expect(calls).toEqual([50]);
    where = "memory";
    await limiter.consume("k");
    await limiter.consume("k");
    // The Redis lease was dropped once; the new one (the fake says "redis" still) is
    // used by the call that took it, then dropped again: one refill per call, no loop.
    expect(calls).toEqual([50, 50, 50]);
  });

  it("makes concurrent requests of one key wait for a single chunk request", async () => {
    const clock = { now: 0 };
    const { shared, calls } = fakeShared(1_000, clock);
    const limiter = withLocalLeases(shared, { now: () => clock.now });
    const decisions = await Promise.all(Array.from({ length: 50 }, () => limiter.consume("k")));
    expect(decisions.every((d) => d.allowed)).toBe(true);
    expect(calls).toEqual([50]);
  });

  it("keeps keys apart and leaves small limits to the shared limiter", async () => {
    const clock = { now: 0 };
    const big = fakeShared(2_000, clock);
    const limiter = withLocalLeases(big.shared, { now: () => clock.now });
    await limiter.consume("a");
    await limiter.consume("b");
    expect(big.calls).toEqual([100, 100]);
    const small = fakeShared(10, clock);
    const direct = withLocalLeases(small.shared, { now: () => clock.now });
    await direct.consume("a");
    await direct.consume("a");
    expect(small.calls).toEqual([1, 1]);
  });
});
