import type { Kysely, Selectable } from "kysely";
import type { DB } from "../platform/db/schema.ts";
import type { WebhookAttemptsTable, WebhookMessagesTable } from "../platform/db/webhook-tables.ts";
import { AppError, notFound, validationError } from "../platform/errors.ts";
import { decodeCursor, toPage, type Page } from "./pagination.ts";
import { webhookIdOf } from "./webhook-attempt.ts";

export interface WebhookAttempt {
  attempt: number;
  trigger: "scheduled" | "manual" | "recover";
  startedAt: string;
  durationMs: number | null;
  statusCode: number | null;
  responseBody: string | null;
  responseTruncated: boolean;
  error: string | null;
  outcome: "succeeded" | "failed" | "interrupted";
}

export interface WebhookDelivery {
  id: string;
  /** The `webhook-id` header of every attempt of this delivery. */
  webhookId: string;
  endpointId: string;
  eventId: string;
  eventType: string;
  status: "pending" | "succeeded" | "failed";
  attemptCount: number;
  nextAttemptAt: string | null;
  lastAttemptAt: string | null;
  lastStatusCode: number | null;
  lastError: string | null;
  createdAt: string;
  succeededAt: string | null;
  payload: unknown;
  attempts: WebhookAttempt[];
}

export interface DeliveryFilters {
  limit: number;
  cursor?: string;
  status?: "pending" | "succeeded" | "failed";
}

/** Reading deliveries with their attempts, and putting failed ones back on the queue. */
export class WebhookDeliveries {
  constructor(private readonly deps: { db: Kysely<DB>; now: () => number; wake: () => void }) {}

  async list(
    projectId: string,
    endpointId: string,
    filters: DeliveryFilters,
  ): Promise<Page<WebhookDelivery>> {
    await this.endpoint(projectId, endpointId);
    let query = this.deps.db
      .selectFrom("webhook_messages")
      .selectAll()
      .where("project_id", "=", projectId)
      .where("endpoint_id", "=", endpointId)
      .orderBy("id", "desc")
      .limit(filters.limit + 1);
    if (filters.status) query = query.where("status", "=", filters.status);
    if (filters.cursor) query = query.where("id", "<", decodeCursor(filters.cursor));
    const rows = await query.execute();
    const attempts = await this.attemptsOf(rows.slice(0, filters.limit).map((r) => r.id));
    return toPage(rows, filters.limit, (row) => toDelivery(row, attempts.get(row.id) ?? []));
  }

  async get(projectId: string, id: string): Promise<WebhookDelivery> {
    const row = await this.message(projectId, id);
    const attempts = await this.attemptsOf([id]);
    return toDelivery(row, attempts.get(id) ?? []);
  }

  /** One more attempt now, with the same webhook-id; the schedule resumes if it fails. */
  async retry(projectId: string, id: string): Promise<WebhookDelivery> {
    const row = await this.message(projectId, id);
    await this.assertEnabled(projectId, row.endpoint_id);
    const now = new Date(this.deps.now());
    if (row.lease_until && row.lease_until > now)
      throw new AppError(
        "WEBHOOK_DELIVERY_IN_FLIGHT",
        "conflict",
        "An attempt of this delivery is in flight; retry once it has finished",
      );
    await this.deps.db
      .updateTable("webhook_messages")
      .set({ status: "pending", next_attempt_at: now, next_trigger: "manual", updated_at: now })
      .where("id", "=", id)
      .execute();
    this.deps.wake();
    return this.get(projectId, id);
  }

  /** Every failed delivery of the endpoint created since `since` goes back on the queue. */
  async recover(projectId: string, endpointId: string, since: string) {
    const from = new Date(since);
    const now = new Date(this.deps.now());
    if (from > now)
      throw validationError([{ field: "since", message: "must not be in the future" }]);
    await this.assertEnabled(projectId, endpointId);
    const result = await this.deps.db
      .updateTable("webhook_messages")
      .set({ status: "pending", next_attempt_at: now, next_trigger: "recover", updated_at: now })
      .where("project_id", "=", projectId)
      .where("endpoint_id", "=", endpointId)
      .where("status", "=", "failed")
      .where("created_at", ">=", from)
      .executeTakeFirst();
    this.deps.wake();
    return { recovered: Number(result.numUpdatedRows), since: from.toISOString() };
  }

  private async assertEnabled(projectId: string, endpointId: string) {
    const endpoint = await this.endpoint(projectId, endpointId);
    if (endpoint.status !== "enabled")
      throw new AppError(
        "WEBHOOK_ENDPOINT_DISABLED",
        "conflict",
        "The endpoint is disabled; enable it (POST /v1/webhook-endpoints/:id/enable) first",
        { details: { reason: endpoint.disabled_reason } },
      );
  }

  private async endpoint(projectId: string, endpointId: string) {
    const endpoint = await this.deps.db
      .selectFrom("webhook_endpoints")
      .select(["id", "status", "disabled_reason"])
      .where("project_id", "=", projectId)
      .where("id", "=", endpointId)
      .executeTakeFirst();
    if (!endpoint) throw notFound("webhook_endpoint");
    return endpoint;
  }

  private async message(projectId: string, id: string) {
    const row = await this.deps.db
      .selectFrom("webhook_messages")
      .selectAll()
      .where("project_id", "=", projectId)
      .where("id", "=", id)
      .executeTakeFirst();
    if (!row) throw notFound("webhook_delivery");
    return row;
  }

  private async attemptsOf(ids: string[]) {
    const byMessage = new Map<string, WebhookAttempt[]>();
    if (ids.length === 0) return byMessage;
    const rows = await this.deps.db
      .selectFrom("webhook_attempts")
      .selectAll()
      .where("message_id", "in", ids)
      .orderBy("message_id")
      .orderBy("attempt")
      .execute();
    for (const row of rows) {
      const list = byMessage.get(row.message_id) ?? [];
      list.push(toAttempt(row));
      byMessage.set(row.message_id, list);
    }
    return byMessage;
  }
}

function toAttempt(row: Selectable<WebhookAttemptsTable>): WebhookAttempt {
  return {
    attempt: row.attempt,
    trigger: row.trigger,
    startedAt: row.started_at.toISOString(),
    durationMs: row.duration_ms,
    statusCode: row.status_code,
    responseBody: row.response_body,
    responseTruncated: row.response_truncated,
    error: row.error,
    outcome: row.outcome,
  };
}

function toDelivery(
  row: Selectable<WebhookMessagesTable>,
  attempts: WebhookAttempt[],
): WebhookDelivery {
  return {
    id: row.id,
    webhookId: webhookIdOf(row.id),
    endpointId: row.endpoint_id,
    eventId: row.event_id,
    eventType: row.event_type,
    status: row.status,
    attemptCount: row.attempt_count,
    nextAttemptAt: row.next_attempt_at?.toISOString() ?? null,
    lastAttemptAt: row.last_attempt_at?.toISOString() ?? null,
    lastStatusCode: row.last_status_code,
    lastError: row.last_error,
    createdAt: row.created_at.toISOString(),
    succeededAt: row.succeeded_at?.toISOString() ?? null,
    payload: JSON.parse(row.payload) as unknown,
    attempts,
  };
}
