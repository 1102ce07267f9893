import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { FastifyInstance } from "fastify";
import type { Config } from "./config.ts";
import { composeBus } from "./compose-bus.ts";
import { composeCache } from "./compose-cache.ts";
import { composeWebhooks } from "./compose-webhooks.ts";
import { composeWhatsApp } from "./compose-whatsapp.ts";
import { buildServer } from "./http/build-server.ts";
import type { ReadinessCheck } from "./http/routes/operations-routes.ts";
import type { Cache } from "./platform/cache/cache.ts";
import type { CachePlatform } from "./platform/cache/cache-from-config.ts";
import { buildJobs } from "./jobs/index.ts";
import type { EventBus, EventConsumer } from "./platform/bus/event-bus.ts";
import type { Database } from "./platform/db/database.ts";
import { migrate } from "./platform/db/migrate.ts";
import { openDatabase } from "./platform/db/open-database.ts";
import { JobQueue } from "./platform/jobs/job-queue.ts";
import { createLogger, type Logger } from "./platform/logger.ts";
import { createMetrics, type Metrics } from "./platform/metrics/metrics.ts";
import { OutboxRelay } from "./platform/outbox/outbox-relay.ts";
import { ApiKeys } from "./services/api-keys.ts";
import { ContactTimeline } from "./services/contact-timeline.ts";
import { Contacts } from "./services/contacts.ts";
import { EventHistory } from "./services/event-history.ts";
import { IdempotencyStore } from "./services/idempotency.ts";
import { Pipelines } from "./services/pipelines.ts";
import { Projects } from "./services/projects.ts";
import { UnitOfWork } from "./services/unit-of-work.ts";
import type { WahaClient } from "./integrations/messaging/waha/waha-client.ts";
import { IntegrationRegistry } from "./platform/resilience/integration-registry.ts";
import type { Resolver } from "./platform/http-client/ssrf-guard.ts";
import type { WebhookDeliveries } from "./services/webhook-deliveries.ts";
import type { WebhookDispatcher } from "./services/webhook-dispatcher.ts";
import type { WebhookEndpoints } from "./services/webhook-endpoints.ts";
import type { Channels } from "./services/channels.ts";
import type { Conversations } from "./services/conversations.ts";
import type { Messages } from "./services/messages.ts";
import type { OutboundMessages } from "./services/outbound-messages.ts";
import type { WhatsAppInbound } from "./services/whatsapp-inbound.ts";

export interface ComposeOptions {
  /** Use this database instead of opening one from config (tests share templates). */
  database?: Database;
  logger?: Logger;
  /** Where the one-time bootstrap admin key is printed. */
  announce?: (line: string) => void;
  /** Extra event consumers (tests); they get queues like the built-in ones. */
  consumers?: EventConsumer[];
  /** Keep the outbox relay stopped (tests that simulate a crash before publishing). */
  relay?: boolean;
  /** DNS for outbound URL checks (tests inject names that resolve anywhere). */
  resolver?: Resolver;
  /** Epoch ms now; tests drive the webhook retry schedule with a fake clock. */
  clock?: () => number;
}

export interface App {
  config: Config;
  instanceId: string;
  deps: {
    database: Database;
    logger: Logger;
    metrics: Metrics;
    jobs: JobQueue;
    bus: EventBus;
    relay: OutboxRelay;
    history: EventHistory;
    timeline: ContactTimeline;
    apiKeys: ApiKeys;
    projects: Projects;
    contacts: Contacts;
    pipelines: Pipelines;
    idempotency: IdempotencyStore;
    integrations: IntegrationRegistry;
    channels: Channels;
    conversations: Conversations;
    messages: Messages;
    outbound: OutboundMessages;
    inbound: WhatsAppInbound;
    gateway: WahaClient;
    webhookEndpoints: WebhookEndpoints;
    webhookDeliveries: WebhookDeliveries;
    webhookDispatcher: WebhookDispatcher;
    /** The read-through cache (memory, and Redis when REDIS_URL is set). */
    cache: Cache;
    /** The cache, the rate limiters and the Redis connection behind them. */
    cachePlatform: CachePlatform;
  };
  server: FastifyInstance;
  /** Migrates, bootstraps on an empty database, starts the bus, relay and job workers. */
  start(): Promise<void>;
  /** Drains HTTP, stops the relay, bus and workers, closes the database; idempotent. */
  stop(): Promise<void>;
}

