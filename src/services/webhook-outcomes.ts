import { sql, type Transaction } from "kysely";
import {
  honourRetryAfter,
  scheduledDelayMs,
  type RetrySchedule,
} from "../domain/webhook-retry-schedule.ts";
import type { DB } from "../platform/db/schema.ts";
import { uuidv7 } from "../platform/ids.ts";
import type { AttemptResult } from "./webhook-attempt.ts";
import type { SuccessBatch } from "./webhook-success-batch.ts";
import type { UnitOfWork, UnitOfWorkContext } from "./unit-of-work.ts";

/** A due message as the dispatcher claimed it. */
export interface ClaimedMessage {
  id: string;
  projectId: string;
  endpointId: string;
  eventType: string;
  payload: string;
  attemptCount: number;
  scheduleStep: number;
  nextTrigger: "scheduled" | "manual" | "recover";
  createdAt: Date;
  /** This claim's lease: every write below is conditional on still holding it. */
  lease: Date;
  /** Set when an earlier claim expired without an outcome (crash, or a lease outlived). */
  previousLease: Date | null;
  endpointVersion: number;
}

export type Outcome = "succeeded" | "retrying" | "failed" | "gone";

export interface OutcomeSettings {
  schedule: RetrySchedule;
  disableAfterMs: number;
}

/**
 * Everything an attempt changes, in one transaction (successes in batches, see
 * SuccessBatch): the attempt's record, the message's
 * next step on the schedule (or its end), and the endpoint's breaker. An endpoint that
 * answers 410, or has failed every attempt for `disableAfterMs`, is disabled with a
 * `webhook_endpoint.disabled` event and its pending messages are failed, all at once.
 */
export class WebhookOutcomes {
  constructor(
    private readonly uow: UnitOfWork,
    private readonly successes: SuccessBatch,
    private readonly settings: OutcomeSettings,
    private readonly random: () => number = Math.random,
  ) {}

  async record(message: ClaimedMessage, result: AttemptResult, now: Date): Promise<Outcome> {
    const status = result.statusCode;
    const outcome: Outcome =
      status !== undefined && status >= 200 && status < 300
        ? "succeeded"
        : status === 410
          ? "gone"
          : "failed";
    if (outcome === "succeeded") {
      await this.successes.record(message, result, now);
      return outcome;
    }
    const attempt = message.attemptCount + 1;
    const lastError = result.error ?? `HTTP ${status}`;
    return this.uow.run(async (ctx) => {
      const { trx } = ctx;
      // Deleted with its endpoint while the attempt ran: nothing left to record.
      if (!(await messageExists(trx, message.id))) return outcome;
      await trx
        .insertInto("webhook_attempts")
        .values({
          id: uuidv7(),
          message_id: message.id,
          endpoint_id: message.endpointId,
          attempt,
          trigger: message.nextTrigger,
          started_at: result.startedAt,
          duration_ms: result.durationMs,
          status_code: status ?? null,
          response_body: result.responseBody ?? null,
          response_truncated: result.responseTruncated ?? false,
          error: result.error ?? null,
          outcome: "failed",
        })
        .execute();
      const common = {
        attempt_count: attempt,
        lease_until: null,
        last_attempt_at: result.startedAt,
        last_status_code: status ?? null,
        last_error: lastError,
        next_trigger: "scheduled" as const,
        updated_at: now,
      };
      const mine = trx
        .updateTable("webhook_messages")
        .where("id", "=", message.id)
        .where("lease_until", "=", message.lease);

      if (outcome === "gone") {
        await mine.set({ ...common, status: "failed", next_attempt_at: null }).execute();
        await disableEndpoint(ctx, message, "gone", now);
        return outcome;
      }

      let delay = scheduledDelayMs(this.settings.schedule, message.scheduleStep, this.random);
      if (delay !== null && (status === 429 || status === 503))
        delay = honourRetryAfter(delay, result.retryAfter, now.getTime());
      await mine
        .set(
          delay === null
            ? { ...common, status: "failed", next_attempt_at: null }
            : {
                ...common,
                status: "pending",
                schedule_step: message.scheduleStep + 1,
                next_attempt_at: new Date(now.getTime() + delay),
              },
        )
        .execute();
      const failingSince = await markFailing(trx, message.endpointId, now);
      if (failingSince && now.getTime() - failingSince.getTime() >= this.settings.disableAfterMs)
        await disableEndpoint(ctx, message, "failing", now, failingSince);
      return delay === null ? "failed" : "retrying";
    });
  }

