import { BentoCache, bentostore, errors } from "bentocache";
import { memoryDriver } from "bentocache/drivers/memory";
import type { CacheProvider, L1CacheDriver } from "bentocache/types";
import type { Logger } from "../logger.ts";
import type { Metrics } from "../metrics/metrics.ts";
import type { RedisConnection } from "../redis/redis-connection.ts";
import type { Cache, CacheEntryOptions, CacheResult } from "./cache.ts";
import { cacheSerializer } from "./cache-serializer.ts";
import { FillGuard } from "./fill-guard.ts";
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
  /**
   * A factory that ran longer than this is answered but not stored. Writers delete their
   * keys a second time after twice this (see EntityCache): a fill that read the row
   * before a commit and lands after the writer's first delete is then always removed.
   */
  maxFillMs: number;
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
 *
 * Correctness rules on top of bentocache:
 * - a value loaded while its key was deleted (here or on another instance) is not
 *   stored (FillGuard), so a read racing a write cannot put the old row back;
 * - with Redis, the tiers are read only while the invalidation bus is subscribed: until
 *   the first subscription and from the moment its connection drops, reads go to their
 *   factory ("bypass"); when it is back, the memory tier is emptied and older Redis
 *   entries are ignored, since invalidations published meanwhile were missed.
 */
