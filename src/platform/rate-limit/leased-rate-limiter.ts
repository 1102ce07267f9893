import type { Metrics } from "../metrics/metrics.ts";
import type { RateLimitDecision, RateLimiter } from "./rate-limiter.ts";

/** A share of a key's window taken from the shared store, spent locally. */
interface Lease {
  left: number;
  /** The shared store's points left when the lease was taken. */
  sharedRemaining: number;
  expiresAt: number;
  store: RateLimitDecision["store"];
}

/** Past this many keys, expired leases are swept (a key seen once leaves one behind). */
const SWEEP_AT = 10_000;

/**
 * Takes points from the shared limiter (Redis) in chunks and spends them in process, so
 * a busy key costs one Redis round trip per `chunk` requests instead of one each. The
 * limit still holds across instances: every point spent was taken from the shared
 * count first. What a lease has not spent when its window ends is lost, so an instance
 * can leave up to `chunk - 1` points of a window unused; near the end of a window it
 * asks only for what the store said was left. Chunks are 1/20th of the limit (at least
 * 1), so limits under 40 behave exactly like the shared limiter. Concurrent requests of
 * one key wait for a single chunk request. A lease belongs to the store it came from:
 * when `store()` says Redis is away (or back), leases of the other store are dropped, so
 * decisions follow the store at once. Every decision is counted here (`metrics`), one
 * per request, not per chunk.
 */
export function withLocalLeases(
  shared: RateLimiter,
  options: {
    chunk?: number;
    now?: () => number;
    /** Where the shared limiter decides now (Redis unless its breaker is open). */
    store?: () => RateLimitDecision["store"];
    metrics?: Metrics;
  } = {},
): RateLimiter {
  const chunk = Math.max(1, options.chunk ?? Math.floor(shared.limit / 20));
  const now = options.now ?? Date.now;
  const store = options.store ?? (() => "redis" as const);
  const count = (decision: RateLimitDecision) => {
    options.metrics?.rateLimitDecisions.inc({
      limiter: shared.name,
      outcome: decision.allowed ? "allowed" : "refused",
      store: decision.store,
    });
    return decision;
  };
  const leases = new Map<string, Lease>();
  const inFlight = new Map<string, Promise<RateLimitDecision>>();

  const spend = (lease: Lease, points: number, at: number): RateLimitDecision => {
    lease.left -= points;
    return {
      allowed: true,
      remaining: Math.max(0, lease.sharedRemaining + lease.left),
      resetMs: Math.max(0, lease.expiresAt - at),
      limit: shared.limit,
      store: lease.store,
    };
  };

  const refill = async (key: string, points: number, previous: Lease | undefined) => {
    // Ask for a whole chunk, or only what is left of the window when that is less.
    const known = previous && previous.expiresAt > now() ? previous.sharedRemaining : Infinity;
    const want = Math.max(points, Math.min(chunk, known));
    const decision = await shared.consume(key, want);
    if (decision.allowed) {
      if (leases.size >= SWEEP_AT) {
        const at = now();
        for (const [k, l] of leases) if (l.expiresAt <= at) leases.delete(k);
      }
      leases.set(key, {
        left: want,
        sharedRemaining: decision.remaining,
        expiresAt: now() + decision.resetMs,
        store: decision.store,
      });
    } else leases.delete(key);
    return decision;
  };

  const limiter: RateLimiter = {
    name: shared.name,
    limit: shared.limit,
    async consume(key, points = 1) {
      if (chunk === 1) return count(await shared.consume(key, points));
      // A lease this call just took is used whatever store() says by now: dropping it
      // again when the two disagree (a Redis call failing under a closed breaker) would
      // refill forever.
      let fresh = false;
      for (;;) {
        const at = now();
        let lease = leases.get(key);
        if (lease && !fresh && lease.store !== store()) {
          leases.delete(key);
          lease = undefined;
        }
        if (lease && lease.expiresAt > at && lease.left >= points)
          return count(spend(lease, points, at));
        let request = inFlight.get(key);
        if (!request) {
          request = refill(key, points, lease).finally(() => inFlight.delete(key));
          inFlight.set(key, request);
          const decision = await request;
          if (!decision.allowed) return count(decision);
          fresh = true;
          continue;
        }
        const decision = await request;
        // Someone else's refill was refused: so is this request.
        if (!decision.allowed) return count(decision);
        fresh = true;
      }
    },
    async reset(key) {
      leases.delete(key);
      await shared.reset(key);
    },
  };
  return limiter;
}
