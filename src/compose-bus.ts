import type { Kysely } from "kysely";
import type { Config } from "./config.ts";
import type { EventBus, EventConsumer } from "./platform/bus/event-bus.ts";
import { InProcessBus } from "./platform/bus/in-process-bus.ts";
import { RabbitMqBus } from "./platform/bus/rabbitmq-bus.ts";
import type { DB } from "./platform/db/schema.ts";
import type { JobQueue } from "./platform/jobs/job-queue.ts";
import type { Logger } from "./platform/logger.ts";
import type { Metrics } from "./platform/metrics/metrics.ts";

/**
 * Part of the composition root: RabbitMQ when AMQP_URL is set, else the in-process bus
 * whose consumers are durable job queues (registered on `jobs` here).
 */
export function composeBus({
  config,
  db,
  logger,
  metrics,
  jobs,
  instanceId,
  consumers,
}: {
  config: Config;
  db: Kysely<DB>;
  logger: Logger;
  metrics: Metrics;
  jobs: JobQueue;
  instanceId: string;
  consumers: EventConsumer[];
}): EventBus {
  if (config.AMQP_URL) {
    return new RabbitMqBus(
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
  }
  const inProcess = new InProcessBus({ db, jobs: () => jobs, metrics }, consumers);
  jobs.register(inProcess.jobDefinitions);
  return inProcess;
}
