/**
 * What a cache read came down to, the `result` label of `ventros_cache_requests_total`.
 * `bypass`: answered by the factory without touching the cache, because this instance
 * cannot currently hear other instances' invalidations (see `CacheStatus.coherent`).
 */
export type CacheResult = "hit" | "miss" | "stale" | "error" | "bypass";

export interface CacheStatus {
  /**
   * The tiers may be read: there is no Redis (one instance), or this instance's
   * invalidation bus is subscribed. When false every read goes to its factory.
   */
  coherent: boolean;
  /** Redis deletes that failed and wait to be replayed (0 without Redis). */
  pendingDeletes: number;
}

export interface CacheEntryOptions {
  /** Lifetime before the entry counts as expired; jittered down by the cache's ratio. */
  ttlMs?: number;
  /** How long after expiry the entry may still be served when its refresh fails or is slow. */
  graceMs?: number;
  /** Lifetime of a cached miss (the factory returned null or undefined); 0 = not cached. */
  negativeTtlMs?: number;
  /** The `cache` metrics label, e.g. "contact"; default the key's first segment. */
  cache?: string;
  /**
   * Tell other instances when this one stores a value it loaded (they drop their copy).
   * Needed for values an instance makes up itself (project versions: every instance must
   * end on the same one); not for rows read from the database, which writes delete
   * everywhere (default false: no bus message per miss).
   */
  announceFills?: boolean;
}

/**
 * A read-through cache: memory in every process, Redis behind it when configured, with
 * invalidations reaching every instance. Values must survive JSON (Dates do too).
 */
export interface Cache {
  /**
   * The cached value, or the factory's. One factory call per key per instance at a time
   * (concurrent callers wait for it); a factory returning null/undefined caches a miss for
   * `negativeTtlMs` and answers undefined; a factory that throws while an expired entry is
   * within its grace period answers that entry, otherwise the factory's error is thrown.
   */
  getOrSet<T>(
    key: string,
    factory: () => Promise<T | null | undefined>,
    options?: CacheEntryOptions,
  ): Promise<T | undefined>;
  /** Removes entries everywhere (memory of every instance, Redis): the next read refetches. */
  delete(...keys: string[]): Promise<void>;
  /** A cache whose keys live under `name`; its `clear()` drops only them. */
  namespace(name: string): Cache;
  /** Removes every entry of this cache (or namespace). */
  clear(): Promise<void>;
  /** Keys versioned per project: `bump()` invalidates everything cached for the project. */
  project(projectId: string): ProjectCache;
  /** Whether reads use the tiers and whether failed Redis deletes are still pending. */
  status(): CacheStatus;
  /** Closes the cache (not the Redis connection, which the app owns). */
  disconnect(): Promise<void>;
}

/** One project's entries, keyed `p:<projectId>:v<version>:<name>:<id>`. */
export interface ProjectCache {
  /** The current versioned key of an entry. */
  key(name: string, id: string): Promise<string>;
  /** `getOrSet` with `cache` defaulting to `name`. */
  getOrSet<T>(
    name: string,
    id: string,
    factory: () => Promise<T | null | undefined>,
    options?: CacheEntryOptions,
  ): Promise<T | undefined>;
  delete(name: string, id: string): Promise<void>;
  /** A new version: every entry of the project is unreachable at once, on every instance. */
  bump(): Promise<void>;
}
