import type { Metrics } from "../metrics/metrics.ts";
import type { Cache } from "./cache.ts";
import { createProjectCache } from "./project-cache.ts";

/** CACHE_ENABLED=false: every read goes to its factory (benchmarks compare against it). */
export function passThroughCache(metrics?: Metrics, namespace?: string): Cache {
  const cache: Cache = {
    async getOrSet(key, factory, options = {}) {
      const label = options.cache ?? namespace ?? key.split(":", 1)[0]!;
      try {
        const value = await factory();
        metrics?.cacheRequests.inc({ cache: label, result: "miss" });
        return value ?? undefined;
      } catch (error) {
        metrics?.cacheRequests.inc({ cache: label, result: "error" });
        throw error;
      }
    },
    delete: async () => undefined,
    namespace: (name) => passThroughCache(metrics, namespace ? `${namespace}:${name}` : name),
    clear: async () => undefined,
    project: (projectId) => createProjectCache(cache, projectId),
    status: () => ({ coherent: true, pendingDeletes: 0 }),
    disconnect: async () => undefined,
  };
  return cache;
}
