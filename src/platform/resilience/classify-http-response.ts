import { IntegrationError, type Classification } from "./integration-error.ts";

/** Statuses that say "this will not work differently next time" although they are 5xx. */
const PERMANENT_5XX = new Set([501, 505, 506, 508, 510]);

/**
 * Retryable / permanent for an HTTP status the provider answered with (RFC 9110):
 * 408, 425, 429 and 5xx (except "not implemented"-like ones) are worth another try;
 * every other 4xx, and an unexpected 3xx, is permanent.
 */
export function classifyHttpStatus(status: number): Classification {
  if (status === 408 || status === 425 || status === 429) return "retryable";
  if (status >= 500 && status <= 599) return PERMANENT_5XX.has(status) ? "permanent" : "retryable";
  return "permanent";
}

/**
 * `Retry-After` as milliseconds from `nowMs`: delay-seconds or an HTTP-date (RFC 9110
 * 10.2.3). A date in the past is 0; anything unparsable is undefined.
 */
export function parseRetryAfter(
  value: string | string[] | null | undefined,
  nowMs: number = Date.now(),
): number | undefined {
  const raw = Array.isArray(value) ? value[0] : value;
  if (raw === undefined || raw === null) return undefined;
  const text = raw.trim();
  if (text === "") return undefined;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // Only the date forms HTTP allows; Date.parse would accept "1" or "2024" as well.
  if (!/^[A-Za-z]{3},? /.test(text)) return undefined;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

export interface HttpResponseLike {
  status: number;
  headers: Record<string, string | string[] | undefined> | Headers;
}

const header = (headers: HttpResponseLike["headers"], name: string) =>
  headers instanceof Headers ? (headers.get(name) ?? undefined) : headers[name];

/**
 * The IntegrationError for a non-success answer: 429 -> rate_limited, 502/503/504 ->
 * unavailable, 408 -> timeout, others -> integration; Retry-After kept as `retryAfterMs`.
 */
export function httpResponseError(
  provider: string,
  response: HttpResponseLike,
  options: { operation?: string; nowMs?: number; details?: Record<string, unknown> } = {},
): IntegrationError {
  const { status } = response;
  const classification = classifyHttpStatus(status);
  const retryAfterMs =
    classification === "retryable"
      ? parseRetryAfter(header(response.headers, "retry-after"), options.nowMs)
      : undefined;
  const [code, kind] =
    status === 429
      ? (["PROVIDER_RATE_LIMITED", "rate_limited"] as const)
      : status === 408
        ? (["PROVIDER_TIMEOUT", "timeout"] as const)
        : status === 502 || status === 503 || status === 504
          ? (["PROVIDER_UNAVAILABLE", "unavailable"] as const)
          : status >= 500
            ? (["PROVIDER_ERROR", "integration"] as const)
            : (["PROVIDER_REJECTED", "integration"] as const);
  return new IntegrationError(code, kind, `${provider} answered HTTP ${status}`, {
    provider,
    classification,
    status,
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    ...(options.operation === undefined ? {} : { operation: options.operation }),
    details: { status, ...options.details },
  });
}
