import { afterEach, describe, expect, it, vi } from "vitest";
import { Mutex } from "./mutex.ts";

/** Lets every pending promise continuation run; no timers involved. */
async function settle() {
  for (let i = 0; i < 50; i += 1) await Promise.resolve();
}

afterEach(() => {
  vi.useRealTimers();
});

describe("Mutex.acquire", () => {
  it("grants an uncontended lock", async () => {
    const mutex = new Mutex();
    const release = await mutex.acquire();
    expect(typeof release).toBe("function");
    release();
  });

  it("makes a second caller wait until the first releases", async () => {
    const mutex = new Mutex();
    const releaseA = await mutex.acquire();
    let bHolds = false;
    const b = mutex.acquire().then((release) => {
      bHolds = true;
      return release;
    });
    await settle();
    expect(bHolds).toBe(false);
    releaseA();
    (await b)();
    expect(bHolds).toBe(true);
  });

  it("hands the lock over in request order", async () => {
    const mutex = new Mutex();
    const order: string[] = [];
    const releaseFirst = await mutex.acquire();
    const waiters = ["b", "c", "d", "e"].map((name) =>
      mutex.acquire().then((release) => {
        order.push(name);
        return release;
      }),
    );
    await settle();
    expect(order).toEqual([]);
    releaseFirst();
    for (let i = 0; i < waiters.length; i += 1) {
      await settle();
      // Exactly one more waiter holds the lock after each release.
      expect(order).toHaveLength(i + 1);
      (await waiters[i]!)();
    }
    expect(order).toEqual(["b", "c", "d", "e"]);
  });

  it("treats a second call of the same release as a no-op", async () => {
    const mutex = new Mutex();
    const releaseA = await mutex.acquire();
    const holders: string[] = [];
    const b = mutex.acquire().then((r) => (holders.push("b"), r));
    const c = mutex.acquire().then((r) => (holders.push("c"), r));
    releaseA();
    releaseA();
    await settle();
    expect(holders).toEqual(["b"]);
    const releaseB = await b;
    releaseA();
    await settle();
    expect(holders).toEqual(["b"]);
    releaseB();
    releaseB();
    (await c)();
    expect(holders).toEqual(["b", "c"]);
    // The lock is free again: a new caller gets it at once.
    let free = false;
    void mutex.acquire().then((r) => ((free = true), r()));
    await settle();
    expect(free).toBe(true);
  });
});

describe("Mutex.run", () => {
  it("returns the function's result", async () => {
    const mutex = new Mutex();
    await expect(mutex.run(async () => 42)).resolves.toBe(42);
  });

  it("never lets two holders overlap while they interleave async work", async () => {
    vi.useFakeTimers();
    const mutex = new Mutex();
    let active = 0;
    let maxActive = 0;
    const log: string[] = [];
    const task = (name: string, steps: number, stepMs: number) =>
      mutex.run(async () => {
        active += 1;
        maxActive = Math.max(maxActive, active);
        log.push(`${name}:start`);
        for (let s = 0; s < steps; s += 1) {
          await new Promise((resolve) => setTimeout(resolve, stepMs));
          expect(active).toBe(1);
        }
        log.push(`${name}:end`);
        active -= 1;
        return name;
      });
    // Later tasks are shorter, so without the lock they would finish first.
    const runs = [task("a", 3, 30), task("b", 2, 20), task("c", 1, 10), task("d", 2, 1)];
    await vi.runAllTimersAsync();
    await expect(Promise.all(runs)).resolves.toEqual(["a", "b", "c", "d"]);
    expect(maxActive).toBe(1);
    expect(log).toEqual([
      "a:start",
      "a:end",
      "b:start",
      "b:end",
      "c:start",
      "c:end",
      "d:start",
      "d:end",
    ]);
  });

  it("keeps many concurrent increments consistent", async () => {
    const mutex = new Mutex();
    let counter = 0;
    await Promise.all(
      Array.from({ length: 100 }, () =>
        mutex.run(async () => {
          const read = counter;
          await Promise.resolve();
          await Promise.resolve();
          counter = read + 1;
        }),
      ),
    );
    expect(counter).toBe(100);
  });

  it("releases the lock when the function throws", async () => {
    const mutex = new Mutex();
    const failure = new Error("boom");
    const failed = mutex.run(async () => {
      throw failure;
    });
    const next = mutex.run(async () => "ran after failure");
    await expect(failed).rejects.toBe(failure);
    await expect(next).resolves.toBe("ran after failure");
  });

  it("releases the lock when the function throws synchronously", async () => {
    const mutex = new Mutex();
    const failed = mutex.run(() => {
      throw new Error("sync boom");
    });
    await expect(failed).rejects.toThrow("sync boom");
    await expect(mutex.run(async () => "still usable")).resolves.toBe("still usable");
  });

  it("keeps FIFO order for waiters queued behind a failing holder", async () => {
    const mutex = new Mutex();
    const order: string[] = [];
    const results = await Promise.allSettled([
      mutex.run(async () => {
        order.push("a");
        throw new Error("a failed");
      }),
      mutex.run(async () => void order.push("b")),
      mutex.run(async () => void order.push("c")),
    ]);
    expect(order).toEqual(["a", "b", "c"]);
    expect(results.map((r) => r.status)).toEqual(["rejected", "fulfilled", "fulfilled"]);
  });
});
