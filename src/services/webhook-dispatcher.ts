import { sql, type Kysely } from "kysely";
import type { DB } from "../platform/db/schema.ts";
import type { HttpClient } from "../platform/http-client/http-client.ts";
import type { Logger } from "../platform/logger.ts";
import {
  attemptDelivery,
  webhookIdOf,
  type AttemptSettings,
  type DeliveryTarget,
} from "./webhook-attempt.ts";
import type { WebhookDeliveryMetrics } from "./webhook-delivery-metrics.ts";
import type { WebhookEndpoints } from "./webhook-endpoints.ts";
import type { ClaimedMessage, WebhookOutcomes } from "./webhook-outcomes.ts";
import { WebhookTargets } from "./webhook-targets.ts";

export interface DispatcherSettings extends AttemptSettings {
  concurrency: number;
  batchSize: number;
  pollIntervalMs: number;
  /** A claim older than this is taken to be lost (crash) and claimed again. */
  leaseMs: number;
}

interface ClaimRow {
  id: string;
  project_id: string;
  endpoint_id: string;
  event_type: string;
  payload: string;
  attempt_count: number;
  schedule_step: number;
  next_trigger: ClaimedMessage["nextTrigger"];
  created_at: Date;
  previous_lease: Date | null;
  endpoint_version: number;
}

/**
 * The durable delivery queue's worker. Messages are rows (`webhook_messages`) with a due
 * time; each pass claims due rows with FOR UPDATE SKIP LOCKED and a lease, so instances
 * share the work and a crashed instance's claims come back when their lease runs out.
 * Attempts run concurrently up to `concurrency`; each outcome commits with its schedule.
 * Time comes from `now`, so tests drive the schedule with a fake clock.
 */
export class WebhookDispatcher {
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private pending = false;
  /** Every claim until its outcome is committed (for stop and idle). */
  private readonly inFlight = new Set<Promise<void>>();
  /** Claims whose HTTP attempt has not finished: what `concurrency` limits. */
  private attempting = 0;
  private readonly abort = new AbortController();
  private readonly targets: WebhookTargets;

