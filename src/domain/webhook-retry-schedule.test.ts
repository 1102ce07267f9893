import { describe, expect, it } from "vitest";
import {
  honourRetryAfter,
  parseDelays,
  parseRetryAfter,
  scheduledDelayMs,
} from "./webhook-retry-schedule.ts";

const DEFAULT = parseDelays("5s,5m,30m,2h,5h,10h,10h");

describe("webhook retry schedule", () => {
  it("parses the default schedule of INTEGRATIONS.md (about 27.6 h in all)", () => {
    expect(DEFAULT).toEqual([5e3, 3e5, 18e5, 72e5, 18e6, 36e6, 36e6]);
    expect(DEFAULT.reduce((a, b) => a + b, 0) / 3_600_000).toBeCloseTo(27.6, 1);
    expect(parseDelays(" 250ms , 1d")).toEqual([250, 86_400_000]);
    expect(() => parseDelays("5x")).toThrow(/not a delay/);
  });

  it("jitters each delay within +-ratio and ends after the last step", () => {
    const schedule = { delaysMs: DEFAULT, jitterRatio: 0.2 };
    expect(scheduledDelayMs(schedule, 0, () => 0)).toBe(4_000);
    expect(scheduledDelayMs(schedule, 0, () => 0.5)).toBe(5_000);
    expect(scheduledDelayMs(schedule, 0, () => 0.999999)).toBe(6_000);
    for (let i = 0; i < 200; i++) {
      const delay = scheduledDelayMs(schedule, 3)!;
      expect(delay).toBeGreaterThanOrEqual(7_200_000 * 0.8);
      expect(delay).toBeLessThanOrEqual(7_200_000 * 1.2);
    }
    expect(scheduledDelayMs(schedule, 7)).toBeNull();
  });

  it("honours Retry-After only within [scheduled, 2 x scheduled]", () => {
    const now = Date.parse("2026-12-06T10:00:00Z");
    expect(honourRetryAfter(5_000, "7", now)).toBe(7_000);
    expect(honourRetryAfter(5_000, "1", now)).toBe(5_000);
    expect(honourRetryAfter(5_000, "3600", now)).toBe(10_000);
    expect(honourRetryAfter(5_000, undefined, now)).toBe(5_000);
    expect(honourRetryAfter(5_000, "soon", now)).toBe(5_000);
    expect(honourRetryAfter(5_000, "Sun, 06 Dec 2026 10:00:08 GMT", now)).toBe(8_000);
  });

  it("reads Retry-After as seconds or an HTTP date", () => {
    const now = Date.parse("2026-12-06T10:00:00Z");
    expect(parseRetryAfter("120", now)).toBe(120_000);
    expect(parseRetryAfter("Sun, 06 Dec 2026 09:00:00 GMT", now)).toBe(0);
    expect(parseRetryAfter("", now)).toBeUndefined();
  });
});
