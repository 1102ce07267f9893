import { describe, expect, it } from "vitest";
import { jitterTtl } from "./ttl-jitter.ts";

describe("jitterTtl", () => {
  it("stays within ttl x (1 - ratio) .. ttl", () => {
    for (let i = 0; i < 1_000; i++) {
      const ttl = jitterTtl(60_000, 0.1);
      expect(ttl).toBeGreaterThanOrEqual(54_000);
      expect(ttl).toBeLessThanOrEqual(60_000);
    }
  });

  it("reaches both bounds", () => {
    expect(jitterTtl(60_000, 0.1, () => 0)).toBe(60_000);
    expect(jitterTtl(60_000, 0.1, () => 1)).toBe(54_000);
  });

  it("spreads values (not one constant)", () => {
    const seen = new Set(Array.from({ length: 50 }, () => jitterTtl(60_000, 0.1)));
    expect(seen.size).toBeGreaterThan(10);
  });

  it("leaves the TTL alone without a ratio", () => {
    expect(jitterTtl(1_000, 0, () => 1)).toBe(1_000);
  });
});