  constructor(
    private readonly deps: {
      db: Kysely<DB>;
      http: HttpClient;
      endpoints: WebhookEndpoints;
      outcomes: WebhookOutcomes;
      metrics: WebhookDeliveryMetrics;
      logger: Logger;
      settings: DispatcherSettings;
      now: () => number;
    },
  ) {
    this.targets = new WebhookTargets({ db: deps.db, endpoints: deps.endpoints });
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** New due work (a fan-out committed, a retry was requested): claim without waiting. */
  notify(): void {
    this.pending = true;
    this.wake?.();
  }

  /** Stops claiming, lets attempts in flight finish within `timeoutMs`, then aborts them. */
  async stop(timeoutMs = 15_000): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.wake?.();
    await this.loop;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
    });
    await Promise.race([Promise.allSettled([...this.inFlight]), deadline]);
    clearTimeout(timer);
    // Aborted attempts are not recorded: their leases expire and they run again.
    this.abort.abort();
    await Promise.allSettled([...this.inFlight]);
  }

  /** One claim-and-dispatch pass (tests call it directly); resolves with the claims made. */
  async pass(): Promise<number> {
    const { concurrency } = this.deps.settings;
    // Outcomes still being written do not hold an attempt slot, but a database that
    // cannot keep up stops the claiming before they pile up.
    const free = this.inFlight.size >= concurrency * 4 ? 0 : concurrency - this.attempting;
    if (free <= 0) return 0;
    const claims = await this.claim(Math.min(free, this.deps.settings.batchSize));
    for (const claim of claims) {
      this.attempting += 1;
      let slot = true;
      const freeSlot = () => {
        if (!slot) return;
        slot = false;
        this.attempting -= 1;
        // A freed slot may take work that is already due.
        this.notify();
      };
      const work = this.process(claim, freeSlot).catch((error: unknown) =>
        this.deps.logger.error({ err: error, messageId: claim.id }, "webhook delivery failed"),
      );
      this.inFlight.add(work);
      void work.finally(() => {
        this.inFlight.delete(work);
        freeSlot();
      });
    }
    return claims.length;
  }

  /** Resolves when no attempt is in flight (tests). */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  private async run(): Promise<void> {
    while (this.running) {
      this.pending = false;
      let claimed = 0;
      try {
        claimed = await this.pass();
      } catch (error) {
        this.deps.logger.warn({ err: error }, "webhook dispatcher could not claim deliveries");
      }
      const full = claimed > 0 && claimed === this.deps.settings.batchSize;
      if (this.running && !full && !this.pending) await this.sleep();
    }
  }

  private sleep(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, this.deps.settings.pollIntervalMs);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = () => {
        this.wake = undefined;
        done();
      };
    });
  }

  private async claim(limit: number): Promise<ClaimedMessage[]> {
    const now = new Date(this.deps.now());
    const lease = new Date(now.getTime() + this.deps.settings.leaseMs);
    const { rows } = await sql<ClaimRow>`
      with due as (
        select id, lease_until as previous_lease
        from webhook_messages
        where status = 'pending' and next_attempt_at <= ${now}
          and (lease_until is null or lease_until < ${now})
        order by next_attempt_at
        limit ${limit}
        for update skip locked
      )
      update webhook_messages m
      set lease_until = ${lease}
      from due, webhook_endpoints e
      where m.id = due.id and e.id = m.endpoint_id
      returning m.id, m.project_id, m.endpoint_id, m.event_type, m.payload, m.attempt_count,
        m.schedule_step, m.next_trigger, m.created_at, due.previous_lease,
        e.config_version as endpoint_version`.execute(this.deps.db);
    return rows.map((row) => ({
      id: row.id,
      projectId: row.project_id,
      endpointId: row.endpoint_id,
      eventType: row.event_type,
      payload: row.payload,
      attemptCount: row.attempt_count,
      scheduleStep: row.schedule_step,
      nextTrigger: row.next_trigger,
      createdAt: new Date(row.created_at),
      lease,
      previousLease: row.previous_lease ? new Date(row.previous_lease) : null,
      endpointVersion: Number(row.endpoint_version),
    }));
  }

  /** One claim: `attempted` is called once the HTTP attempt (if any) is over. */
  private async process(claimed: ClaimedMessage, attempted: () => void): Promise<void> {
    const { outcomes, metrics, http, settings, now } = this.deps;
    let message = claimed;
    if (message.previousLease) {
      message = await outcomes.recordInterrupted(message, new Date(now()));
      metrics.delivered("interrupted");
    }
    let target: DeliveryTarget;
    try {
      target = await this.targets.get(message.endpointId, message.endpointVersion);
    } catch (error) {
      // E.g. secrets sealed with another ENCRYPTION_KEY: a failed attempt on the schedule,
      // visible in the deliveries API, rather than a claim that silently expires forever.
      this.deps.logger.error(
        { err: error, endpointId: message.endpointId },
        "webhook endpoint unusable",
      );
      const result = {
        startedAt: new Date(now()),
        durationMs: 0,
        error: `endpoint unusable: ${error instanceof Error ? error.message : String(error)}`,
      };
      metrics.delivered(await outcomes.record(message, result, new Date(now())));
      return;
    }
    if (target.status !== "enabled") {
      await this.release(message, { status: "failed", last_error: "endpoint disabled" });
      metrics.delivered("skipped");
      return;
    }
    const waitMs = this.targets.throttle(target);
    if (waitMs > 0) {
      await this.release(message, { next_attempt_at: new Date(now() + Math.ceil(waitMs)) });
      metrics.delivered("deferred");
      return;
    }
    const result = await attemptDelivery(
      http,
      settings,
      target,
      { webhookId: webhookIdOf(message.id), body: message.payload },
      now,
      this.abort.signal,
    );
    attempted();
    if (this.abort.signal.aborted) return;
    metrics.attempted(result);
    const outcome = await outcomes.record(message, result, new Date(now()));
    metrics.delivered(outcome, message.attemptCount === 0 ? message.createdAt : undefined, result);
  }

  /** Gives a claim back without an attempt (endpoint disabled, rate limit). */
  private async release(
    message: ClaimedMessage,
    change: { status?: "failed"; last_error?: string; next_attempt_at?: Date },
  ) {
    await this.deps.db
      .updateTable("webhook_messages")
      .set({
        ...change,
        ...(change.status === "failed" ? { next_attempt_at: null } : {}),
        lease_until: null,
        updated_at: new Date(this.deps.now()),
      })
      .where("id", "=", message.id)
      .where("lease_until", "=", message.lease)
      .execute();
  }
}
