import type { Cache, CacheEntryOptions } from "../platform/cache/cache.ts";
import type { Logger } from "../platform/logger.ts";
import type { UnitOfWorkContext } from "./unit-of-work.ts";

/** What the services read through the cache, each named by the key it is looked up by. */
export type CachedEntity =
  /** A principal by API key hash (global: the project is what the lookup finds). */
  | "api_key"
  /** A contact by id. */
  | "contact"
  /** A contact id by phone, WhatsApp id or linked id: hints, verified before use. */
  | "contact_phone"
  | "contact_wid"
  | "contact_lid"
  /** A channel row (secrets sealed) by id. */
  | "channel"
  /** A channel row by inbound id (global: the inbound path has no project yet). */
  | "channel_inbound"
  /** A pipeline with its statuses by id. */
  | "pipeline"
  /** The active session by `<contactId>:<channelId>`. */
  | "active_session";

export interface CacheRef {
  entity: CachedEntity;
  id: string;
  /** Entries of a project live under its versioned keys; global ones have none. */
  projectId?: string;
}

/** The references of every cached entity, so keys are spelled in one place. */
export const cacheRef = {
  apiKey: (keyHash: string): CacheRef => ({ entity: "api_key", id: keyHash }),
  contact: (projectId: string, id: string): CacheRef => ({ entity: "contact", id, projectId }),
  contactBy: (
    projectId: string,
    column: "phone" | "whatsapp_wid" | "whatsapp_lid",
    value: string,
  ): CacheRef => ({
    entity:
      column === "phone"
        ? "contact_phone"
        : column === "whatsapp_wid"
          ? "contact_wid"
          : "contact_lid",
    id: value,
    projectId,
  }),
  channel: (projectId: string, id: string): CacheRef => ({ entity: "channel", id, projectId }),
  channelInbound: (inboundId: string): CacheRef => ({ entity: "channel_inbound", id: inboundId }),
  pipeline: (projectId: string, id: string): CacheRef => ({ entity: "pipeline", id, projectId }),
  activeSession: (projectId: string, contactId: string, channelId: string): CacheRef => ({
    entity: "active_session",
    id: `${contactId}:${channelId}`,
    projectId,
  }),
};

export type ReadOptions = Pick<CacheEntryOptions, "ttlMs" | "negativeTtlMs">;

/**
 * The services' read-through cache and its invalidation.
 *
 * - From before a write commits until its entries are deleted after the commit, the
 *   entries are held: reads of them on this instance go to the database and store
 *   nothing, so no reader here sees the old value once the commit is visible.
 * - Invalidation deletes at once (every instance, through the cache's bus) and once
 *   more `repeatAfterMs` later: a read on another instance that loaded the row before
 *   the commit and stored it after the first delete is removed by the second (the cache
 *   stores no fill slower than half of that delay).
 * - Invalidation never throws: the write it follows has committed.
 */
export class EntityCache {
  /** Second deletes not yet due, with what they delete. */
  private readonly repeats = new Map<NodeJS.Timeout, readonly CacheRef[]>();
  private readonly batches = new WeakMap<UnitOfWorkContext, CacheRef[]>();
  /** Entries whose write is in flight, by `keyOf`, with how many writes hold each. */
  private readonly holds = new Map<string, number>();
  private closed = false;

  constructor(
    private readonly cache: Cache,
    private readonly options: { repeatAfterMs: number; logger?: Logger },
  ) {}

  read<T>(ref: CacheRef, load: () => Promise<T | undefined>, options: ReadOptions = {}) {
    if (this.holds.has(keyOf(ref))) return load();
    if (ref.projectId)
      return this.cache.project(ref.projectId).getOrSet<T>(ref.entity, ref.id, load, options);
    return this.cache.getOrSet<T>(`${ref.entity}:${ref.id}`, load, {
      cache: ref.entity,
      ...options,
    });
  }

  /** Deletes the entries now and again after the repeat delay. */
  async invalidate(refs: readonly CacheRef[], options: { repeat?: boolean } = {}): Promise<void> {
    if (refs.length === 0) return;
    await this.deleteNow(refs);
    if (options.repeat === false || this.closed) return;
    const timer = setTimeout(() => {
      this.repeats.delete(timer);
      void this.deleteNow(refs);
    }, this.options.repeatAfterMs);
    timer.unref();
    this.repeats.set(timer, refs);
  }

  /**
   * Holds the entries from now (inside the transaction) and invalidates them after the
   * unit of work commits, before it returns to its caller; a rollback only releases
   * them. Calls in one unit of work are gathered into one delete.
   */
  afterCommit(context: UnitOfWorkContext, ...refs: CacheRef[]): void {
    this.hold(refs);
    const batch = this.batches.get(context);
    if (batch) {
      batch.push(...refs);
      return;
    }
    const refsOfContext = [...refs];
    this.batches.set(context, refsOfContext);
    context.afterCommit(async () => {
      try {
        await this.invalidate(refsOfContext);
      } finally {
        this.release(refsOfContext);
      }
    });
    context.afterRollback(() => this.release(refsOfContext));
  }

  /** A write outside a unit of work (one autocommit statement): held, run, invalidated. */
  async writing<T>(refs: readonly CacheRef[], write: () => Promise<T>): Promise<T> {
    this.hold(refs);
    try {
      const result = await write();
      await this.invalidate(refs);
      return result;
    } finally {
      this.release(refs);
    }
  }

  /** Runs the pending second deletes now (shutdown); later invalidations do not repeat. */
  async close(): Promise<void> {
    this.closed = true;
    const pending = [...this.repeats.values()].flat();
    for (const timer of this.repeats.keys()) clearTimeout(timer);
    this.repeats.clear();
    if (pending.length > 0) await this.deleteNow(pending);
  }

  private hold(refs: readonly CacheRef[]) {
    for (const ref of refs) {
      const key = keyOf(ref);
      this.holds.set(key, (this.holds.get(key) ?? 0) + 1);
    }
  }

  private release(refs: readonly CacheRef[]) {
    for (const ref of refs) {
      const key = keyOf(ref);
      const count = (this.holds.get(key) ?? 0) - 1;
      if (count > 0) this.holds.set(key, count);
      else this.holds.delete(key);
    }
  }

  private async deleteNow(refs: readonly CacheRef[]): Promise<void> {
    try {
      const keys = await Promise.all(
        refs.map((ref) =>
          ref.projectId
            ? this.cache.project(ref.projectId).key(ref.entity, ref.id)
            : `${ref.entity}:${ref.id}`,
        ),
      );
      await this.cache.delete(...new Set(keys));
    } catch (error) {
      // The cache's own replay (failed Redis deletes) and the event consumer follow up.
      this.options.logger?.warn({ err: error }, "cache invalidation failed");
    }
  }
}

const keyOf = (ref: CacheRef) => `${ref.projectId ?? ""}\u0000${ref.entity}\u0000${ref.id}`;
