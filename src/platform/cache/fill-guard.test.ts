import { describe, expect, it } from "vitest";
import { FillGuard } from "./fill-guard.ts";

describe("FillGuard", () => {
  it("a delete of the key marks fills that started loading, and only them", () => {
    const guard = new FillGuard(1_000, () => 0);
    const running = guard.begin("contact:1");
    const other = guard.begin("contact:2");
    const notStarted = guard.begin("contact:1");
    running.start();
    other.start();
    guard.invalidate(["contact:1"]);
    expect(running.unsafe()).toBe("invalidated");
    expect(other.unsafe()).toBeUndefined();
    // It had not read anything yet: what it loads from now on is after the write.
    notStarted.start();
    expect(notStarted.unsafe()).toBeUndefined();
  });

  it("a fill slower than the limit is unsafe, a faster one is not", () => {
    let now = 0;
    const guard = new FillGuard(500, () => now);
    const fill = guard.begin("contact:1");
    fill.start();
    now = 500;
    expect(fill.unsafe()).toBeUndefined();
    now = 501;
    expect(fill.unsafe()).toBe("slow");
  });

  it("invalidateAll marks every running fill; ended fills are forgotten", () => {
    const guard = new FillGuard(1_000, () => 0);
    const a = guard.begin("a");
    const b = guard.begin("b");
    a.start();
    b.start();
    expect(guard.size).toBe(2);
    b.end();
    b.end();
    expect(guard.size).toBe(1);
    guard.invalidateAll();
    expect(a.unsafe()).toBe("invalidated");
    a.end();
    expect(guard.size).toBe(0);
  });
});
