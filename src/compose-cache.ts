import type { Config } from "./config.ts";
import type { ReadinessCheck } from "./http/routes/operations-routes.ts";
import { createCachePlatform, type CachePlatform } from "./platform/cache/cache-from-config.ts";
import type { Logger } from "./platform/logger.ts";
import type { Metrics } from "./platform/metrics/metrics.ts";
import type { IntegrationRegistry } from "./platform/resilience/integration-registry.ts";
import { cacheInvalidationConsumer } from "./services/cache-invalidation-consumer.ts";
import { EnrichmentCache } from "./services/enrichment-cache.ts";
import { EntityCache } from "./services/entity-cache.ts";

/**
 * Part of the composition root: the cache platform (memory tier, Redis tier and bus,
 * rate limiters, the `redis` integration policy), the services' read-through on it, the
 * event consumer that backs invalidation durably, and Redis's readiness entry.
 */
export function composeCache({
  config,
  logger,
  metrics,
  integrations,
}: {
  config: Config;
  logger: Logger;
  metrics: Metrics;
  integrations: IntegrationRegistry;
}) {
  const platform = createCachePlatform(config, { logger, metrics, registry: integrations });
  const entities = new EntityCache(platform.cache, {
    repeatAfterMs: config.CACHE_INVALIDATION_REPEAT_MS,
    logger,
  });
  const consumer = cacheInvalidationConsumer({
    cache: entities,
    confirmed: () => platform.cache.status().pendingDeletes === 0,
  });
  const readiness: ReadinessCheck[] = platform.redis ? [redisReadiness(platform)] : [];
  return {
    platform,
    entities,
    /** For the AI enrichments (transcripts, descriptions, extracted text). */
    enrichments: new EnrichmentCache(platform.cache),
    consumer,
    readiness,
    /** After the HTTP server and the job workers: pending second deletes, then Redis. */
    async close() {
      await entities.close();
      await platform.close();
    },
  };
}

/**
 * Redis in /health/ready: PING through the `redis` policy (an open breaker answers at
 * once), its breaker state and whether the cache is in use or bypassed. Never fails
 * readiness: without Redis every answer still comes, correct, from memory and the database.
 */
function redisReadiness(platform: CachePlatform): ReadinessCheck {
  const redis = platform.redis!;
  return {
    name: "redis",
    code: "REDIS_UNAVAILABLE",
    critical: false,
    check: async () => {
      await redis.run("ping", () => redis.client.ping());
    },
    details: () => ({
      breaker: redis.policy.breakerState(),
      cache: platform.cache.status().coherent ? "in_use" : "bypassed",
    }),
  };
}
