import type { Kysely } from "kysely";
import {
  Connection,
  ConsumerStatus,
  type AsyncMessage,
  type Consumer,
  type Publisher,
} from "rabbitmq-client";
import type { CircuitBreakerPolicy } from "cockatiel";
import type { DomainEvent } from "../../domain/events/domain-event.ts";
import type { DB } from "../db/schema.ts";
import type { Logger } from "../logger.ts";
import type { Metrics } from "../metrics/metrics.ts";
import { createCircuitBreaker } from "../resilience/circuit-breaker.ts";
import { consumeEvent } from "./consume-event.ts";
import { LiveFanout, type EventBus, type EventConsumer, type LiveListener } from "./event-bus.ts";

export interface RabbitMqBusOptions {
  url: string;
  /** Prefix of every exchange and queue we declare (one per deployment or test run). */
  prefix: string;
  instanceId: string;
  publishTimeoutMs: number;
  prefetch: number;
  breakerThreshold: number;
  breakerHalfOpenAfterMs: number;
  db: Kysely<DB>;
  logger: Logger;
  metrics: Metrics;
}

/** Our patterns (`*`, `contact.*`) in AMQP topic syntax. */
export const toBindingKey = (pattern: string) =>
  pattern === "*" ? "#" : pattern.endsWith(".*") ? `${pattern.slice(0, -2)}.#` : pattern;

const retryDelayMs = (attempt: number) => Math.min(30_000, 1_000 * 2 ** (attempt - 1));

/**
 * RabbitMQ adapter. Topology is declared by us on every (re)connect: a durable topic
 * exchange (routing key = event type), a dead-letter exchange, and per consumer a durable
 * queue, a retry queue (per-message TTL, dead-letters back to the main queue) and a DLQ.
 * Publishing uses confirms with a timeout and mandatory routing behind a circuit breaker;
 * while it is open the outbox keeps the events. Consumers ack manually.
 */
export class RabbitMqBus implements EventBus {
  readonly kind = "rabbitmq" as const;
  private readonly live = new LiveFanout();
  private connection: Connection | undefined;
  private publisher: Publisher | undefined;
  private readonly consumers: Consumer[] = [];
  /** Resolves once every consumer's queues and bindings have been declared. */
  private topology: Promise<unknown> = Promise.resolve();
  readonly breaker: CircuitBreakerPolicy;

  constructor(
    private readonly options: RabbitMqBusOptions,
    private readonly eventConsumers: EventConsumer[],
  ) {
    this.breaker = createCircuitBreaker(
      {
        integration: "rabbitmq",
        threshold: options.breakerThreshold,
        halfOpenAfterMs: options.breakerHalfOpenAfterMs,
      },
      options,
    );
  }

  get exchange() {
    return `${this.options.prefix}.events`;
  }
  get deadLetterExchange() {
    return `${this.options.prefix}.events.dlx`;
  }
  queueOf(consumer: string) {
    return `${this.options.prefix}.${consumer}`;
  }

