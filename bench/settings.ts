/** The knobs, read once from the environment; defaults keep a full run near three minutes. */
export interface BenchSettings {
  durationMs: number;
  warmupMs: number;
  /**
   * Concurrent callers per backend (HTTP load and the raw-driver baseline alike).
   * BENCH_CONCURRENCY sets both; by default PostgreSQL gets 16, PGlite 2.
   */
  concurrency: { pglite: number; postgres: number };
  /** When set, PostgreSQL is measured too, in a fresh database made on this server. */
  databaseUrl: string | undefined;
  /** Passed to the app's config and used as the raw pg.Pool size. */
  poolMax: string | undefined;
  /** The app's LOG_LEVEL: silent, unless BENCH_APP_LOG_LEVEL asks to see its errors. */
  appLogLevel: string;
  /** BENCH_SUITES: which parts run, in this order (default all). */
  suites: Suite[];
  /** When set, the events suite measures RabbitMQ (raw amqplib and the app's bus) too. */
  amqpUrl: string | undefined;
  /** When set, the cache suite runs the app with its Redis tier and bus. */
  redisUrl: string | undefined;
  events: {
    /** Paced production rate (BENCH_EVENTS_RATE, default 1000/s). */
    ratePerSecond: number;
    /** Events of the max-throughput runs (BENCH_EVENTS_BURST, default 2000). */
    burst: number;
    /** What makes the events: contacts.create (a domain change) or a bare outbox write. */
    producer: EventProducerKind;
  };
  inbound: {
    /** Paced POST rate (BENCH_INBOUND_RATE, default 500/s). */
    ratePerSecond: number;
    /** Distinct WhatsApp senders the messages come from (BENCH_INBOUND_CONTACTS). */
    contacts: number;
  };
  /** How long to wait for deliveries / processing after producing ends. */
  drainTimeoutMs: number;
  /** Passed to the apps when set (the job workers' idle poll). */
  jobsPollIntervalSeconds: string | undefined;
}

export const SUITES = ["contacts", "events", "inbound", "webhooks", "cache"] as const;
export type Suite = (typeof SUITES)[number];
export type EventProducerKind = "contacts" | "outbox";

function suitesOf(raw: string | undefined): Suite[] {
  if (raw === undefined || raw.trim() === "") return [...SUITES];
  const names = raw.split(",").map((s) => s.trim().toLowerCase());
  const unknown = names.filter((n) => !(SUITES as readonly string[]).includes(n));
  if (unknown.length > 0 || names.length === 0) {
    throw new Error(`BENCH_SUITES takes a comma list of ${SUITES.join(", ")} (got ${raw})`);
  }
  return SUITES.filter((s) => names.includes(s));
}

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) {
    throw new Error(`${name} must be an integer >= ${min} (got ${JSON.stringify(raw)})`);
  }
  return value;
}

function producerOf(raw: string | undefined): EventProducerKind {
  if (raw === undefined || raw === "" || raw === "contacts") return "contacts";
  if (raw === "outbox") return "outbox";
  throw new Error(`BENCH_EVENTS_PRODUCER must be contacts or outbox (got ${JSON.stringify(raw)})`);
}

export function readSettings(env: NodeJS.ProcessEnv): BenchSettings {
  // PGlite has one connection behind a mutex: more callers only queue, so keep it low.
  const concurrency = env["BENCH_CONCURRENCY"]
    ? integer(env, "BENCH_CONCURRENCY", 1, 1)
    : undefined;
  return {
    durationMs: integer(env, "BENCH_DURATION_MS", 3000, 1),
    warmupMs: integer(env, "BENCH_WARMUP_MS", 500, 0),
    concurrency: { pglite: concurrency ?? 2, postgres: concurrency ?? 16 },
    databaseUrl: env["DATABASE_URL"] || undefined,
    poolMax: env["DATABASE_POOL_MAX"] || undefined,
    appLogLevel: env["BENCH_APP_LOG_LEVEL"] || "silent",
    suites: suitesOf(env["BENCH_SUITES"]),
    amqpUrl: env["AMQP_URL"] || undefined,
    redisUrl: env["REDIS_URL"] || undefined,
    events: {
      ratePerSecond: integer(env, "BENCH_EVENTS_RATE", 1000, 1),
      burst: integer(env, "BENCH_EVENTS_BURST", 2000, 1),
      producer: producerOf(env["BENCH_EVENTS_PRODUCER"]),
    },
    inbound: {
      ratePerSecond: integer(env, "BENCH_INBOUND_RATE", 500, 1),
      contacts: integer(env, "BENCH_INBOUND_CONTACTS", 300, 1),
    },
    drainTimeoutMs: integer(env, "BENCH_DRAIN_TIMEOUT_MS", 5000, 0),
    jobsPollIntervalSeconds: env["JOBS_POLL_INTERVAL_SECONDS"] || undefined,
  };
}
