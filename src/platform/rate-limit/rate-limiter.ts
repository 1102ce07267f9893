import {
  RateLimiterMemory,
  RateLimiterRedis,
  RateLimiterRes,
  type RateLimiterAbstract,
} from "rate-limiter-flexible";
import type { Metrics } from "../metrics/metrics.ts";
import type { RedisConnection } from "../redis/redis-connection.ts";

export interface RateLimitDecision {
  allowed: boolean;
  /** Points left in the current window (0 when refused). */
  remaining: number;
  /** Milliseconds until the window resets (and, when refused, until a retry may pass). */
  resetMs: number;
  /** Points per window. */
  limit: number;
  /** Who counted: Redis (shared by every instance) or this process's insurance limiter. */
  store: "redis" | "memory";
}

/** A fixed-window limiter keyed by caller (API key, IP, channel). */
export interface RateLimiter {
  readonly name: string;
  readonly limit: number;
  /** Takes `points` (default 1) from `key`'s window; never throws for a store outage. */
  consume(key: string, points?: number): Promise<RateLimitDecision>;
  /** Forgets `key` (tests, an operator lifting a block). */
  reset(key: string): Promise<void>;
}

export interface RateLimiterOptions {
  /** The `limiter` metrics label and part of the Redis key, e.g. "api_key". */
  name: string;
  points: number;
  /** Window length in whole seconds. */
  durationSeconds: number;
  /** Prefix of the Redis keys, e.g. "ventros". */
  prefix: string;
}

export interface RateLimiterDeps {
  /** Shared counters across instances; without it each process counts alone. */
  redis?: RedisConnection;
  metrics?: Metrics;
}

/**
 * rate-limiter-flexible: RateLimiterRedis with a RateLimiterMemory insurance limiter
 * when Redis is configured, memory only otherwise. The insurance is applied here rather
 * than through the library's `insuranceLimiter` option so that Redis failures reach the
 * `redis` breaker (the library would swallow them) and, while the breaker is open,
 * decisions skip Redis at once instead of paying a command timeout each. While Redis
 * is away every instance counts alone, so the effective limit is per instance.
 */
export function createRateLimiter(options: RateLimiterOptions, deps: RateLimiterDeps = {}) {
  const keyPrefix = `${options.prefix}:rl:${options.name}`;
  const common = { keyPrefix, points: options.points, duration: options.durationSeconds };
  const memory = new RateLimiterMemory(common);
  const { redis } = deps;
  const shared = redis
    ? new RateLimiterRedis({ ...common, storeClient: redis.client, rejectIfRedisNotReady: true })
    : undefined;

  const decide = (res: RateLimiterRes, allowed: boolean, store: "redis" | "memory") => {
    deps.metrics?.rateLimitDecisions.inc({
      limiter: options.name,
      outcome: allowed ? "allowed" : "refused",
      store,
    });
    return {
      allowed,
      remaining: allowed ? Math.max(0, res.remainingPoints) : 0,
      resetMs: Math.max(0, res.msBeforeNext),
      limit: options.points,
      store,
    };
  };
  /** A refusal is an answer, not a failure: it resolves as `refused`. */
  const settle = async (limiter: RateLimiterAbstract, key: string, points: number) => {
    try {
      return { res: await limiter.consume(key, points), allowed: true };
    } catch (error) {
      if (error instanceof RateLimiterRes) return { res: error, allowed: false };
      throw error;
    }
  };

  const limiter: RateLimiter = {
    name: options.name,
    limit: options.points,
    async consume(key, points = 1) {
      if (shared && redis && !redis.policy.isRejecting()) {
        try {
          const { res, allowed } = await redis.run("rateLimit.consume", () =>
            settle(shared, key, points),
          );
          return decide(res, allowed, "redis");
        } catch {
          // Redis failed or the breaker refused: the insurance limiter decides.
        }
      }
      const { res, allowed } = await settle(memory, key, points);
      return decide(res, allowed, "memory");
    },
    async reset(key) {
      await memory.delete(key);
      if (shared && redis) await redis.run("rateLimit.delete", () => shared.delete(key));
    },
  };
  return limiter;
}