  async start(): Promise<void> {
    const { url, logger, instanceId } = this.options;
    const connection = new Connection({
      url,
      connectionName: `ventros-${instanceId}`,
      // Reconnect forever with exponential backoff between these bounds.
      retryLow: 200,
      retryHigh: 10_000,
      connectionTimeout: 5_000,
      heartbeat: 10,
      // Without it Nagle's algorithm held each publish ~40 ms behind the consumers' acks
      // on the same socket (measured by the events benchmark).
      noDelay: true,
    });
    this.connection = connection;
    connection.on("error", (error) => logger.warn({ err: error }, "rabbitmq connection error"));
    connection.on("connection", () => logger.info("rabbitmq connected"));
    const exchanges = [
      { exchange: this.exchange, type: "topic", durable: true },
      { exchange: this.deadLetterExchange, type: "direct", durable: true },
    ];
    this.publisher = connection.createPublisher({
      confirm: true,
      maxAttempts: 1,
      exchanges,
      onReturn: (message) =>
        logger.warn({ routingKey: message.routingKey }, "event had no queue bound; returned"),
    });
    const declared: Promise<void>[] = [];
    for (const consumer of this.eventConsumers) {
      const { created, ready } = this.createConsumer(connection, consumer, exchanges);
      this.consumers.push(created);
      declared.push(ready);
    }
    const live = this.createLiveConsumer(connection, exchanges);
    this.consumers.push(live);
    declared.push(new Promise((resolve) => live.once("ready", resolve)));
    // Nothing is published before the consumers' queues are bound: a message published
    // to the exchange earlier would be unroutable for them, and lost.
    this.topology = Promise.all(declared);
    const timeoutMs = this.options.publishTimeoutMs * 2;
    // disableAutoClose: on timeout keep reconnecting instead of closing the connection.
    await connection
      .onConnect(timeoutMs, true)
      .then(() => withTimeout(this.topology, timeoutMs, "topology not declared"))
      .catch((error: unknown) => {
        // Starting without the broker is allowed: the outbox keeps events until it is back.
        logger.warn({ err: error }, "rabbitmq not reachable at start; will keep retrying");
      });
  }

  async publish(events: DomainEvent[]): Promise<boolean[]> {
    const publisher = this.publisher;
    if (!publisher) return events.map(() => false);
    const results = await Promise.allSettled(
      events.map((event) =>
        this.breaker.execute(() =>
          withTimeout(
            this.topology.then(() =>
              publisher.send(
                {
                  exchange: this.exchange,
                  routingKey: event.type,
                  mandatory: true,
                  durable: true,
                  messageId: event.id,
                  contentType: "application/json",
                  timestamp: Math.floor(Date.parse(event.occurredAt) / 1000),
                  type: event.type,
                },
                event,
              ),
            ),
            this.options.publishTimeoutMs,
          ),
        ),
      ),
    );
    return results.map((r) => r.status === "fulfilled");
  }

  onLive(listener: LiveListener) {
    return this.live.add(listener);
  }

  async ping(): Promise<void> {
    if (!this.connection?.ready) throw new Error("not connected to RabbitMQ");
  }

  async stop(): Promise<void> {
    await Promise.allSettled(this.consumers.map((c) => c.close()));
    await this.publisher?.close().catch(() => undefined);
    await this.connection?.close().catch(() => undefined);
  }

  /**
   * Removes everything this prefix declared (tests and benchmarks clean up with it); call
   * it before stop(). Consuming and publishing end first: a consumer whose queue is
   * deleted under it reconnects and declares its queue, exchanges and bindings again.
   */
  async deleteTopology(): Promise<void> {
    const connection = this.connection;
    if (!connection) return;
    await Promise.allSettled(this.consumers.map((c) => c.close()));
    await this.publisher?.close().catch(() => undefined);
    for (const consumer of this.eventConsumers) {
      const queue = this.queueOf(consumer.name);
      for (const q of [queue, `${queue}.retry`, `${queue}.dlq`])
        await connection.queueDelete({ queue: q });
    }
    await connection.exchangeDelete({ exchange: this.exchange });
    await connection.exchangeDelete({ exchange: this.deadLetterExchange });
  }

