import type { FastifyReply, FastifyRequest } from "fastify";
import { AppError, isAppError } from "../platform/errors.ts";
import { rateLimitHeaders } from "../platform/rate-limit/rate-limit-headers.ts";
import type { RateLimitDecision, RateLimiter } from "../platform/rate-limit/rate-limiter.ts";

/** Per API key (authenticated API routes), per client IP, per inbound channel; per minute. */
export interface RateLimits {
  perKey: RateLimiter;
  perIp: RateLimiter;
  perChannel: RateLimiter;
}

type Authenticate = (request: FastifyRequest) => Promise<void>;

/** Probes, metrics and the API's own documentation are never limited. */
const isExempt = (route: string | undefined) =>
  route !== undefined &&
  (route.startsWith("/health/") ||
    route === "/metrics" ||
    route === "/openapi.json" ||
    route === "/docs" ||
    route.startsWith("/docs/"));

const SCOPES: Record<string, string> = {
  api_key: "this API key",
  ip: "this client address",
  channel: "this channel",
};

/** Longer inbound ids are not ours (the route refuses them); only the address counts them. */
const MAX_CHANNEL_KEY = 100;

/**
 * onRequest hook wrapping authentication with the rate limits (API.md): an API-key route
 * counts against the key once it authenticates, and a failed authentication counts
 * against the client's address (key guessing, floods); every other route (public,
 * ADMIN_TOKEN, inbound webhooks, unknown paths) counts against the address before
 * anything else, and inbound webhooks against their channel too. Responses carry
 * `x-ratelimit-limit/remaining/reset` of the tightest limit taken; a refusal is 429
 * RATE_LIMITED with `Retry-After`.
 */
export function rateLimitedAuthentication(authenticate: Authenticate, limits: RateLimits) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const route = request.routeOptions.url;
    if (isExempt(route)) return authenticate(request);
    if (request.routeOptions.config.auth?.kind === "apiKey") {
      try {
        await authenticate(request);
      } catch (error) {
        if (isAppError(error) && error.kind === "unauthorized")
          await take(reply, [[limits.perIp, request.ip]]);
        throw error;
      }
      if (request.principal) await take(reply, [[limits.perKey, request.principal.keyId]]);
      return;
    }
    const inboundId = (request.params as { inboundId?: unknown } | undefined)?.inboundId;
    const perChannel =
      route?.startsWith("/v1/inbound/") &&
      typeof inboundId === "string" &&
      inboundId.length <= MAX_CHANNEL_KEY
        ? [[limits.perChannel, inboundId] as const]
        : [];
    await take(reply, [[limits.perIp, request.ip], ...perChannel]);
    await authenticate(request);
  };
}

/** Takes a point from each limit in turn; the first refusal answers 429. */
async function take(reply: FastifyReply, limits: (readonly [RateLimiter, string])[]) {
  let tightest: RateLimitDecision | undefined;
  for (const [limiter, key] of limits) {
    const decision = await limiter.consume(key);
    if (!decision.allowed) {
      reply.headers(rateLimitHeaders(decision));
      throw rateLimited(limiter.name, decision);
    }
    if (!tightest || decision.remaining < tightest.remaining) tightest = decision;
  }
  if (tightest) reply.headers(rateLimitHeaders(tightest));
}

function rateLimited(limiter: string, decision: RateLimitDecision): AppError {
  const retryAfterSeconds = Math.max(1, Math.ceil(decision.resetMs / 1000));
  return new AppError(
    "RATE_LIMITED",
    "rate_limited",
    `Too many requests from ${SCOPES[limiter] ?? limiter}: ${decision.limit} per minute; retry in ${retryAfterSeconds} s`,
    {
      retryAfterSeconds,
      details: { scope: limiter, limit: decision.limit, windowSeconds: 60 },
    },
  );
}
