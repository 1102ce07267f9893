import { randomBytes } from "node:crypto";
import type { Cache, ProjectCache } from "./cache.ts";

/** Versions outlive every entry; a lost version only orphans entries (a new one is drawn). */
const VERSION_TTL_MS = 7 * 24 * 3_600_000;

/**
 * Keys `p:<projectId>:v<version>:<name>:<id>`. The version is itself a cache entry
 * (`pv:<projectId>`, memory and Redis, no grace); `bump()` writes a new one and the bus
 * makes every instance re-read it, so all the project's entries become unreachable at
 * once and expire on their own. Versions are random, not counters: a version evicted
 * from memory or lost with Redis can never come back and revive old entries.
 */
export function createProjectCache(cache: Cache, projectId: string): ProjectCache {
  const versionKey = `pv:${projectId}`;
  const fresh = () => randomBytes(6).toString("base64url");
  const version = async () =>
    (await cache.getOrSet(versionKey, () => Promise.resolve(fresh()), {
      ttlMs: VERSION_TTL_MS,
      graceMs: 0,
      negativeTtlMs: 0,
      cache: "project_version",
      // Instances drawing a version at once must all end on the last one stored.
      announceFills: true,
    }))!;
  const project: ProjectCache = {
    key: async (name, id) => `p:${projectId}:v${await version()}:${name}:${id}`,
    async getOrSet(name, id, factory, options = {}) {
      return cache.getOrSet(await project.key(name, id), factory, { cache: name, ...options });
    },
    async delete(name, id) {
      await cache.delete(await project.key(name, id));
    },
    async bump() {
      // Deleting the version is the bump: the next read draws a new one, everywhere.
      await cache.delete(versionKey);
    },
  };
  return project;
}
