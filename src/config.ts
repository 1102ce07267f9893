import { existsSync, readFileSync } from "node:fs";
import Type, { type Static, type TSchema } from "typebox";
import Value from "typebox/value";
import { integrationPolicyEnv } from "./integration-policy-env.ts";
import { webhookConfigEnv } from "./webhook-config-env.ts";

/**
 * The one place that reads the environment. Every setting is declared here with its
 * default; `.env.example` mirrors this schema. Numbers and booleans arrive as strings
 * and are converted before validation so that all problems are reported together.
 */
const Int = (def: number, min: number, max: number, description: string) =>
  Type.Integer({ default: def, minimum: min, maximum: max, description });
const Str = (def: string, description: string) => Type.String({ default: def, description });
const OptionalSecret = (description: string) =>
  Type.Optional(Type.String({ minLength: 1, description }));

export const ConfigSchema = Type.Object({
  NODE_ENV: Type.Enum(["development", "production", "test"], {
    default: "development",
    description: "development loads .env; production expects real settings",
  }),
  PORT: Int(8080, 0, 65535, "HTTP port"),
  HOST: Str("0.0.0.0", "HTTP bind address"),
  LOG_LEVEL: Type.Enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"], {
    default: "info",
    description: "pino log level",
  }),
  DATA_DIR: Str("./data", "directory for the embedded database and generated keys"),
  DATABASE_URL: OptionalSecret("PostgreSQL URL; unset = embedded PGlite under DATA_DIR"),
  DATABASE_POOL_MAX: Int(10, 1, 200, "PostgreSQL pool size"),
  DATABASE_STATEMENT_TIMEOUT_MS: Int(30_000, 100, 600_000, "statement_timeout per query"),
  DATABASE_CONNECT_TIMEOUT_MS: Int(5_000, 100, 60_000, "time to wait for a pool connection"),
  ADMIN_TOKEN: Type.Optional(
    Type.String({ minLength: 16, description: "enables POST /v1/projects (min 16 chars)" }),
  ),
  BOOTSTRAP_PROJECT_NAME: Str("Default", "name of the project created on first start"),
  BODY_LIMIT_BYTES: Int(1_048_576, 1024, 52_428_800, "largest accepted request body"),
  REQUEST_TIMEOUT_MS: Int(30_000, 1_000, 600_000, "server request timeout"),
  KEEP_ALIVE_TIMEOUT_MS: Int(72_000, 1_000, 600_000, "idle keep-alive socket timeout"),
  SHUTDOWN_TIMEOUT_MS: Int(15_000, 100, 600_000, "drain budget on SIGTERM before forcing"),
  IDEMPOTENCY_TTL_HOURS: Int(24, 1, 720, "how long Idempotency-Key responses are kept"),
  JOBS_POLL_INTERVAL_SECONDS: Type.Number({
    default: 1,
    minimum: 0.5,
    maximum: 60,
    description: "how often idle job workers poll",
  }),
  JOBS_RETRY_LIMIT: Int(8, 0, 100, "default attempts after the first for a failing job"),
  JOBS_RETRY_DELAY_SECONDS: Int(1, 1, 3600, "base of the exponential retry backoff"),
  AMQP_URL: OptionalSecret("RabbitMQ URL; unset = in-process event bus on durable jobs"),
  AMQP_PREFIX: Type.String({
    default: "ventros",
    pattern: "^[A-Za-z0-9_.-]{1,100}$",
    description: "prefix of the exchanges and queues Ventros declares",
  }),
  AMQP_PUBLISH_TIMEOUT_MS: Int(5_000, 100, 60_000, "publisher-confirm timeout"),
  AMQP_PREFETCH: Int(20, 1, 1_000, "unacknowledged deliveries per consumer"),
  AMQP_BREAKER_THRESHOLD: Int(5, 1, 1_000, "consecutive publish failures that open the breaker"),
  AMQP_BREAKER_HALF_OPEN_MS: Int(5_000, 100, 600_000, "open time before a probe publish"),
  OUTBOX_POLL_INTERVAL_MS: Int(200, 10, 60_000, "idle relay poll (commits also wake it)"),
  OUTBOX_BATCH_SIZE: Int(200, 1, 5_000, "events per relay pass"),
  OUTBOX_RETENTION_HOURS: Int(72, 1, 8_760, "published events kept for stream resumption"),
  EVENT_STREAM_HEARTBEAT_MS: Int(15_000, 1_000, 300_000, "server-sent events heartbeat"),
  OUTBOUND_ALLOW_CIDRS: Type.String({
    default: "",
    pattern: "^[0-9A-Fa-f:./, ]*$",
    description:
      "comma-separated CIDRs outbound calls may reach although not public (on-premise hosts), e.g. 10.20.0.0/16,fd00::/8",
  }),
  OUTBOUND_HTTPS_ONLY: Type.Enum(["true", "false"], {
    default: "false",
    description: "refuse plain http:// outbound URLs",
  }),
  OUTBOUND_CONNECT_TIMEOUT_MS: Int(5_000, 100, 120_000, "outbound HTTP connect timeout"),
  OUTBOUND_HEADERS_TIMEOUT_MS: Int(30_000, 100, 600_000, "outbound HTTP wait for response headers"),
  OUTBOUND_BODY_TIMEOUT_MS: Int(30_000, 100, 600_000, "outbound HTTP longest pause in a body"),
  OUTBOUND_MAX_RESPONSE_BYTES: Int(26_214_400, 1_024, 1_073_741_824, "largest outbound response"),
  ...webhookConfigEnv,
  ...integrationPolicyEnv("WAHA", "WAHA", {
    timeoutMs: 15_000,
    attempts: 3,
    backoffBaseMs: 1_000,
    backoffMaxMs: 30_000,
    breakerFailureRatio: 0.5,
    breakerWindowMs: 30_000,
    breakerMinRequests: 10,
    breakerHalfOpenMs: 10_000,
    bulkheadMaxConcurrent: 20,
    bulkheadMaxQueue: 100,
    ratePerSecond: 20,
    rateBurst: 20,
    rateMaxWaitMs: 5_000,
  }),
  ...integrationPolicyEnv("MEDIA", "media downloads", {
    timeoutMs: 60_000,
    attempts: 3,
    backoffBaseMs: 500,
    backoffMaxMs: 10_000,
    breakerFailureRatio: 0.5,
    breakerWindowMs: 60_000,
    breakerMinRequests: 10,
    breakerHalfOpenMs: 15_000,
    bulkheadMaxConcurrent: 10,
    bulkheadMaxQueue: 50,
    ratePerSecond: 20,
    rateBurst: 20,
    rateMaxWaitMs: 5_000,
  }),
  WAHA_HISTORY_TIMEOUT_MS: Int(60_000, 0, 600_000, "WAHA: per-attempt timeout of history pages"),
  WAHA_MIN_SEND_GAP_MS: Int(1_000, 0, 600_000, "WAHA: least time between two sends on one session"),
  WAHA_CONTACT_HOURLY_LIMIT: Int(60, 1, 10_000, "WAHA: messages to one contact per rolling hour"),
  WAHA_SEND_RETRY_LIMIT: Int(10, 0, 100, "WAHA: send job retries for retryable errors"),
  REDIS_URL: OptionalSecret(
    "Redis URL (redis://[:password@]host:port/db); unset = memory-only cache and rate limits",
  ),
  REDIS_KEY_PREFIX: Type.String({
    default: "ventros",
    pattern: "^[A-Za-z0-9_.:-]{1,100}$",
    description: "prefix of every Redis key (cache entries, rate-limit counters, bus channel)",
  }),
  REDIS_COMMAND_TIMEOUT_MS: Int(200, 10, 60_000, "ioredis commandTimeout per Redis command"),
  REDIS_CONNECT_TIMEOUT_MS: Int(1_000, 100, 60_000, "ioredis connectTimeout"),
  ...integrationPolicyEnv("REDIS", "Redis", {
    timeoutMs: 250,
    attempts: 1,
    backoffBaseMs: 0,
    backoffMaxMs: 0,
    jitter: "none",
    breakerFailureRatio: 0.5,
    breakerWindowMs: 10_000,
    breakerMinRequests: 5,
    breakerHalfOpenMs: 2_000,
    bulkheadMaxConcurrent: 2_000,
    bulkheadMaxQueue: 20_000,
    ratePerSecond: 0,
    rateBurst: 1,
    rateMaxWaitMs: 0,
  }),
  CACHE_ENABLED: Type.Enum(["true", "false"], {
    default: "true",
    description: "false turns every read-through cache into a pass-through (benchmarks)",
  }),
  CACHE_TTL_MS: Int(300_000, 1_000, 86_400_000, "default lifetime of a cached entry"),
  CACHE_TTL_JITTER_RATIO: Type.Number({
    default: 0.1,
    minimum: 0,
    maximum: 0.5,
    description: "entries live a random ttl x (1 - r) .. ttl so that they do not expire together",
  }),
  CACHE_GRACE_MS: Int(
    600_000,
    0,
    86_400_000,
    "how long an expired entry may still be served when refreshing it fails or is slow",
  ),
  CACHE_SOFT_TIMEOUT_MS: Int(
    100,
    0,
    60_000,
    "a refresh slower than this serves the expired entry and finishes in the background",
  ),
  CACHE_NEGATIVE_TTL_MS: Int(5_000, 0, 3_600_000, "lifetime of a cached miss (not found)"),
  CACHE_L1_MAX_ITEMS: Int(10_000, 100, 10_000_000, "entries kept in each process's memory tier"),
  CACHE_INVALIDATION_REPEAT_MS: Int(
    1_000,
    20,
    60_000,
    "writers delete their cache entries again after this; reads slower than half of it are not cached",
  ),
  RATE_LIMIT_PER_KEY_PER_MINUTE: Int(1_200, 1, 1_000_000, "API requests per API key per minute"),
  RATE_LIMIT_PER_IP_PER_MINUTE: Int(
    600,
    1,
    1_000_000,
    "requests per client IP per minute on unauthenticated and inbound routes",
  ),
  RATE_LIMIT_PER_CHANNEL_PER_MINUTE: Int(
    6_000,
    1,
    10_000_000,
    "inbound provider webhooks per channel per minute",
  ),
  PUBLIC_BASE_URL: Type.String({
    default: "http://localhost:8080",
    format: "uri",
    description: "our public URL; WAHA is told to post events to <this>/v1/inbound/waha/<id>",
  }),
  INBOUND_BODY_LIMIT_BYTES: Int(5_242_880, 1_024, 52_428_800, "largest accepted provider webhook"),
  ENCRYPTION_KEY: Type.Optional(
    Type.String({
      pattern: "^[A-Za-z0-9+/]{43}=$",
      description:
        "base64 of 32 bytes (AES-256-GCM for provider secrets); embedded default: DATA_DIR/encryption.key",
    }),
  ),
});

