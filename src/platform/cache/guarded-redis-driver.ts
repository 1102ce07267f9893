import { RedisDriver, redisBusDriver } from "bentocache/drivers/redis";
import type { Redis } from "ioredis";
import type {
  BusDriver,
  BusOptions,
  CreateBusDriverResult,
  CreateDriverResult,
  L2CacheDriver,
} from "bentocache/types";
import type { Logger } from "../logger.ts";
import type { Metrics } from "../metrics/metrics.ts";
import type { RedisConnection } from "../redis/redis-connection.ts";

/** Failed L2 writes remembered for replay; beyond this, further ones are only logged. */
const MAX_PENDING = 100_000;

interface Shared {
  connection: RedisConnection;
  metrics: Metrics | undefined;
  logger: Logger | undefined;
  /** L2 keys a failed write may have left stale: deleted as soon as Redis answers again. */
  pending: Map<string, { driver: RedisDriver; key: string | undefined }>;
  replaying: Promise<void> | undefined;
  overflowLogged: boolean;
  /** L2 entries written before this time (epoch ms) read as missing; 0 = none. */
  ignoreBefore: number;
}

/** bentocache writes `{value, logicalExpiration, tags, createdAt}`, createdAt last. */
const WRITTEN_AT = /"createdAt":(\d+)\}$/;
const writtenAt = (serialized: string) => Number(WRITTEN_AT.exec(serialized)?.[1] ?? 0);

/**
 * Why a driver wrapper rather than a PING-only breaker: bentocache's L2 sits behind a
 * small driver interface, so every Redis operation of the cache runs through the
 * `redis` integration policy (250 ms timeout, no retry, breaker, request metrics). With
 * the breaker open, operations are refused at once and bentocache (suppressL2Errors with
 * an L1 present) answers from memory or the factory: an outage costs one command timeout
 * per call until the breaker opens, then nothing.
 *
 * A write or delete that fails leaves Redis possibly holding an older value; its key is
 * remembered and deleted when Redis answers again, before this instance reads L2.
 */
class GuardedRedisDriver implements L2CacheDriver {
  readonly type = "l2" as const;

  constructor(
    private readonly inner: RedisDriver,
    private readonly shared: Shared,
  ) {}

  namespace(namespace: string): GuardedRedisDriver {
    return new GuardedRedisDriver(this.inner.namespace(namespace), this.shared);
  }

  async get(key: string) {
    await replayPending(this.shared);
    const value = await this.call("get", () => this.inner.get(key));
    const { ignoreBefore } = this.shared;
    // After this instance lost its bus, entries older than its return may predate writes
    // whose invalidation it did not hear (or that could not reach Redis): not trusted.
    if (typeof value === "string" && ignoreBefore > 0 && writtenAt(value) < ignoreBefore)
      return undefined;
    return value;
  }

  async pull(key: string) {
    await replayPending(this.shared);
    return this.write("pull", key, () => this.inner.pull(key));
  }

  set(key: string, value: string, ttl?: number) {
    return this.write("set", key, () => this.inner.set(key, value, ttl));
  }

  delete(key: string) {
    return this.write("delete", key, () => this.inner.delete(key));
  }

  async deleteMany(keys: string[]) {
    try {
      return await this.call("deleteMany", () => this.inner.deleteMany(keys));
    } catch (error) {
      for (const key of keys) remember(this.shared, this.inner, key);
      throw error;
    }
  }

  clear() {
    return this.write("clear", undefined, () => this.inner.clear());
  }

  /** The connection belongs to the app (the rate limiter shares it); it closes it. */
  async disconnect() {}

  private async write<T>(operation: string, key: string | undefined, fn: () => Promise<T>) {
    try {
      return await this.call(operation, fn);
    } catch (error) {
      remember(this.shared, this.inner, key);
      throw error;
    }
  }

  private async call<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await this.shared.connection.run(`cache.${operation}`, fn);
    } catch (error) {
      this.shared.metrics?.cacheL2Errors.inc({ operation });
      throw error;
    }
  }
}

const prefixOf = (driver: RedisDriver) => (driver as unknown as { prefix: string }).prefix;

function remember(shared: Shared, driver: RedisDriver, key: string | undefined) {
  const id = `${prefixOf(driver)}\u0000${key ?? "*"}`;
  if (shared.pending.size >= MAX_PENDING && !shared.pending.has(id)) {
    if (!shared.overflowLogged)
      shared.logger?.error({ integration: "redis" }, "too many failed cache writes to replay");
    shared.overflowLogged = true;
    return;
  }
  shared.pending.set(id, { driver, key });
}

/** Deletes (or clears) what failed writes may have left stale; never throws. */
function replayPending(shared: Shared): Promise<void> {
  if (shared.pending.size === 0 || shared.connection.policy.isRejecting()) return Promise.resolve();
  shared.replaying ??= (async () => {
    try {
      for (const [id, { driver, key }] of shared.pending) {
        await shared.connection.run("cache.replay", async () => {
          if (key === undefined) await driver.clear();
          else await driver.delete(key);
        });
        shared.pending.delete(id);
      }
      shared.overflowLogged = false;
    } catch {
      // Redis is still away; the next read or the timer tries again.
    } finally {
      shared.replaying = undefined;
    }
  })();
  return shared.replaying;
}

