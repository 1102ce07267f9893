import type { Config } from "../../config.ts";
import type { Logger } from "../logger.ts";
import type { Metrics } from "../metrics/metrics.ts";
import { createRedisConnection, type RedisConnection } from "../redis/redis-connection.ts";
import type { IntegrationRegistry } from "../resilience/integration-registry.ts";
import { policySettingsFromConfig } from "../resilience/policy-settings.ts";
import { withLocalLeases } from "../rate-limit/leased-rate-limiter.ts";
import { createRateLimiter, type RateLimiter } from "../rate-limit/rate-limiter.ts";
import { createBentoCache, type CacheSettings } from "./bento-cache.ts";
import type { Cache } from "./cache.ts";
import { passThroughCache } from "./pass-through-cache.ts";

export interface CachePlatform {
  cache: Cache;
  /** Per API key, per client IP and per inbound channel, all per minute. */
  rateLimits: { perKey: RateLimiter; perIp: RateLimiter; perChannel: RateLimiter };
  /** Present when REDIS_URL is set; its policy is the `redis` row of /v1/integrations. */
  redis: RedisConnection | undefined;
  close(): Promise<void>;
}

export function cacheSettingsFromConfig(config: Config): CacheSettings {
  return {
    prefix: config.REDIS_KEY_PREFIX,
    ttlMs: config.CACHE_TTL_MS,
    ttlJitterRatio: config.CACHE_TTL_JITTER_RATIO,
    graceMs: config.CACHE_GRACE_MS,
    softTimeoutMs: config.CACHE_SOFT_TIMEOUT_MS,
    negativeTtlMs: config.CACHE_NEGATIVE_TTL_MS,
    l1MaxItems: config.CACHE_L1_MAX_ITEMS,
    maxFillMs: Math.floor(config.CACHE_INVALIDATION_REPEAT_MS / 2),
  };
}

/** The cache, the rate limiters and the Redis connection they share, from config. */
export function createCachePlatform(
  config: Config,
  deps: { logger?: Logger; metrics?: Metrics; registry?: IntegrationRegistry } = {},
): CachePlatform {
  const redis = config.REDIS_URL
    ? createRedisConnection(
        {
          url: config.REDIS_URL,
          commandTimeoutMs: config.REDIS_COMMAND_TIMEOUT_MS,
          connectTimeoutMs: config.REDIS_CONNECT_TIMEOUT_MS,
          policy: policySettingsFromConfig(config, "REDIS"),
        },
        deps,
      )
    : undefined;
  const shared = {
    ...(redis ? { redis } : {}),
    ...(deps.metrics ? { metrics: deps.metrics } : {}),
  };
  const cache =
    config.CACHE_ENABLED === "true"
      ? createBentoCache(cacheSettingsFromConfig(config), { ...deps, ...shared })
      : passThroughCache(deps.metrics);
  // Busy keys spend leases of their window locally: a Redis round trip per 1/20th of
  // the limit rather than per request (see withLocalLeases).
  const perMinute = (name: string, points: number) =>
    withLocalLeases(
      createRateLimiter(
        { name, points, durationSeconds: 60, prefix: config.REDIS_KEY_PREFIX },
        // Decisions are counted by the lease layer, once per request.
        redis ? { redis } : {},
      ),
      {
        store: () => (redis && !redis.policy.isRejecting() ? "redis" : "memory"),
        ...(deps.metrics ? { metrics: deps.metrics } : {}),
      },
    );
  return {
    cache,
    rateLimits: {
      perKey: perMinute("api_key", config.RATE_LIMIT_PER_KEY_PER_MINUTE),
      perIp: perMinute("ip", config.RATE_LIMIT_PER_IP_PER_MINUTE),
      perChannel: perMinute("channel", config.RATE_LIMIT_PER_CHANNEL_PER_MINUTE),
    },
    redis,
    async close() {
      await cache.disconnect();
      await redis?.close();
    },
  };
}
