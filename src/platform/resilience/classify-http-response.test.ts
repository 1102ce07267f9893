import { describe, expect, it } from "vitest";
import {
  classifyHttpStatus,
  httpResponseError,
  parseRetryAfter,
} from "./classify-http-response.ts";
import { IntegrationError } from "./integration-error.ts";

describe("classifyHttpStatus", () => {
  it.each([
    [408, "retryable"],
    [425, "retryable"],
    [429, "retryable"],
    [500, "retryable"],
    [502, "retryable"],
    [503, "retryable"],
    [504, "retryable"],
    [599, "retryable"],
    [501, "permanent"],
    [505, "permanent"],
    [400, "permanent"],
    [401, "permanent"],
    [403, "permanent"],
    [404, "permanent"],
    [409, "permanent"],
    [422, "permanent"],
    [301, "permanent"],
  ])("%i is %s", (status, expected) => {
    expect(classifyHttpStatus(status)).toBe(expected);
  });
});

describe("parseRetryAfter", () => {
  const now = Date.parse("2026-03-01T12:00:00Z");

  it("reads delay-seconds", () => {
    expect(parseRetryAfter("120", now)).toBe(120_000);
    expect(parseRetryAfter(" 0 ", now)).toBe(0);
    expect(parseRetryAfter(["3", "9"], now)).toBe(3_000);
  });

  it("reads an HTTP-date relative to now, and a past date as 0", () => {
    expect(parseRetryAfter("Sun, 01 Mar 2026 12:00:30 GMT", now)).toBe(30_000);
    expect(parseRetryAfter("Sun, 01 Mar 2026 11:00:00 GMT", now)).toBe(0);
  });

  it("ignores what is neither", () => {
    for (const value of [undefined, null, "", "soon", "-5", "1.5", "0x10", "Tomorrow"])
      expect(parseRetryAfter(value as string | undefined, now)).toBeUndefined();
  });
});

describe("httpResponseError", () => {
  it("429 is rate_limited and retryable, with Retry-After in ms", () => {
    const error = httpResponseError("acme", { status: 429, headers: { "retry-after": "2" } });
    expect(error).toBeInstanceOf(IntegrationError);
    expect(error).toMatchObject({
      code: "PROVIDER_RATE_LIMITED",
      kind: "rate_limited",
      provider: "acme",
      classification: "retryable",
      retryable: true,
      retryAfterMs: 2_000,
      retryAfterSeconds: 2,
      status: 429,
    });
  });

  it("503 is unavailable and honours an HTTP-date from a Headers object", () => {
    const now = Date.parse("2026-03-01T12:00:00Z");
    const headers = new Headers({ "retry-after": "Sun, 01 Mar 2026 12:00:05 GMT" });
    const error = httpResponseError("acme", { status: 503, headers }, { nowMs: now });
    expect(error).toMatchObject({ kind: "unavailable", retryAfterMs: 5_000 });
  });

  it("4xx is permanent and ignores Retry-After", () => {
    const error = httpResponseError("acme", { status: 400, headers: { "retry-after": "5" } });
    expect(error).toMatchObject({
      code: "PROVIDER_REJECTED",
      classification: "permanent",
      retryable: false,
      retryAfterMs: undefined,
    });
  });

  it("408 is a retryable timeout; 500 a retryable integration error", () => {
    expect(httpResponseError("acme", { status: 408, headers: {} })).toMatchObject({
      kind: "timeout",
      classification: "retryable",
    });
    expect(httpResponseError("acme", { status: 500, headers: {} })).toMatchObject({
      code: "PROVIDER_ERROR",
      kind: "integration",
      classification: "retryable",
    });
  });
});