export function createBentoCache(settings: CacheSettings, deps: CacheDeps = {}): Cache {
  const { metrics } = deps;
  const layer = deps.redis
    ? guardedRedisLayer(deps.redis, {
        bus: { retryQueue: { enabled: true, maxSize: 10_000, retryInterval: 1_000 } },
        ...(metrics ? { metrics } : {}),
        ...(deps.logger ? { logger: deps.logger } : {}),
      })
    : undefined;
  // The memory driver instance, kept to empty this instance's tier alone (bentocache's
  // clear() would also clear Redis and every other instance).
  const l1Base = memoryDriver({ maxItems: settings.l1MaxItems, serialize: true });
  let l1: L1CacheDriver | undefined;
  let store = bentostore().useL1Layer({
    options: l1Base.options,
    factory: (config) => (l1 = l1Base.factory(config)),
  });
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
  // bentocache builds its stack (and subscribes the bus) on first use: do it now, so the
  // subscription is not delayed until the first read.
  bento.use();

  const fills = new FillGuard(settings.maxFillMs);
  bento.on("bus:message:received", ({ message }: { message: { type: string; keys: string[] } }) => {
    if (message.type === "delete") fills.invalidate(message.keys);
    if (message.type === "clear") fills.invalidateAll();
  });
  const coherent = () => !layer || layer.subscribed();
  // With Redis, the layer sets it as its bus subscription comes and goes.
  metrics?.cacheCoherent.set(layer ? 0 : 1);
  layer?.onResubscribed(() => {
    fills.invalidateAll();
    l1?.clear();
    layer.ignoreL2Before(Date.now());
    deps.logger?.info({ integration: "redis" }, "cache bus subscribed again; memory tier emptied");
  });
  const random = deps.random ?? Math.random;
  const discarded = (reason: string) => metrics?.cacheFillsDiscarded.inc({ reason });
  /**
   * A valid memory-tier entry, read the way bentocache's own hit path reads it (driver
   * item -> `{value, logicalExpiration, tags}`, valid until its logical expiration, no
   * tags in use) without building its per-call options, lock and trace: most reads end
   * here. Anything else (miss, graced, tagged) goes through bentocache.
   */
  const memoryHit = (key: string): { value: unknown } | undefined => {
    const raw = l1?.get(key);
    if (typeof raw !== "string") return undefined;
    const item = cacheSerializer.deserialize(raw) as {
      value: unknown;
      logicalExpiration: number;
      tags?: string[];
    };
    if (Date.now() >= item.logicalExpiration || (item.tags?.length ?? 0) > 0) return undefined;
    return { value: item.value };
  };

  const facade = (provider: CacheProvider, namespace: string | undefined): Cache => {
    const record = (cache: string, result: CacheResult) =>
      metrics?.cacheRequests.inc({ cache, result });
    const cache: Cache = {
      async getOrSet<T>(
        key: string,
        factory: () => Promise<T | null | undefined>,
        options: CacheEntryOptions = {},
      ): Promise<T | undefined> {
        const label = options.cache ?? namespace ?? key.split(":", 1)[0]!;
        if (!coherent()) {
          try {
            const value = await factory();
            record(label, "bypass");
            return value ?? undefined;
          } catch (error) {
            record(label, "error");
            throw error;
          }
        }
        // The root's keys are the memory driver's own (namespaces add a prefix).
        const hit = namespace === undefined ? memoryHit(key) : undefined;
        if (hit) {
          record(label, "hit");
          return (hit.value ?? undefined) as T | undefined;
        }
        const graceMs = options.graceMs ?? settings.graceMs;
        const negativeTtlMs = options.negativeTtlMs ?? settings.negativeTtlMs;
        let ran = false;
        let settled = false;
        let failed = false;
        let returned = false;
        // Set when the loaded value must not be stored; it is still the caller's answer.
        let kept: { value: T | null | undefined } | undefined;
        const fill = fills.begin(key);
        try {
          const value = await provider.getOrSet<T | null>({
            key,
            ttl: jitterTtl(options.ttlMs ?? settings.ttlMs, settings.ttlJitterRatio, random),
            grace: graceMs > 0 ? graceMs : false,
            factory: async (context) => {
              ran = true;
              fill.start();
              let result: T | null | undefined;
              try {
                result = await factory();
              } catch (error) {
                failed = true;
                throw error;
              } finally {
                settled = true;
                // A refresh finishing in the background (soft timeout): nobody checks
                // after its store, so it is forgotten here, after the check below.
                if (returned) queueMicrotask(fill.end);
              }
              const unsafe = fill.unsafe() ?? (coherent() ? undefined : "incoherent");
              if (unsafe) {
                discarded(unsafe);
                kept = { value: result };
                return context.skip() as unknown as null;
              }
              // A fill stores what the source holds now: other instances hold the same or
              // nothing (writes delete everywhere), so no bus message unless asked; it
              // would only make every other instance drop its copy and read Redis again.
              const skipBusNotify = !options.announceFills;
              if (result !== null && result !== undefined) {
                context.setOptions({ skipBusNotify });
                return result;
              }
              if (negativeTtlMs <= 0) return context.skip() as unknown as null;
              context.setOptions({
                ttl: jitterTtl(negativeTtlMs, settings.ttlJitterRatio, random),
                skipBusNotify,
              });
              return null;
            },
          });
          // Not run: cached. Run and failed or still running (soft timeout): graced entry.
          record(label, !ran ? "hit" : failed || !settled ? "stale" : "miss");
          if (kept) return kept.value ?? undefined;
          // Invalidated between the check above and the store (a few microtasks apart):
          // what was just stored may be older than the write; remove it.
          if (ran && settled && !failed && fill.unsafe() === "invalidated") {
            discarded("invalidated");
            await provider.delete({ key });
          }
          return value ?? undefined;
        } catch (error) {
          record(label, "error");
          // Callers see their own error, not bentocache's wrapper.
          if (error instanceof errors.E_FACTORY_ERROR) throw error.cause;
          throw error;
        } finally {
          returned = true;
          if (!ran || settled) fill.end();
        }
      },
      async delete(...keys) {
        // First, synchronously: a factory running now for these keys must not store.
        fills.invalidate(keys);
        if (keys.length === 1) await provider.delete({ key: keys[0]! });
        else if (keys.length > 1) await provider.deleteMany({ keys });
      },
      namespace: (name) =>
        facade(provider.namespace(name), namespace ? `${namespace}:${name}` : name),
      async clear() {
        fills.invalidateAll();
        await provider.clear();
      },
      project: (projectId) => createProjectCache(cache, projectId),
      status: () => ({ coherent: coherent(), pendingDeletes: layer?.pendingReplays() ?? 0 }),
      async disconnect() {
        layer?.stop();
        await bento.disconnectAll();
      },
    };
    return cache;
  };
  return facade(bento, undefined);
}