export type Config = Static<typeof ConfigSchema>;

/** Settings that hold credentials: accepted as `NAME_FILE`, redacted from logs. */
export const SECRET_KEYS = [
  "DATABASE_URL",
  "AMQP_URL",
  "REDIS_URL",
  "ADMIN_TOKEN",
  "ENCRYPTION_KEY",
] as const;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

type Env = Record<string, string | undefined>;

/** Builds a Config from an environment map, listing every problem at once. */
export function loadConfig(env: Env): Config {
  const problems: string[] = [];
  const raw: Record<string, unknown> = {};
  const properties = ConfigSchema.properties as Record<string, TSchema>;
  for (const key of Object.keys(properties)) {
    const direct = env[key];
    const file = env[`${key}_FILE`];
    if ((SECRET_KEYS as readonly string[]).includes(key) && file !== undefined && file !== "") {
      if (direct !== undefined && direct !== "")
        problems.push(`${key} and ${key}_FILE are both set`);
      try {
        raw[key] = readFileSync(file, "utf8").trim();
      } catch (err) {
        problems.push(`${key}_FILE: cannot read ${file} (${(err as Error).message})`);
      }
    } else if (direct !== undefined && direct !== "") {
      raw[key] = toNumberIfNumeric(properties[key], direct);
    }
  }
  const withDefaults = Value.Default(ConfigSchema, raw);
  for (const error of Value.Errors(ConfigSchema, withDefaults)) {
    const params = error.params as Record<string, unknown>;
    const field =
      error.instancePath.replace(/^\//, "") || String(params["requiredProperties"] ?? "");
    const allowed = params["allowedValues"] as unknown[] | undefined;
    const message = allowed ? `must be one of ${allowed.join(", ")}` : error.message;
    problems.push(
      `${field}: ${message}${field in raw ? ` (got ${describe(field, raw[field])})` : ""}`,
    );
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return withDefaults as Config;
}

/**
 * Only plain decimals become numbers: Value.Convert would silently read "true" as 1,
 * "0x1F" as 31 and "12.5" as 12 for an integer, instead of reporting them.
 */
function toNumberIfNumeric(schema: TSchema | undefined, value: string): unknown {
  const type = (schema as { type?: unknown } | undefined)?.type;
  const numeric = type === "integer" || type === "number";
  return numeric && /^\s*-?\d+(\.\d+)?\s*$/.test(value) ? Number(value) : value;
}

function describe(key: string, value: unknown): string {
  return (SECRET_KEYS as readonly string[]).includes(key) ? "[redacted]" : JSON.stringify(value);
}

/** A copy safe to log: every secret replaced whole. */
export function redactConfig(config: Config): Record<string, unknown> {
  const out: Record<string, unknown> = { ...config };
  for (const key of SECRET_KEYS) if (out[key] !== undefined) out[key] = "[redacted]";
  return out;
}

/**
 * The process environment, after loading `./.env` when not in production (variables
 * already set win). Entry points call this; everything else receives a Config.
 */
export function readEnvironment(): Env {
  if (process.env["NODE_ENV"] !== "production" && existsSync(".env")) process.loadEnvFile(".env");
  return process.env;
}
