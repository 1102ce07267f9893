import { describe, expect, it, vi } from "vitest";
import { httpResponseError } from "./classify-http-response.ts";
import { withFallback } from "./with-fallback.ts";

const policy = (rejecting: boolean) => ({ isRejecting: () => rejecting });

describe("withFallback", () => {
  it("uses the primary when it works", async () => {
    const fallback = vi.fn(async () => "secondary");
    const result = await withFallback(
      { policy: policy(false), call: async () => "primary" },
      fallback,
    );
    expect(result).toBe("primary");
    expect(fallback).not.toHaveBeenCalled();
  });

  it("goes straight to the fallback while the primary's circuit is open", async () => {
    const call = vi.fn(async () => "primary");
    const fallback = vi.fn(async () => "secondary");
    const result = await withFallback({ policy: policy(true), call }, fallback, {
      skipWhenOpen: true,
    });
    expect(result).toBe("secondary");
    expect(call).not.toHaveBeenCalled();
    expect(fallback).toHaveBeenCalledWith({ primaryError: undefined, skipped: true });
  });

  it("still tries the primary first when skipWhenOpen is false", async () => {
    const call = vi.fn(async () => "primary");
    await withFallback({ policy: policy(true), call }, async () => "secondary", {
      skipWhenOpen: false,
    });
    expect(call).toHaveBeenCalled();
  });

  it("falls back when the primary fails with a retryable error", async () => {
    const failure = httpResponseError("groq", { status: 503, headers: {} });
    const fallback = vi.fn(async () => "secondary");
    const result = await withFallback(
      { policy: policy(false), call: () => Promise.reject(failure) },
      fallback,
    );
    expect(result).toBe("secondary");
    expect(fallback).toHaveBeenCalledWith({ primaryError: failure, skipped: false });
  });

  it("does not fall back on a permanent error (the request itself is wrong)", async () => {
    const failure = httpResponseError("groq", { status: 400, headers: {} });
    const fallback = vi.fn(async () => "secondary");
    await expect(
      withFallback({ policy: policy(false), call: () => Promise.reject(failure) }, fallback),
    ).rejects.toBe(failure);
    expect(fallback).not.toHaveBeenCalled();
  });
});
