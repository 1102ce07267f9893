import { sql, type Kysely } from "kysely";
import type { DomainEvent } from "../../domain/events/domain-event.ts";
import type { EventBus } from "../bus/event-bus.ts";
import type { DB } from "../db/schema.ts";
import type { Logger } from "../logger.ts";
import type { Metrics } from "../metrics/metrics.ts";

export interface OutboxRelayOptions {
  db: Kysely<DB>;
  bus: EventBus;
  logger: Logger;
  metrics: Metrics;
  instanceId: string;
  pollIntervalMs: number;
  batchSize: number;
  leaseMs: number;
  /** Backoff for a failed publish: base * 2^attempts, capped. */
  retryBaseMs: number;
  retryMaxMs: number;
}

type Row = {
  seq: string;
  id: string;
  project_id: string;
  type: string;
  version: number;
  aggregate_type: string;
  aggregate_id: string;
  data: unknown;
  occurred_at: Date;
  attempts: number;
  next_attempt_at: Date;
};

/**
 * Moves committed events from the outbox to the bus. One relay at a time holds a lease
 * (renewed every tick; a crashed holder's lease expires), reads unpublished rows in seq
 * order and publishes them. Within one aggregate, order is kept: after a failure or a
 * row still backing off, the rest of that aggregate waits for a later tick. There is no
 * "processing" state, so a crash leaves rows unpublished and they go out after restart
 * (at least once; consumers deduplicate by event id).
 */
export class OutboxRelay {
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private pending = false;

  constructor(private readonly options: OutboxRelayOptions) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.notify();
    await this.loop;
    await this.options.db
      .updateTable("outbox_relay_lease")
      .set({ lease_until: new Date(0) })
      .where("owner", "=", this.options.instanceId)
      .execute()
      .catch(() => undefined);
  }

  /** Called after a commit that wrote events, so they leave without waiting for a poll. */
  notify(): void {
    this.pending = true;
    this.wake?.();
  }

  /** One pass; returns how many events were published. Exposed for tests and benches. */
  async tick(): Promise<number> {
    if (!(await this.acquireLease())) return 0;
    const { db, batchSize } = this.options;
    const rows = (await db
      .selectFrom("outbox_events")
      .select([...EVENT_COLUMNS, "attempts", "next_attempt_at"])
      .where("published_at", "is", null)
      // Qualified: a bare "seq" would sort by the text alias above ("10" < "9").
      .orderBy("outbox_events.seq")
      .limit(batchSize)
      .execute()) as Row[];
    if (rows.length === 0) return 0;

    const now = Date.now();
    const blocked = new Set<string>();
    const ready: Row[] = [];
    for (const row of rows) {
      const key = `${row.aggregate_type}:${row.aggregate_id}`;
      if (blocked.has(key)) continue;
      if (row.next_attempt_at.getTime() > now) {
        blocked.add(key);
        continue;
      }
      ready.push(row);
    }
    if (ready.length === 0) return 0;

    const outcomes = await this.publish(ready.map(toEvent));
    const published: string[] = [];
    const failed: Row[] = [];
    // A failure blocks the rest of its aggregate in this batch, even if they succeeded
    // on the wire they are republished later in order (consumers deduplicate).
    const failedKeys = new Set<string>();
    ready.forEach((row, i) => {
      const key = `${row.aggregate_type}:${row.aggregate_id}`;
      if (outcomes[i] && !failedKeys.has(key)) published.push(row.seq);
      else {
        failedKeys.add(key);
        if (!outcomes[i]) failed.push(row);
      }
    });
    await this.markPublished(published, ready);
    await this.markFailed(failed);
    return published.length;
  }

  private async publish(events: DomainEvent[]): Promise<boolean[]> {
    try {
      return await this.options.bus.publish(events);
    } catch (error) {
      this.options.logger.warn({ err: error, count: events.length }, "outbox publish failed");
      return events.map(() => false);
    }
  }

  private async markPublished(seqs: string[], rows: Row[]) {
    if (seqs.length === 0) return;
    const { db, metrics } = this.options;
    const now = new Date();
    await db
      .updateTable("outbox_events")
      .set({ published_at: now })
      .where("seq", "in", seqs)
      .execute();
    metrics.outboxPublished.inc(seqs.length);
    const set = new Set(seqs);
    for (const row of rows) {
      if (set.has(row.seq)) {
        metrics.outboxPublishLatency.observe(
          Math.max(0, now.getTime() - row.occurred_at.getTime()) / 1000,
        );
      }
    }
  }

  private async markFailed(rows: Row[]) {
    const { db, metrics, retryBaseMs, retryMaxMs } = this.options;
    for (const row of rows) {
      const delay =
        Math.min(retryMaxMs, retryBaseMs * 2 ** row.attempts) * (0.8 + Math.random() * 0.4);
      await db
        .updateTable("outbox_events")
        .set({
          attempts: row.attempts + 1,
          next_attempt_at: new Date(Date.now() + delay),
          last_error: "bus did not accept the event",
        })
        .where("seq", "=", row.seq)
        .execute();
    }
    metrics.outboxPublishFailures.inc(rows.length);
  }

  private async acquireLease(): Promise<boolean> {
    const { db, instanceId, leaseMs } = this.options;
    const until = new Date(Date.now() + leaseMs);
    const row = await db
      .insertInto("outbox_relay_lease")
      .values({ id: 1, owner: instanceId, lease_until: until })
      .onConflict((oc) =>
        oc
          .column("id")
          .doUpdateSet({ owner: instanceId, lease_until: until })
          .where((eb) =>
            eb.or([
              eb("outbox_relay_lease.owner", "=", instanceId),
              eb("outbox_relay_lease.lease_until", "<", new Date()),
            ]),
          ),
      )
      .returning("owner")
      .executeTakeFirst();
    return row !== undefined;
  }

  private async run(): Promise<void> {
    const { pollIntervalMs, logger } = this.options;
    while (this.running) {
      this.pending = false;
      let published = 0;
      try {
        published = await this.tick();
      } catch (error) {
        logger.warn({ err: error }, "outbox relay tick failed");
      }
      if (!this.running) break;
      if (published >= this.options.batchSize || this.pending) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, pollIntervalMs);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }
}

/** The outbox columns that make an event envelope; seq as text (it is a bigint). */
export const EVENT_COLUMNS = [
  sql<string>`seq::text`.as("seq"),
  "id",
  "project_id",
  "type",
  "version",
  "aggregate_type",
  "aggregate_id",
  "data",
  "occurred_at",
] as const;

export const toEvent = (row: Omit<Row, "attempts" | "next_attempt_at" | "seq">): DomainEvent => ({
  id: row.id,
  type: row.type,
  version: row.version,
  occurredAt: row.occurred_at.toISOString(),
  projectId: row.project_id,
  aggregate: { type: row.aggregate_type, id: row.aggregate_id },
  data: row.data,
});
