import { BentoCache, bentostore, errors } from "bentocache";
import { memoryDriver } from "bentocache/drivers/memory";
import type { CacheProvider } from "bentocache/types";
import type { Logger } from "../logger.ts";
import type { Metrics } from "../metrics/metrics.ts";
import type { RedisConnection } from "../redis/redis-connection.ts";
import type { Cache, CacheEntryOptions, CacheResult } from "./cache.ts";
import { cacheSerializer } from "./cache-serializer.ts";
import { guardedRedisLayer } from "./guarded-redis-driver.ts";
import { createProjectCache } from "./project-cache.ts";
import { jitterTtl } from "./ttl-jitter.ts";

export interface CacheSettings {
  /** Prefix of the Redis keys and of the bus channel, e.g. "ventros". */
  prefix: string;
  ttlMs: number;
  ttlJitterRatio: number;
  graceMs: number;
  /** A refresh slower than this serves the graced entry (and finishes in the background). */
  softTimeoutMs: number;
  negativeTtlMs: number;
  l1MaxItems: number;
}

export interface CacheDeps {
  /** Redis as second tier and invalidation bus; memory only without it. */
  redis?: RedisConnection;
  metrics?: Metrics;
  logger?: Logger;
  random?: () => number;
}

/**
 * The Cache port on bentocache: memory L1 always, Redis L2 and bus when configured.
 * Stampede protection is bentocache's per-key lock (one factory call per key per
 * process); grace periods and the soft timeout serve stale entries while the source is
 * failing or slow; misses are cached as null for `negativeTtlMs`.
 */
export function createBentoCache(settings: CacheSettings, deps: CacheDeps = {}): Cache {
  const layer = deps.redis
    ? guardedRedisLayer(deps.redis, {
        bus: { retryQueue: { enabled: true, maxSize: 10_000, retryInterval: 1_000 } },
        ...(deps.metrics ? { metrics: deps.metrics } : {}),
        ...(deps.logger ? { logger: deps.logger } : {}),
      })
    : undefined;
  let store = bentostore().useL1Layer(
    memoryDriver({ maxItems: settings.l1MaxItems, serialize: true }),
  );
  if (layer) store = store.useL2Layer(layer.l2).useBus(layer.bus);
  const bento = new BentoCache({
    default: "cache",
    // Keys in Redis and bus messages carry the prefix: deployments sharing a Redis
    // (or test runs) see only their own entries and invalidations.
    prefix: `${settings.prefix}:cache`,
    stores: { cache: store },
    serializer: cacheSerializer,
    ttl: settings.ttlMs,
    grace: settings.graceMs > 0 ? settings.graceMs : false,
    timeout: settings.softTimeoutMs,
    suppressL2Errors: true,
  });
  const random = deps.random ?? Math.random;

  const facade = (provider: CacheProvider, namespace: string | undefined): Cache => {
    const record = (cache: string, result: CacheResult) =>
      deps.metrics?.cacheRequests.inc({ cache, result });
    const cache: Cache = {
      async getOrSet<T>(
        key: string,
        factory: () => Promise<T | null | undefined>,
        options: CacheEntryOptions = {},
      ): Promise<T | undefined> {
        const label = options.cache ?? namespace ?? key.split(":", 1)[0]!;
        const graceMs = options.graceMs ?? settings.graceMs;
        const negativeTtlMs = options.negativeTtlMs ?? settings.negativeTtlMs;
        let ran = false;
        let settled = false;
        let failed = false;
        try {
          const value = await provider.getOrSet<T | null>({
            key,
            ttl: jitterTtl(options.ttlMs ?? settings.ttlMs, settings.ttlJitterRatio, random),
            grace: graceMs > 0 ? graceMs : false,
            factory: async (context) => {
              ran = true;
              let result: T | null | undefined;
              try {
                result = await factory();
              } catch (error) {
                failed = true;
                throw error;
              } finally {
                settled = true;
              }
              if (result !== null && result !== undefined) return result;
              if (negativeTtlMs <= 0) return context.skip() as unknown as null;
              context.setOptions({
                ttl: jitterTtl(negativeTtlMs, settings.ttlJitterRatio, random),
              });
              return null;
            },
          });
          // Not run: cached. Run and failed or still running (soft timeout): graced entry.
          record(label, !ran ? "hit" : failed || !settled ? "stale" : "miss");
          return value ?? undefined;
        } catch (error) {
          record(label, "error");
          // Callers see their own error, not bentocache's wrapper.
          if (error instanceof errors.E_FACTORY_ERROR) throw error.cause;
          throw error;
        }
      },
      async delete(...keys) {
        if (keys.length === 1) await provider.delete({ key: keys[0]! });
        else if (keys.length > 1) await provider.deleteMany({ keys });
      },
      namespace: (name) =>
        facade(provider.namespace(name), namespace ? `${namespace}:${name}` : name),
      clear: () => provider.clear(),
      project: (projectId) => createProjectCache(cache, projectId),
      async disconnect() {
        layer?.stop();
        await bento.disconnectAll();
      },
    };
    return cache;
  };
  return facade(bento, undefined);
}
