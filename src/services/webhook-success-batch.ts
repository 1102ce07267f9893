import { sql, type Kysely } from "kysely";
import type { DB } from "../platform/db/schema.ts";
import { withTransaction } from "../platform/db/transaction.ts";
import { uuidv7 } from "../platform/ids.ts";
import type { AttemptResult } from "./webhook-attempt.ts";
import type { ClaimedMessage } from "./webhook-outcomes.ts";

interface Pending {
  message: ClaimedMessage;
  result: AttemptResult;
  now: Date;
  done: { resolve(): void; reject(error: unknown): void };
}

/** Only successes this far apart rewrite the endpoint row (a hot row under load). */
const LAST_SUCCESS_RESOLUTION_MS = 60_000;

/**
 * Successful attempts are the common case and change nothing but their own rows, so they
 * are written together: one transaction per batch (every attempt, every message, each
 * endpoint's breaker reset once) instead of one per delivery. One batch is written at a
 * time, and whatever arrives meanwhile is the next batch (group commit): the slower the
 * database, the larger the batches. Each caller's promise settles with its batch, so
 * nothing is acknowledged before it is committed.
 */
export class SuccessBatch {
  private pending: Pending[] = [];
  private writing = false;

  constructor(
    private readonly db: Kysely<DB>,
    private readonly maxBatch = 200,
  ) {}

  record(message: ClaimedMessage, result: AttemptResult, now: Date): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ message, result, now, done: { resolve, reject } });
      if (!this.writing) {
        this.writing = true;
        // The rest of this turn's outcomes join the batch.
        setImmediate(() => void this.drain());
      }
    });
  }

  private async drain(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0, this.maxBatch);
      await this.write(batch);
    }
    this.writing = false;
  }

  private async write(batch: Pending[]): Promise<void> {
    try {
      await withTransaction(this.db, async (trx) => {
        const rows = batch.map(
          ({ message, result, now }) =>
            sql`(${message.id}::uuid, ${message.lease}::timestamptz, ${message.attemptCount + 1}::int,
              ${result.startedAt}::timestamptz, ${result.statusCode ?? null}::int, ${now}::timestamptz)`,
        );
        await sql`
          update webhook_messages m
          set status = 'succeeded', succeeded_at = v.now, updated_at = v.now,
            attempt_count = v.attempt, lease_until = null, next_attempt_at = null,
            last_attempt_at = v.started_at, last_status_code = v.status_code,
            last_error = null, next_trigger = 'scheduled'
          from (values ${sql.join(rows)}) as v(id, lease, attempt, started_at, status_code, now)
          where m.id = v.id and m.lease_until = v.lease`.execute(trx);
        // A message deleted meanwhile (its endpoint was) keeps no attempt: inserting one
        // would violate the foreign key and fail everyone else's outcome in this batch.
        const existing = await trx
          .selectFrom("webhook_messages")
          .select("id")
          .where(
            "id",
            "in",
            batch.map(({ message }) => message.id),
          )
          .forUpdate()
          .execute();
        const alive = new Set(existing.map((row) => row.id));
        const recorded = batch.filter(({ message }) => alive.has(message.id));
        if (recorded.length > 0)
          await trx
            .insertInto("webhook_attempts")
            .values(
              recorded.map(({ message, result }) => ({
                id: uuidv7(),
                message_id: message.id,
                endpoint_id: message.endpointId,
                attempt: message.attemptCount + 1,
                trigger: message.nextTrigger,
                started_at: result.startedAt,
                duration_ms: result.durationMs,
                status_code: result.statusCode ?? null,
                response_body: result.responseBody ?? null,
                response_truncated: result.responseTruncated ?? false,
                error: null,
                outcome: "succeeded" as const,
              })),
            )
            .execute();
        const latest = new Map<string, Date>();
        for (const { message, now } of batch) latest.set(message.endpointId, now);
        for (const [endpointId, now] of latest) {
          await trx
            .updateTable("webhook_endpoints")
            .set({ failing_since: null, last_success_at: now })
            .where("id", "=", endpointId)
            .where((eb) =>
              eb.or([
                eb("failing_since", "is not", null),
                eb("last_success_at", "is", null),
                eb("last_success_at", "<", new Date(now.getTime() - LAST_SUCCESS_RESOLUTION_MS)),
              ]),
            )
            .execute();
        }
      });
      for (const { done } of batch) done.resolve();
    } catch (error) {
      for (const { done } of batch) done.reject(error);
    }
  }
}