  private createConsumer(
    connection: Connection,
    consumer: EventConsumer,
    exchanges: { exchange: string; type: string; durable: boolean }[],
  ) {
    const { db, metrics, logger, prefetch } = this.options;
    const queue = this.queueOf(consumer.name);
    const retryQueue = `${queue}.retry`;
    const deadQueue = `${queue}.dlq`;
    const maxAttempts = consumer.maxAttempts ?? 5;
    const count = (outcome: string) =>
      metrics.eventConsumerTotal.inc({ consumer: consumer.name, outcome });
    const handle = async (message: AsyncMessage) => {
      const event = parse(message.body);
      if (!event) {
        logger.error({ consumer: consumer.name }, "unparseable event; dead-lettered");
        count("dead_lettered");
        return ConsumerStatus.DROP;
      }
      const attempt = Number(message.headers?.["x-attempt"] ?? 1);
      try {
        count(await consumeEvent(db, consumer, event));
        return ConsumerStatus.ACK;
      } catch (error) {
        logger.warn(
          { err: error, consumer: consumer.name, eventId: event.id, attempt },
          "event consumer failed",
        );
        if (attempt >= maxAttempts) {
          count("dead_lettered");
          return ConsumerStatus.DROP; // to the DLX, then the DLQ
        }
        count("retried");
        // Park a copy in the retry queue; its TTL expiry dead-letters it back to `queue`.
        await this.publisher!.send(
          {
            exchange: "",
            routingKey: retryQueue,
            durable: true,
            expiration: String(retryDelayMs(attempt)),
            messageId: message.messageId,
            contentType: "application/json",
            headers: { "x-attempt": attempt + 1 },
          },
          event,
        );
        return ConsumerStatus.ACK;
      }
    };
    const created = connection.createConsumer(
      {
        queue,
        queueOptions: {
          durable: true,
          arguments: {
            "x-dead-letter-exchange": this.deadLetterExchange,
            "x-dead-letter-routing-key": queue,
          },
        },
        qos: { prefetchCount: prefetch },
        concurrency: prefetch,
        requeue: true,
        exchanges,
        queueBindings: consumer.eventTypes.map((pattern) => ({
          queue,
          exchange: this.exchange,
          routingKey: toBindingKey(pattern),
        })),
      },
      handle,
    );
    // Retry and dead-letter queues are declared alongside (idempotent on reconnect).
    const declareSide = async () => {
      await connection.queueDeclare({
        queue: retryQueue,
        durable: true,
        arguments: { "x-dead-letter-exchange": "", "x-dead-letter-routing-key": queue },
      });
      await connection.queueDeclare({ queue: deadQueue, durable: true });
      await connection.queueBind({
        queue: deadQueue,
        exchange: this.deadLetterExchange,
        routingKey: queue,
      });
    };
    let declared: () => void;
    const ready = new Promise<void>((resolve) => (declared = resolve));
    created.on(
      "ready",
      () =>
        void declareSide().then(
          () => declared(),
          (error) => logger.warn({ err: error }, "declare retry/dlq failed"),
        ),
    );
    created.on("error", (error) =>
      logger.warn({ err: error, consumer: consumer.name }, "rabbitmq consumer error"),
    );
    return { created, ready };
  }

  /** Every instance gets every event on its own exclusive queue, for live streams. */
  private createLiveConsumer(
    connection: Connection,
    exchanges: { exchange: string; type: string; durable: boolean }[],
  ) {
    const queue = `${this.options.prefix}.live.${this.options.instanceId}`;
    const created = connection.createConsumer(
      {
        queue,
        noAck: true,
        queueOptions: { exclusive: true, autoDelete: true, durable: false },
        exchanges,
        queueBindings: [{ queue, exchange: this.exchange, routingKey: "#" }],
      },
      (message) => {
        const event = parse(message.body);
        if (event) this.live.emit(event);
      },
    );
    created.on("error", (error) =>
      this.options.logger.warn({ err: error }, "rabbitmq live consumer error"),
    );
    return created;
  }
}

function parse(body: unknown): DomainEvent | undefined {
  try {
    const value = Buffer.isBuffer(body)
      ? JSON.parse(body.toString("utf8"))
      : typeof body === "string"
        ? JSON.parse(body)
        : body;
    return value && typeof value === "object" && "id" in value && "type" in value
      ? (value as DomainEvent)
      : undefined;
  } catch {
    return undefined;
  }
}

function withTimeout<T>(
  promise: Promise<T>,
  ms: number,
  what = "publish not confirmed",
): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
