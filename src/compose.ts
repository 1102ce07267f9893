import type { FastifyInstance } from "fastify";
import type { Config } from "./config.ts";
import { buildServer } from "./http/build-server.ts";
import { buildJobs } from "./jobs/index.ts";
import type { Database } from "./platform/db/database.ts";
import { migrate } from "./platform/db/migrate.ts";
import { openDatabase } from "./platform/db/open-database.ts";
import { JobQueue } from "./platform/jobs/job-queue.ts";
import { createLogger, type Logger } from "./platform/logger.ts";
import { createMetrics, type Metrics } from "./platform/metrics/metrics.ts";
import { ApiKeys } from "./services/api-keys.ts";
import { Contacts } from "./services/contacts.ts";
import { IdempotencyStore } from "./services/idempotency.ts";
import { Projects } from "./services/projects.ts";

export interface ComposeOptions {
  /** Use this database instead of opening one from config (tests share templates). */
  database?: Database;
  logger?: Logger;
  /** Where the one-time bootstrap admin key is printed. */
  announce?: (line: string) => void;
}

export interface App {
  config: Config;
  deps: {
    database: Database;
    logger: Logger;
    metrics: Metrics;
    jobs: JobQueue;
    apiKeys: ApiKeys;
    projects: Projects;
    contacts: Contacts;
    idempotency: IdempotencyStore;
  };
  server: FastifyInstance;
  /** Migrates, bootstraps on an empty database, starts job workers. */
  start(): Promise<void>;
  /** Drains HTTP, stops workers, closes the database; safe to call twice. */
  stop(): Promise<void>;
}

/** The composition root: the only module that sees every layer. */
export async function compose(config: Config, options: ComposeOptions = {}): Promise<App> {
  const logger = options.logger ?? createLogger(config.LOG_LEVEL);
  const metrics = createMetrics();
  const database = options.database ?? (await openDatabase(config, logger));
  const { db } = database;

  const apiKeys = new ApiKeys(db);
  const projects = new Projects(db, apiKeys);
  const contacts = new Contacts(db);
  const idempotency = new IdempotencyStore(db, config.IDEMPOTENCY_TTL_HOURS);

  const jobs = new JobQueue({
    database,
    logger,
    metrics,
    pollIntervalSeconds: config.JOBS_POLL_INTERVAL_SECONDS,
    retryLimit: config.JOBS_RETRY_LIMIT,
    retryDelaySeconds: config.JOBS_RETRY_DELAY_SECONDS,
  });
  const jobDefinitions = buildJobs({ jobs: () => jobs, logger, idempotency });
  jobs.register(jobDefinitions.all);

  const server = await buildServer({
    config,
    logger,
    metrics,
    apiKeys,
    projects,
    contacts,
    idempotency,
    readiness: [
      { name: "database", code: "DATABASE_UNAVAILABLE", check: () => database.ping() },
      {
        name: "jobs",
        code: "JOBS_UNAVAILABLE",
        check: async () => {
          if (!jobs.isRunning) throw new Error("job workers are not running");
        },
      },
    ],
  });

  let stopping: Promise<void> | undefined;
  return {
    config,
    deps: { database, logger, metrics, jobs, apiKeys, projects, contacts, idempotency },
    server,
    async start() {
      const announce = options.announce ?? ((line: string) => process.stdout.write(`${line}\n`));
      await migrate(db, {
        afterMigrate: async (conn) => {
          const key = await projects.bootstrap(conn, config.BOOTSTRAP_PROJECT_NAME);
          if (key) announce(`Admin API key: ${key}`);
        },
      });
      await jobs.start();
      await jobs.enqueue(jobDefinitions.pruneIdempotencyKeys, {});
    },
    stop() {
      stopping ??= (async () => {
        await server.close();
        await jobs
          .stop(config.SHUTDOWN_TIMEOUT_MS)
          .catch((error) => logger.warn({ err: error }, "job stop failed"));
        await database.close();
      })();
      return stopping;
    },
  };
}
