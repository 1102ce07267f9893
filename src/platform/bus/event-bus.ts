import type { Transaction } from "kysely";
import type { DomainEvent } from "../../domain/events/domain-event.ts";
import type { DB } from "../db/schema.ts";

/**
 * A consumer of domain events. `handle` runs inside a transaction that also records the
 * event id for this consumer, so a redelivered event is applied once.
 */
export interface EventConsumer {
  name: string;
  /** Patterns: exact type, `family.*`, or `*`. */
  eventTypes: string[];
  /** Deliveries before the event is dead-lettered for this consumer (default 5). */
  maxAttempts?: number;
  /** Events handled in parallel per instance by the in-process bus (default 2). */
  concurrency?: number;
  handle(event: DomainEvent, trx: Transaction<DB>): Promise<void>;
  /**
   * Optional: applies several events in one transaction (the in-process bus delivers the
   * relay's batches this way). Without it, `handle` runs for each, in the same transaction.
   */
  handleBatch?(events: DomainEvent[], trx: Transaction<DB>): Promise<void>;
  /** Runs once `handle`'s transaction has committed (e.g. wake a worker); never on a duplicate. */
  afterCommit?(event: DomainEvent): void;
}

export type LiveListener = (event: DomainEvent) => void;

/**
 * The bus port. The outbox relay is its only publisher; `publish` resolves per event
 * with whether the event was durably accepted (true) or must be retried (false).
 */
export interface EventBus {
  readonly kind: "in-process" | "rabbitmq";
  publish(events: DomainEvent[]): Promise<boolean[]>;
  /** Live fan-out (server-sent events) of published events, in this instance. */
  onLive(listener: LiveListener): () => void;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Readiness: throws when the broker cannot be reached. */
  ping(): Promise<void>;
}

/** A small listener set shared by the adapters for live fan-out. */
export class LiveFanout {
  private readonly listeners = new Set<LiveListener>();
  add(listener: LiveListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  emit(event: DomainEvent): void {
    for (const listener of this.listeners) listener(event);
  }
}
