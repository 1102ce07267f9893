import { Redis, ReplyError, type RedisOptions } from "ioredis";
import type { Logger } from "../logger.ts";
import type { Metrics } from "../metrics/metrics.ts";
import { classifyNetworkError } from "../resilience/classify-network-error.ts";
import { IntegrationError } from "../resilience/integration-error.ts";
import {
  createIntegrationPolicy,
  type IntegrationPolicy,
} from "../resilience/integration-policy.ts";
import type { IntegrationRegistry } from "../resilience/integration-registry.ts";
import type { PolicySettings } from "../resilience/policy-settings.ts";

export interface RedisConnectionOptions {
  url: string;
  /** ioredis `commandTimeout`: a command unanswered after this fails (STACK.md: 200). */
  commandTimeoutMs: number;
  connectTimeoutMs: number;
  /** Timeout 250 ms, no retry, a breaker (INTEGRATIONS.md, Redis row). */
  policy: PolicySettings;
  /** How often an open breaker is probed with PING, so it closes without traffic. */
  probeIntervalMs?: number;
}

export interface RedisConnectionDeps {
  logger?: Logger;
  metrics?: Metrics;
  registry?: IntegrationRegistry;
}

/** One ioredis client per app and the `redis` integration policy every Redis call runs in. */
export interface RedisConnection {
  readonly client: Redis;
  readonly policy: IntegrationPolicy;
  /** Runs one Redis operation through the policy (timeout, breaker, metrics). */
  run<T>(operation: string, fn: () => Promise<T>): Promise<T>;
  /**
   * Calls `listener` with every client duplicated from `client` until the returned
   * function is called: the cache learns which connection its invalidation bus listens on.
   */
  onDuplicate(listener: (copy: Redis) => void): () => void;
  close(): Promise<void>;
}

/**
 * ioredis options that make an outage cost milliseconds (STACK.md): one retry per
 * request, a command timeout, a quick reconnect loop. The offline queue stays on
 * (`enableOfflineQueue: false` crashes bentocache); the command timeout bounds it.
 */
export function redisOptions(options: RedisConnectionOptions): RedisOptions {
  return {
    maxRetriesPerRequest: 1,
    commandTimeout: options.commandTimeoutMs,
    connectTimeout: options.connectTimeoutMs,
    retryStrategy: (times) => Math.min(times * 100, 1_000),
    lazyConnect: false,
    enableAutoPipelining: true,
    connectionName: "ventros",
  };
}

/**
 * A client whose duplicates (bentocache's bus takes two) get an `error` listener too:
 * ioredis prints "Unhandled error event" for every failed reconnect otherwise.
 */
class ListenedRedis extends Redis {
  readonly duplicateListeners = new Set<(copy: Redis) => void>();

  constructor(
    url: string,
    options: RedisOptions,
    private readonly onError: (error: Error) => void,
  ) {
    super(url, options);
    this.on("error", onError);
  }

  override duplicate(override?: Partial<RedisOptions>): Redis {
    const copy = new Redis({ ...this.options, ...override });
    copy.on("error", this.onError);
    for (const listener of this.duplicateListeners) listener(copy);
    return copy;
  }
}

/** A Redis error reply is an answer (Redis works); anything else means Redis is in trouble. */
const classifyRedisError = (error: unknown, provider: string, context: { operation: string }) =>
  error instanceof ReplyError
    ? new IntegrationError(
        "PROVIDER_REJECTED",
        "integration",
        `${provider}: ${(error as Error).message}`,
        {
          provider,
          classification: "permanent",
          operation: context.operation,
          cause: error,
        },
      )
    : classifyNetworkError(error, provider, { operation: context.operation, idempotent: true });

export function createRedisConnection(
  options: RedisConnectionOptions,
  deps: RedisConnectionDeps = {},
): RedisConnection {
  const { logger } = deps;
  let lastErrorLog = 0;
  const onError = (error: Error) => {
    // At most one line per 10 s: a reconnect loop fails several times a second.
    if (Date.now() - lastErrorLog < 10_000) return;
    lastErrorLog = Date.now();
    logger?.warn({ err: error, integration: "redis" }, "redis connection error");
  };
  const client = new ListenedRedis(options.url, redisOptions(options), onError);
  const policy = createIntegrationPolicy(
    // Commands hold nothing a signal could release: no abort (and DOMException) per call.
    { integration: "redis", abortOnReturn: false, ...options.policy },
    {
      ...(logger ? { logger } : {}),
      ...(deps.metrics ? { metrics: deps.metrics } : {}),
      ...(deps.registry ? { registry: deps.registry } : {}),
      classify: classifyRedisError,
      declared: {
        authentication: options.url.includes("@"),
        inputValidation: true,
        tests: { unit: true, integration: true },
      },
    },
  );
  const run = <T>(operation: string, fn: () => Promise<T>) =>
    policy.execute(() => fn(), { operation, idempotent: true });

  // The breaker moves to half-open lazily, on a call; when every read is an L1 hit no
  // call comes, so an open breaker is probed with PING to notice that Redis is back.
  const probe = setInterval(() => {
    if (policy.breakerState() === "closed" || policy.isRejecting()) return;
    run("ping", () => client.ping()).catch(() => undefined);
  }, options.probeIntervalMs ?? 1_000);
  probe.unref();

  return {
    client,
    policy,
    run,
    onDuplicate(listener) {
      client.duplicateListeners.add(listener);
      return () => client.duplicateListeners.delete(listener);
    },
    async close() {
      clearInterval(probe);
      // quit() waits for Redis; during an outage disconnect() ends at once.
      if (client.status === "ready") await client.quit().catch(() => client.disconnect());
      else client.disconnect();
    },
  };
}
