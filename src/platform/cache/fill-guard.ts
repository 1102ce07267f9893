/** Why a loaded value must not be stored. */
export type UnsafeFill = "invalidated" | "slow";

/** One factory run for one key, from the moment it starts loading. */
export interface Fill {
  /** The factory starts loading now: deletes of the key from here on concern it. */
  start(): void;
  /** Whether the loaded value may be older than a write, or the fill was too slow. */
  unsafe(): UnsafeFill | undefined;
  /** Forget the fill (idempotent). */
  end(): void;
}

/**
 * The fill race: a reader loads a row, a writer commits and deletes the key, then the
 * reader stores the row it loaded before the commit, and the cache serves it until its
 * TTL. Every delete (local, or received from another instance) marks the fills running
 * for its key; a marked fill's value is answered to its caller (its read overlapped the
 * write) but never stored. A fill slower than `maxFillMs` is not stored either: the
 * writer's second delete, `2 x maxFillMs` after the first, only covers fills shorter than
 * that on instances that did not hear the first delete in time.
 */
export class FillGuard {
  private readonly active = new Map<string, Set<FillState>>();

  constructor(
    private readonly maxFillMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  begin(key: string): Fill {
    const state: FillState = { invalidated: false, startedAt: undefined };
    const forget = () => {
      const fills = this.active.get(key);
      if (!fills?.delete(state)) return;
      if (fills.size === 0) this.active.delete(key);
    };
    return {
      start: () => {
        state.startedAt = this.now();
        let fills = this.active.get(key);
        if (!fills) this.active.set(key, (fills = new Set()));
        fills.add(state);
      },
      unsafe: () => {
        if (state.invalidated) return "invalidated";
        if (state.startedAt !== undefined && this.now() - state.startedAt > this.maxFillMs)
          return "slow";
        return undefined;
      },
      end: forget,
    };
  }

  invalidate(keys: readonly string[]): void {
    for (const key of keys) {
      const fills = this.active.get(key);
      if (fills) for (const fill of fills) fill.invalidated = true;
    }
  }

  invalidateAll(): void {
    for (const fills of this.active.values()) for (const fill of fills) fill.invalidated = true;
  }

  /** Fills in progress (tests). */
  get size(): number {
    let count = 0;
    for (const fills of this.active.values()) count += fills.size;
    return count;
  }
}

interface FillState {
  invalidated: boolean;
  startedAt: number | undefined;
}
