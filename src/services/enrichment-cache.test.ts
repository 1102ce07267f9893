import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createBentoCache } from "../platform/cache/bento-cache.ts";
import type { Cache } from "../platform/cache/cache.ts";
import { contentHash, EnrichmentCache, type EnrichmentKey } from "./enrichment-cache.ts";

describe("EnrichmentCache", () => {
  let cache: Cache;
  let enrichments: EnrichmentCache;
  const key: EnrichmentKey = {
    projectId: "p1",
    kind: "transcription",
    provider: "groq",
    model: "whisper-large-v3",
    contentHash: contentHash(Buffer.from("OggS voice note bytes")),
  };

  beforeEach(() => {
    cache = createBentoCache({
      prefix: "test",
      ttlMs: 60_000,
      ttlJitterRatio: 0,
      graceMs: 0,
      softTimeoutMs: 100,
      negativeTtlMs: 5_000,
      l1MaxItems: 100,
      maxFillMs: 5_000,
    });
    enrichments = new EnrichmentCache(cache);
  });
  afterEach(() => cache.disconnect());

  it("computes a result once per content, provider and model", async () => {
    const compute = vi.fn(async () => ({ text: "Olá, quero o plano anual" }));
    expect(await enrichments.getOrCompute(key, compute)).toEqual({
      text: "Olá, quero o plano anual",
    });
    expect(await enrichments.getOrCompute(key, compute)).toEqual({
      text: "Olá, quero o plano anual",
    });
    expect(compute).toHaveBeenCalledTimes(1);
    // Another model, content or project is another result.
    await enrichments.getOrCompute({ ...key, model: "whisper-1" }, compute);
    await enrichments.getOrCompute({ ...key, contentHash: contentHash("other") }, compute);
    await enrichments.getOrCompute({ ...key, projectId: "p2" }, compute);
    expect(compute).toHaveBeenCalledTimes(4);
  });

  it("concurrent requests for one content share one computation", async () => {
    let release!: (value: { text: string }) => void;
    const compute = vi.fn(() => new Promise<{ text: string }>((resolve) => (release = resolve)));
    const calls = Array.from({ length: 5 }, () => enrichments.getOrCompute(key, compute));
    await vi.waitFor(() => expect(compute).toHaveBeenCalledTimes(1));
    release({ text: "one" });
    expect(await Promise.all(calls)).toEqual(Array(5).fill({ text: "one" }));
  });

  it("does not cache failures or empty results; forget() drops a result", async () => {
    await expect(
      enrichments.getOrCompute(key, async () => Promise.reject(new Error("provider 503"))),
    ).rejects.toThrow("provider 503");
    expect(await enrichments.getOrCompute(key, async () => undefined)).toBeUndefined();
    expect(await enrichments.getOrCompute(key, async () => ({ text: "ok" }))).toEqual({
      text: "ok",
    });
    await enrichments.forget(key);
    expect(await enrichments.getOrCompute(key, async () => ({ text: "again" }))).toEqual({
      text: "again",
    });
  });
});
