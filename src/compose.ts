import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { FastifyInstance } from "fastify";
import type { Config } from "./config.ts";
import { buildServer } from "./http/build-server.ts";
import type { ReadinessCheck } from "./http/routes/operations-routes.ts";
import { buildJobs } from "./jobs/index.ts";
import type { EventBus, EventConsumer } from "./platform/bus/event-bus.ts";
import { InProcessBus } from "./platform/bus/in-process-bus.ts";
import { RabbitMqBus } from "./platform/bus/rabbitmq-bus.ts";
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
import { Projects } from "./services/projects.ts";
import { UnitOfWork } from "./services/unit-of-work.ts";
import { join, resolve } from "node:path";
import type { Transaction } from "kysely";
import { whatsappJobs } from "./jobs/whatsapp-jobs.ts";
import { WahaClient } from "./integrations/messaging/waha/waha-client.ts";
import { SecretBox, loadEncryptionKey } from "./platform/crypto/secret-box.ts";
import type { DB } from "./platform/db/schema.ts";
import { HttpClient, httpClientSettingsFromConfig } from "./platform/http-client/http-client.ts";
import {
  createIntegrationPolicy,
  type IntegrationPolicy,
} from "./platform/resilience/integration-policy.ts";
import { IntegrationRegistry } from "./platform/resilience/integration-registry.ts";
import { policySettingsFromConfig } from "./platform/resilience/policy-settings.ts";
import { Channels } from "./services/channels.ts";
import { Conversations } from "./services/conversations.ts";
import { Messages } from "./services/messages.ts";
import { MediaDownloads } from "./services/media-downloads.ts";
import { OutboundMessages } from "./services/outbound-messages.ts";
import { outboundUrlGuard } from "./services/outbound-url-guard.ts";
import { WhatsAppInbound } from "./services/whatsapp-inbound.ts";

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
    idempotency: IdempotencyStore;
    integrations: IntegrationRegistry;
    channels: Channels;
    conversations: Conversations;
    messages: Messages;
    outbound: OutboundMessages;
    inbound: WhatsAppInbound;
    gateway: WahaClient;
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
  const apiKeys = new ApiKeys(db, uow);
  const projects = new Projects(db, apiKeys, uow);
  const contacts = new Contacts(db, uow);
  const idempotency = new IdempotencyStore(db, config.IDEMPOTENCY_TTL_HOURS);
  const timeline = new ContactTimeline(db);

  // WhatsApp through WAHA: sealed credentials, one resilience policy per WAHA server.
  const box = new SecretBox(
    loadEncryptionKey(config.ENCRYPTION_KEY, join(resolve(config.DATA_DIR), "encryption.key")).key,
  );
  const integrations = new IntegrationRegistry();
  const wahaHttp = new HttpClient({ provider: "waha", ...httpClientSettingsFromConfig(config) });
  const wahaPolicies = new Map<string, IntegrationPolicy>();
  const wahaPolicyFor = (baseUrl: string) => {
    const origin = new URL(baseUrl).host;
    let policy = wahaPolicies.get(origin);
    if (!policy) {
      policy = createIntegrationPolicy(
        { integration: `waha:${origin}`, ...policySettingsFromConfig(config, "WAHA") },
        {
          logger,
          metrics,
          registry: integrations,
          declared: {
            authentication: true,
            signature: true,
            inputValidation: true,
            tests: { unit: true, integration: true, e2e: true },
          },
        },
      );
      wahaPolicies.set(origin, policy);
    }
    return policy;
  };
  const gateway = new WahaClient({
    http: wahaHttp,
    policyFor: wahaPolicyFor,
    historyTimeoutMs: config.WAHA_HISTORY_TIMEOUT_MS,
  });
  const defaultTimeoutMinutes = async (projectId: string, trx: Transaction<DB>) =>
    (
      await trx
        .selectFrom("projects")
        .select("default_session_timeout_minutes")
        .where("id", "=", projectId)
        .executeTakeFirstOrThrow()
    ).default_session_timeout_minutes;
  const channels = new Channels({
    db,
    uow,
    box,
    gateway,
    guard: outboundUrlGuard(wahaHttp.guard),
    publicBaseUrl: config.PUBLIC_BASE_URL,
  });
  const messages = new Messages(db);
  const media = new MediaDownloads({
    db,
    channels,
    wahaHttp,
    wahaPolicyFor,
    mediaHttp: new HttpClient({ provider: "media", ...httpClientSettingsFromConfig(config) }),
    mediaPolicy: createIntegrationPolicy(
      { integration: "media", ...policySettingsFromConfig(config, "MEDIA") },
      {
        logger,
        metrics,
        registry: integrations,
        declared: { inputValidation: true, tests: { unit: true, integration: true, e2e: true } },
      },
    ),
  });
  const lateJobs = { jobs: undefined as JobQueue | undefined };
  const jobsOf = () => {
    if (!lateJobs.jobs) throw new Error("job queue used before composition finished");
    return lateJobs.jobs;
  };
  const conversations = new Conversations(db, uow, async ({ trx }, sessionId, at) => {
    await jobsOf().enqueue(whatsapp.sessionTimeout, { sessionId }, { db: trx, startAfter: at });
  });
  const inbound = new WhatsAppInbound({
    db,
    uow,
    channels,
    conversations,
    defaultTimeoutMinutes,
    enqueue: async (trx, inboundEventId) => {
      await jobsOf().enqueue(whatsapp.processInbound, { inboundEventId }, { db: trx });
    },
  });
  const outbound = new OutboundMessages({
    db,
    uow,
    channels,
    conversations,
    gateway,
    mediaGuard: outboundUrlGuard(wahaHttp.guard),
    defaultTimeoutMinutes,
    pacing: {
      minGapMs: config.WAHA_MIN_SEND_GAP_MS,
      perContactPerHour: config.WAHA_CONTACT_HOURLY_LIMIT,
    },
    enqueue: async (trx, messageId, startAfter) => {
      await jobsOf().enqueue(
        whatsapp.sendMessage,
        { messageId },
        { db: trx, ...(startAfter ? { startAfter } : {}) },
      );
    },
  });
  const whatsapp = whatsappJobs({
    jobs: jobsOf,
    logger,
    inbound: () => inbound,
    outbound: () => outbound,
    conversations: () => conversations,
    sendRetryLimit: config.WAHA_SEND_RETRY_LIMIT,
  });

  const jobs = new JobQueue({
    database,
    logger,
    metrics,
    pollIntervalSeconds: config.JOBS_POLL_INTERVAL_SECONDS,
    retryLimit: config.JOBS_RETRY_LIMIT,
    retryDelaySeconds: config.JOBS_RETRY_DELAY_SECONDS,
  });
  lateJobs.jobs = jobs;
  jobs.register([whatsapp.processInbound, whatsapp.sendMessage, whatsapp.sessionTimeout]);
  const consumers = [timeline.consumer, ...(options.consumers ?? [])];
  let bus: EventBus;
  if (config.AMQP_URL) {
    bus = new RabbitMqBus(
      {
        url: config.AMQP_URL,
        prefix: config.AMQP_PREFIX,
        instanceId,
        publishTimeoutMs: config.AMQP_PUBLISH_TIMEOUT_MS,
        prefetch: config.AMQP_PREFETCH,
        breakerThreshold: config.AMQP_BREAKER_THRESHOLD,
        breakerHalfOpenAfterMs: config.AMQP_BREAKER_HALF_OPEN_MS,
        db,
        logger,
        metrics,
      },
      consumers,
    );
  } else {
    const inProcess = new InProcessBus({ db, jobs: () => jobs, metrics }, consumers);
    jobs.register(inProcess.jobDefinitions);
    bus = inProcess;
  }
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
  ];
  const server = await buildServer({
    config,
    logger,
    metrics,
    apiKeys,
    projects,
    contacts,
    idempotency,
    timeline,
    stream: { bus, history, heartbeatMs: config.EVENT_STREAM_HEARTBEAT_MS },
    readiness,
    whatsapp: { channels, conversations, messages, outbound, inbound, media },
    integrations,
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
      idempotency,
      integrations,
      channels,
      conversations,
      messages,
      outbound,
      inbound,
      gateway,
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
      for (const job of jobDefinitions.recurring) await jobs.enqueue(job, {});
      await bus.start();
      if (options.relay !== false) relay.start();
    },
    stop() {
      stopping ??= (async () => {
        await server.close();
        await relay.stop().catch((error) => logger.warn({ err: error }, "relay stop failed"));
        await bus.stop().catch((error) => logger.warn({ err: error }, "bus stop failed"));
        await jobs
          .stop(config.SHUTDOWN_TIMEOUT_MS)
          .catch((error) => logger.warn({ err: error }, "job stop failed"));
        await database.close();
      })();
      return stopping;
    },
  };
}