export interface GuardedRedisLayer {
  l2: CreateDriverResult<L2CacheDriver>;
  bus: CreateBusDriverResult;
  /** Failed writes not yet replayed (tests, diagnostics). */
  pendingReplays(): number;
  /**
   * The invalidation bus hears other instances: its subscription is confirmed and its
   * connection has not dropped since. False until the first subscription is confirmed.
   */
  subscribed(): boolean;
  /**
   * Runs `listener` when the subscription is confirmed again after a loss, just before
   * `subscribed()` turns true: whatever was published meanwhile was missed.
   */
  onResubscribed(listener: () => void): void;
  /** From now on, L2 entries written before `epochMs` read as missing. */
  ignoreL2Before(epochMs: number): void;
  stop(): void;
}

/** How long to wait before subscribing again when a subscription attempt failed. */
const RESUBSCRIBE_DELAY_MS = 500;

/** bentocache's L2 driver and bus over the app's Redis connection, both guarded by its policy. */
export function guardedRedisLayer(
  connection: RedisConnection,
  options: { bus?: BusOptions; metrics?: Metrics; logger?: Logger },
): GuardedRedisLayer {
  const shared: Shared = {
    connection,
    metrics: options.metrics,
    logger: options.logger,
    pending: new Map(),
    replaying: undefined,
    overflowLogged: false,
    ignoreBefore: 0,
  };
  const timer = setInterval(() => void replayPending(shared), 1_000);
  timer.unref();
  const busBase = redisBusDriver({ connection: connection.client, ...options.bus });
  const bus = {
    subscribed: false,
    everSubscribed: false,
    stopped: false,
    resubscribed: [] as (() => void)[],
  };
  const confirm = () => {
    if (bus.subscribed || bus.stopped) return;
    if (bus.everSubscribed) for (const listener of bus.resubscribed) listener();
    bus.everSubscribed = true;
    bus.subscribed = true;
    options.metrics?.cacheCoherent.set(1);
  };
  const lost = () => {
    bus.subscribed = false;
    options.metrics?.cacheCoherent.set(0);
  };
  /**
   * The subscriber connection is the bus's ear. The moment it drops, invalidations may be
   * missed; when it is ready again ioredis re-sends SUBSCRIBE before anything else, so a
   * PING answered on it afterwards proves the subscription is back.
   */
  const watch = (subscriber: Redis) => {
    for (const event of ["close", "end", "reconnecting"]) subscriber.on(event, lost);
    subscriber.on("ready", () => {
      if (!bus.everSubscribed || bus.stopped) return;
      subscriber.ping().then(confirm, () => undefined);
    });
  };
  return {
    l2: {
      options: {},
      factory: (config: { prefix?: string }) =>
        new GuardedRedisDriver(
          new RedisDriver({ connection: connection.client, prefix: config.prefix ?? "" }),
          shared,
        ),
    },
    bus: {
      options: busBase.options,
      factory: (config: unknown): BusDriver => {
        const copies: Redis[] = [];
        const stopListening = connection.onDuplicate((copy) => copies.push(copy));
        let transport: BusDriver;
        try {
          transport = busBase.factory(config);
        } finally {
          stopListening();
        }
        // @boringnode/bus's RedisTransport duplicates the publisher first, then the subscriber.
        const subscriber = copies[1];
        if (copies.length !== 2 || !subscriber)
          throw new Error(`the cache bus made ${copies.length} Redis connections, expected 2`);
        watch(subscriber);
        const guarded: BusDriver = {
          setId: (id) => {
            transport.setId(id);
            return guarded;
          },
          onReconnect: (callback) => transport.onReconnect(callback),
          publish: async (channel, message) => {
            try {
              await connection.run("cache.publish", () => transport.publish(channel, message));
            } catch (error) {
              options.metrics?.cacheL2Errors.inc({ operation: "publish" });
              throw error;
            }
          },
          // bentocache subscribes once, without awaiting: a failure (Redis down at start)
          // would leave the bus deaf for good and reject unhandled. Retry until it holds.
          subscribe: async (channel, handler) => {
            while (!bus.stopped) {
              try {
                await transport.subscribe(channel, handler);
                confirm();
                return;
              } catch {
                await new Promise((resolve) => setTimeout(resolve, RESUBSCRIBE_DELAY_MS));
              }
            }
          },
          unsubscribe: (channel) => transport.unsubscribe(channel),
          disconnect: () => transport.disconnect(),
        };
        return guarded;
      },
    },
    pendingReplays: () => shared.pending.size,
    subscribed: () => bus.subscribed,
    onResubscribed: (listener) => void bus.resubscribed.push(listener),
    ignoreL2Before: (epochMs) => {
      shared.ignoreBefore = Math.max(shared.ignoreBefore, epochMs);
    },
    stop: () => {
      bus.stopped = true;
      bus.subscribed = false;
      clearInterval(timer);
    },
  };
}