/** The composition root: the only module that sees every layer. */
export async function compose(config: Config, options: ComposeOptions = {}): Promise<App> {
  const logger = options.logger ?? createLogger(config.LOG_LEVEL);
  const database = options.database ?? (await openDatabase(config, logger));
  const { db } = database;
  const history = new EventHistory(db);
  const metrics = createMetrics({ outboxLagSeconds: () => history.oldestUnpublishedAgeSeconds() });
  const instanceId = `${hostname()}-${process.pid}-${randomBytes(3).toString("hex")}`;

  // The relay is created after the bus; producers only need a way to nudge it.
  const nudge = { relay: () => {} };
  const uow = new UnitOfWork(db, () => nudge.relay());
  const integrations = new IntegrationRegistry();
  // Built early: the services read through it; its Redis policy joins the registry.
  const cache = composeCache({ config, logger, metrics, integrations });
  const apiKeys = new ApiKeys(db, uow, cache.entities);
  const projects = new Projects(db, apiKeys, uow);
  const contacts = new Contacts(db, uow, cache.entities);
  const pipelines = new Pipelines(db, uow, cache.entities);
  const idempotency = new IdempotencyStore(db, config.IDEMPOTENCY_TTL_HOURS);
  const timeline = new ContactTimeline(db);

  const jobs = new JobQueue({
    database,
    logger,
    metrics,
    pollIntervalSeconds: config.JOBS_POLL_INTERVAL_SECONDS,
    retryLimit: config.JOBS_RETRY_LIMIT,
    retryDelaySeconds: config.JOBS_RETRY_DELAY_SECONDS,
  });
  const whatsapp = composeWhatsApp({
    config,
    db,
    uow,
    logger,
    metrics,
    integrations,
    jobs,
    cache: cache.entities,
  });
  const { channels, conversations, messages, media, inbound, outbound, gateway } = whatsapp;
  jobs.register(whatsapp.jobDefinitions);
  const webhooks = composeWebhooks({
    config,
    db,
    uow,
    box: whatsapp.box,
    logger,
    metrics,
    integrations,
    jobs: () => jobs,
    ...(options.resolver ? { resolver: options.resolver } : {}),
    ...(options.clock ? { now: options.clock } : {}),
  });
  const consumers = [
    timeline.consumer,
    webhooks.consumer,
    cache.consumer,
    ...(options.consumers ?? []),
  ];
  const bus = composeBus({ config, db, logger, metrics, jobs, instanceId, consumers });
  const relay = new OutboxRelay({
    db,
    bus,
    logger,
    metrics,
    instanceId,
    pollIntervalMs: config.OUTBOX_POLL_INTERVAL_MS,
    batchSize: config.OUTBOX_BATCH_SIZE,
    leaseMs: 10_000,
    retryBaseMs: 500,
    retryMaxMs: 30_000,
  });
  nudge.relay = () => relay.notify();
  const jobDefinitions = buildJobs({
    jobs: () => jobs,
    logger,
    idempotency,
    history,
    outboxRetentionHours: config.OUTBOX_RETENTION_HOURS,
    db,
  });
  jobs.register(jobDefinitions.all);
  jobs.register(webhooks.recurringJobs);

  const readiness: ReadinessCheck[] = [
    { name: "database", code: "DATABASE_UNAVAILABLE", check: () => database.ping() },
    {
      name: "jobs",
      code: "JOBS_UNAVAILABLE",
      check: async () => {
        if (!jobs.isRunning) throw new Error("job workers are not running");
      },
    },
    ...(bus.kind === "rabbitmq"
      ? [{ name: "broker", code: "BROKER_UNAVAILABLE", check: () => bus.ping() }]
      : []),
    ...cache.readiness,
  ];
  const server = await buildServer({
    config,
    logger,
    metrics,
    apiKeys,
    projects,
    contacts,
    pipelines,
    idempotency,
    timeline,
    stream: { bus, history, heartbeatMs: config.EVENT_STREAM_HEARTBEAT_MS },
    readiness,
    whatsapp: { channels, conversations, messages, outbound, inbound, media },
    webhooks: { endpoints: webhooks.endpoints, deliveries: webhooks.deliveries },
    integrations,
    rateLimits: cache.platform.rateLimits,
  });

  let stopping: Promise<void> | undefined;
  return {
    config,
    instanceId,
    deps: {
      database,
      logger,
      metrics,
      jobs,
      bus,
      relay,
      history,
      timeline,
      apiKeys,
      projects,
      contacts,
      pipelines,
      idempotency,
      integrations,
      channels,
      conversations,
      messages,
      outbound,
      inbound,
      gateway,
      webhookEndpoints: webhooks.endpoints,
      webhookDeliveries: webhooks.deliveries,
      webhookDispatcher: webhooks.dispatcher,
      cache: cache.platform.cache,
      cachePlatform: cache.platform,
    },
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
      for (const job of [...jobDefinitions.recurring, ...webhooks.recurringJobs])
        await jobs.enqueue(job, {});
      await bus.start();
      if (options.relay !== false) relay.start();
      webhooks.dispatcher.start();
    },
    stop() {
      stopping ??= (async () => {
        await server.close();
        await relay.stop().catch((error) => logger.warn({ err: error }, "relay stop failed"));
        await webhooks.dispatcher
          .stop(config.SHUTDOWN_TIMEOUT_MS)
          .catch((error) => logger.warn({ err: error }, "webhook dispatcher stop failed"));
        await webhooks.http.close().catch(() => undefined);
        await bus.stop().catch((error) => logger.warn({ err: error }, "bus stop failed"));
        await jobs
          .stop(config.SHUTDOWN_TIMEOUT_MS)
          .catch((error) => logger.warn({ err: error }, "job stop failed"));
        await cache.close().catch((error) => logger.warn({ err: error }, "cache close failed"));
        await database.close();
      })();
      return stopping;
    },
  };
}
