import { describe, expect, it } from "vitest";
import { classifyNetworkError, errorCode } from "./classify-network-error.ts";
import { IntegrationError } from "./integration-error.ts";

const withCode = (code: string) => Object.assign(new Error(code), { code });

describe("classifyNetworkError", () => {
  it.each(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "UND_ERR_CONNECT_TIMEOUT"])(
    "%s happened before sending: retryable",
    (code) => {
      expect(classifyNetworkError(withCode(code), "acme")).toMatchObject({
        code: "PROVIDER_UNREACHABLE",
        kind: "unavailable",
        classification: "retryable",
      });
    },
  );

  it.each([
    "ECONNRESET",
    "EPIPE",
    "UND_ERR_SOCKET",
    "UND_ERR_HEADERS_TIMEOUT",
    "UND_ERR_BODY_TIMEOUT",
  ])("%s may come after the request was written: indeterminate", (code) => {
    expect(classifyNetworkError(withCode(code), "acme").classification).toBe("indeterminate");
  });

  it("a maybe-sent failure of an idempotent request is retryable", () => {
    const error = classifyNetworkError(withCode("ECONNRESET"), "acme", { idempotent: true });
    expect(error.classification).toBe("retryable");
  });

  it("timeouts are kind timeout", () => {
    expect(classifyNetworkError(withCode("UND_ERR_HEADERS_TIMEOUT"), "acme").kind).toBe("timeout");
  });

  it("certificate problems are permanent", () => {
    for (const code of [
      "ERR_TLS_CERT_ALTNAME_INVALID",
      "CERT_HAS_EXPIRED",
      "DEPTH_ZERO_SELF_SIGNED_CERT",
    ])
      expect(classifyNetworkError(withCode(code), "acme").classification).toBe("permanent");
  });

  it("unknown failures are indeterminate, never assumed safe", () => {
    expect(classifyNetworkError(new Error("???"), "acme").classification).toBe("indeterminate");
    expect(classifyNetworkError("a string", "acme").classification).toBe("indeterminate");
  });

  it("finds the code in the cause chain (fetch wraps undici errors)", () => {
    const wrapped = new TypeError("fetch failed", { cause: withCode("ECONNREFUSED") });
    expect(errorCode(wrapped)).toBe("ECONNREFUSED");
    expect(classifyNetworkError(wrapped, "acme").classification).toBe("retryable");
  });

  it("passes IntegrationErrors through unchanged", () => {
    const original = new IntegrationError("X", "integration", "x", {
      provider: "acme",
      classification: "permanent",
    });
    expect(classifyNetworkError(original, "other")).toBe(original);
  });
});
