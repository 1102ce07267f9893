import type { RateLimitDecision } from "./rate-limiter.ts";

/**
 * The response headers of a rate-limit decision (API.md): `x-ratelimit-limit`,
 * `x-ratelimit-remaining`, `x-ratelimit-reset` (seconds until the window resets) and,
 * on refusal, `retry-after` (whole seconds, at least 1). Framework-free: a Fastify hook
 * copies them onto the reply.
 */
export function rateLimitHeaders(decision: RateLimitDecision): Record<string, string> {
  const resetSeconds = Math.max(0, Math.ceil(decision.resetMs / 1000));
  const headers: Record<string, string> = {
    "x-ratelimit-limit": String(decision.limit),
    "x-ratelimit-remaining": String(decision.allowed ? decision.remaining : 0),
    "x-ratelimit-reset": String(resetSeconds),
  };
  if (!decision.allowed) headers["retry-after"] = String(Math.max(1, resetSeconds));
  return headers;
}
