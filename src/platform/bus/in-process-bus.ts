import type { Kysely } from "kysely";
import Type from "typebox";
import type { DomainEvent } from "../../domain/events/domain-event.ts";
import { matchesEventType } from "../../domain/events/domain-event.ts";
import type { DB } from "../db/schema.ts";
import { defineJob, type JobDefinition } from "../jobs/job-definition.ts";
import type { JobQueue } from "../jobs/job-queue.ts";
import type { Metrics } from "../metrics/metrics.ts";
import { consumeEvent, consumeEvents } from "./consume-event.ts";
import { LiveFanout, type EventBus, type EventConsumer, type LiveListener } from "./event-bus.ts";

/** One event, or a batch of the relay's (split into single events if the batch fails). */
const DeliveryData = Type.Object({
  event: Type.Optional(Type.Unknown()),
  events: Type.Optional(Type.Array(Type.Unknown())),
});

/**
 * The embedded bus: each consumer is a durable job queue in our database, so a delivery
 * survives restarts, is retried with backoff and ends on a dead-letter queue, exactly
 * like a RabbitMQ queue with a DLX. `publish` inserts one job per interested consumer
 * carrying all the events of the relay's batch it wants: a busy outbox costs a job per
 * batch, not per event. A batch that fails is split into one job per event, so retries
 * and the dead-letter queue apply to the event that fails, not to its neighbours.
 */
export class InProcessBus implements EventBus {
  readonly kind = "in-process" as const;
  private readonly live = new LiveFanout();
  private readonly queues: { consumer: EventConsumer; job: JobDefinition<typeof DeliveryData> }[];

  constructor(
    private readonly deps: { db: Kysely<DB>; jobs: () => JobQueue; metrics: Metrics },
    consumers: EventConsumer[],
  ) {
    this.queues = consumers.map((consumer) => ({ consumer, job: this.deliveryJob(consumer) }));
  }

  /** The job definitions to register on the queue before it starts. */
  get jobDefinitions(): JobDefinition[] {
    return this.queues.map((q) => q.job);
  }

  async publish(events: DomainEvent[]): Promise<boolean[]> {
    for (const { consumer, job } of this.queues) {
      const interested = events.filter((e) =>
        consumer.eventTypes.some((p) => matchesEventType(p, e.type)),
      );
      if (interested.length === 1) await this.deps.jobs().enqueue(job, { event: interested[0] });
      else if (interested.length > 1) await this.deps.jobs().enqueue(job, { events: interested });
    }
    for (const event of events) this.live.emit(event);
    return events.map(() => true);
  }

  onLive(listener: LiveListener) {
    return this.live.add(listener);
  }

  async start() {}
  async stop() {}
  async ping() {}

  private deliveryJob(consumer: EventConsumer) {
    const { db, metrics } = this.deps;
    const count = (outcome: string) =>
      metrics.eventConsumerTotal.inc({ consumer: consumer.name, outcome });
    const definition = defineJob({
      name: `event-consumer-${consumer.name}`,
      schema: DeliveryData,
      retryLimit: (consumer.maxAttempts ?? 5) - 1,
      retryDelaySeconds: 1,
      concurrency: consumer.concurrency ?? 2,
      handler: async ({ event, events }) => {
        if (events) {
          try {
            const { applied, duplicate } = await consumeEvents(
              db,
              consumer,
              events as DomainEvent[],
            );
            metrics.eventConsumerTotal.inc(
              { consumer: consumer.name, outcome: "applied" },
              applied,
            );
            if (duplicate > 0)
              metrics.eventConsumerTotal.inc(
                { consumer: consumer.name, outcome: "duplicate" },
                duplicate,
              );
          } catch {
            // Nothing of the batch was applied: each event gets its own delivery.
            count("split");
            await this.deps.jobs().enqueueMany(
              definition,
              events.map((e) => ({ event: e })),
            );
          }
          return;
        }
        try {
          count(await consumeEvent(db, consumer, event as DomainEvent));
        } catch (error) {
          count("failed");
          throw error;
        }
      },
      onFinalFailure: async () => count("dead_lettered"),
    });
    return definition;
  }
}
