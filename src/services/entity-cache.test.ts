import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createBentoCache } from "../platform/cache/bento-cache.ts";
import type { Cache } from "../platform/cache/cache.ts";
import { cacheRef, EntityCache } from "./entity-cache.ts";
import type { UnitOfWorkContext } from "./unit-of-work.ts";

const REPEAT_MS = 1_000;

/** A unit of work's context whose commit or rollback the test decides. */
function fakeUnitOfWork() {
  const committed: (() => void | Promise<void>)[] = [];
  const rolledBack: (() => void)[] = [];
  const context = {
    afterCommit: (fn: () => void | Promise<void>) => committed.push(fn),
    afterRollback: (fn: () => void) => rolledBack.push(fn),
  } as unknown as UnitOfWorkContext;
  return {
    context,
    committed,
    commit: async () => {
      for (const fn of committed) await fn();
    },
    rollback: () => rolledBack.forEach((fn) => fn()),
  };
}

describe("EntityCache", () => {
  let cache: Cache;
  let entities: EntityCache;
  let deletes: string[][];
  const ref = cacheRef.contact("p1", "c1");

  beforeEach(() => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    cache = createBentoCache({
      prefix: "test",
      ttlMs: 60_000,
      ttlJitterRatio: 0,
      graceMs: 0,
      softTimeoutMs: 100,
      negativeTtlMs: 5_000,
      l1MaxItems: 100,
      maxFillMs: REPEAT_MS / 2,
    });
    deletes = [];
    const original = cache.delete.bind(cache);
    vi.spyOn(cache, "delete").mockImplementation(async (...keys) => {
      deletes.push(keys);
      await original(...keys);
    });
    entities = new EntityCache(cache, { repeatAfterMs: REPEAT_MS });
  });
  afterEach(async () => {
    vi.useRealTimers();
    await entities.close();
    await cache.disconnect();
  });

  it("reads through a project's versioned key and caches misses too", async () => {
    const load = vi.fn(async () => ({ name: "Ana" }));
    expect(await entities.read(ref, load)).toEqual({ name: "Ana" });
    expect(await entities.read(ref, load)).toEqual({ name: "Ana" });
    expect(load).toHaveBeenCalledTimes(1);
    const missing = vi.fn(async () => undefined);
    await entities.read(cacheRef.contact("p1", "none"), missing);
    await entities.read(cacheRef.contact("p1", "none"), missing);
    expect(missing).toHaveBeenCalledTimes(1);
    // Global entities (no project) have plain keys.
    await entities.read(cacheRef.apiKey("hash"), async () => "principal");
    await entities.invalidate([ref, cacheRef.apiKey("hash")]);
    expect(deletes[0]).toEqual([await cache.project("p1").key("contact", "c1"), "api_key:hash"]);
  });

  it("deletes at once and once more after the repeat delay", async () => {
    await entities.read(ref, async () => "v1");
    await entities.invalidate([ref]);
    expect(deletes).toHaveLength(1);
    expect(await entities.read(ref, async () => "v2")).toBe("v2");
    // A slower reader elsewhere stored the old row after the first delete:
    await cache.project("p1").delete("contact", "c1");
    await cache.project("p1").getOrSet("contact", "c1", async () => "stale");
    await vi.advanceTimersByTimeAsync(REPEAT_MS - 1);
    expect(deletes).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(deletes).toHaveLength(3);
    expect(await entities.read(ref, async () => "v2")).toBe("v2");
  });

  it("from afterCommit until the commit's delete, reads go to the loader and store nothing", async () => {
    await entities.read(ref, async () => "old");
    const uow = fakeUnitOfWork();
    entities.afterCommit(uow.context, ref);
    // The transaction wrote but has not committed: the loader answers (old or new).
    expect(await entities.read(ref, async () => "from database")).toBe("from database");
    expect(await entities.read(ref, async () => "again")).toBe("again");
    expect(deletes).toHaveLength(0);
    await uow.commit();
    expect(deletes).toHaveLength(1);
    expect(await entities.read(ref, async () => "new")).toBe("new");
    expect(await entities.read(ref, async () => "cached now")).toBe("new");
  });

  it("gathers one unit of work's refs into one delete; a rollback only releases them", async () => {
    const uow = fakeUnitOfWork();
    entities.afterCommit(uow.context, ref);
    entities.afterCommit(uow.context, cacheRef.pipeline("p1", "x"), ref);
    expect(uow.committed).toHaveLength(1);
    await uow.commit();
    expect(deletes).toHaveLength(1);
    expect(deletes[0]).toHaveLength(2);

    await entities.read(ref, async () => "kept");
    const failed = fakeUnitOfWork();
    entities.afterCommit(failed.context, ref);
    failed.rollback();
    expect(deletes).toHaveLength(1);
    expect(await entities.read(ref, async () => "unused")).toBe("kept");
  });

  it("writing() holds the entries during the write and invalidates after, even when it fails", async () => {
    await entities.read(ref, async () => "old");
    const during = await entities.writing([ref], async () =>
      entities.read(ref, async () => "loaded while writing"),
    );
    expect(during).toBe("loaded while writing");
    expect(deletes).toHaveLength(1);
    await expect(
      entities.writing([ref], async () => Promise.reject(new Error("constraint"))),
    ).rejects.toThrow("constraint");
    expect(await entities.read(ref, async () => "after")).toBe("after");
    expect(await entities.read(ref, async () => "cached")).toBe("after");
  });

  it("never throws for a failed delete (the write has committed)", async () => {
    vi.mocked(cache.delete).mockRejectedValueOnce(new Error("redis down"));
    await expect(entities.invalidate([ref])).resolves.toBeUndefined();
  });

  it("close() runs the pending second deletes at once", async () => {
    await entities.invalidate([ref]);
    await entities.close();
    expect(deletes).toHaveLength(2);
    await entities.invalidate([ref]);
    await vi.advanceTimersByTimeAsync(REPEAT_MS * 2);
    expect(deletes).toHaveLength(3);
  });
});