  /**
   * An earlier claim of this message ended without an outcome: the receiver may or may
   * not have it. Recorded as an attempt (visible in the deliveries API); the message is
   * attempted again now, with the same webhook-id, without moving on the schedule.
   */
  async recordInterrupted(message: ClaimedMessage, now: Date): Promise<ClaimedMessage> {
    const attempt = message.attemptCount + 1;
    await this.uow.run(async ({ trx }) => {
      if (!(await messageExists(trx, message.id))) return;
      await trx
        .insertInto("webhook_attempts")
        .values({
          id: uuidv7(),
          message_id: message.id,
          endpoint_id: message.endpointId,
          attempt,
          trigger: message.nextTrigger,
          // When the loss was noticed: the interrupted attempt's own start was never recorded.
          started_at: now,
          duration_ms: null,
          status_code: null,
          response_body: null,
          error: "interrupted: no outcome was recorded (the instance stopped mid-attempt)",
          outcome: "interrupted",
        })
        .execute();
      await trx
        .updateTable("webhook_messages")
        .set({ attempt_count: attempt })
        .where("id", "=", message.id)
        .where("lease_until", "=", message.lease)
        .execute();
    });
    return { ...message, attemptCount: attempt, previousLease: null };
  }
}

const messageExists = async (trx: Transaction<DB>, id: string) =>
  (await trx
    .selectFrom("webhook_messages")
    .select("id")
    .where("id", "=", id)
    // Locked: a delete cannot slip in between this check and the attempt's insert.
    .forUpdate()
    .executeTakeFirst()) !== undefined;

/** The endpoint's failing_since, set now if this is the first failure since a success. */
async function markFailing(trx: Transaction<DB>, endpointId: string, now: Date) {
  const started = await trx
    .updateTable("webhook_endpoints")
    .set({ failing_since: now })
    .where("id", "=", endpointId)
    .where("failing_since", "is", null)
    .returning("failing_since")
    .executeTakeFirst();
  if (started) return started.failing_since;
  const row = await trx
    .selectFrom("webhook_endpoints")
    .select("failing_since")
    .where("id", "=", endpointId)
    .executeTakeFirst();
  return row?.failing_since ?? null;
}

async function disableEndpoint(
  { trx, emit }: UnitOfWorkContext,
  message: Pick<ClaimedMessage, "endpointId" | "projectId">,
  reason: "gone" | "failing",
  now: Date,
  failingSince: Date | null = null,
) {
  const disabled = await trx
    .updateTable("webhook_endpoints")
    .set({
      status: "disabled",
      disabled_reason: reason,
      disabled_at: now,
      updated_at: now,
      config_version: sql`config_version + 1`,
    })
    .where("id", "=", message.endpointId)
    .where("status", "=", "enabled")
    .returning(["id", "url"])
    .executeTakeFirst();
  if (!disabled) return;
  await trx
    .updateTable("webhook_messages")
    .set({
      status: "failed",
      next_attempt_at: null,
      lease_until: null,
      last_error: `endpoint disabled (${reason})`,
      updated_at: now,
    })
    .where("endpoint_id", "=", message.endpointId)
    .where("status", "=", "pending")
    .execute();
  emit("webhook_endpoint.disabled", {
    projectId: message.projectId,
    aggregateId: disabled.id,
    data: {
      endpointId: disabled.id,
      url: disabled.url,
      reason,
      failingSince: failingSince ? failingSince.toISOString() : null,
    },
  });
}
