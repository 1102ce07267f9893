import type { ColumnType, Generated } from "kysely";

/** Kysely's view of the webhook tables (migration 0005-webhooks). */
type Timestamp = ColumnType<Date, Date | string, Date | string>;
type CreatedAt = ColumnType<Date, Date | string | undefined, never>;
type Json<T> = ColumnType<T, string, string>;

export type WebhookEndpointStatus = "enabled" | "disabled";
export type WebhookMessageStatus = "pending" | "succeeded" | "failed";
/** What caused an attempt: the retry schedule, a manual retry, or a recovery. */
export type WebhookAttemptTrigger = "scheduled" | "manual" | "recover";
export type WebhookAttemptOutcome = "succeeded" | "failed" | "interrupted";

export interface WebhookEndpointsTable {
  id: string;
  project_id: string;
  url: string;
  description: string | null;
  event_types: Json<string[]>;
  headers_enc: string | null;
  rate_limit_per_second: number | null;
  status: Generated<WebhookEndpointStatus>;
  disabled_reason: string | null;
  disabled_at: Timestamp | null;
  failing_since: Timestamp | null;
  last_success_at: Timestamp | null;
  config_version: Generated<number>;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface WebhookEndpointSecretsTable {
  id: string;
  endpoint_id: string;
  secret_enc: string;
  created_at: CreatedAt;
  expires_at: Timestamp | null;
}

export interface WebhookMessagesTable {
  id: string;
  project_id: string;
  endpoint_id: string;
  event_id: string;
  event_type: string;
  payload: string;
  status: WebhookMessageStatus;
  attempt_count: Generated<number>;
  schedule_step: Generated<number>;
  next_attempt_at: Timestamp | null;
  next_trigger: Generated<WebhookAttemptTrigger>;
  lease_until: Timestamp | null;
  last_attempt_at: Timestamp | null;
  last_status_code: number | null;
  last_error: string | null;
  created_at: Timestamp;
  succeeded_at: Timestamp | null;
  updated_at: Timestamp;
}

export interface WebhookAttemptsTable {
  id: string;
  message_id: string;
  endpoint_id: string;
  attempt: number;
  trigger: WebhookAttemptTrigger;
  started_at: Timestamp;
  duration_ms: number | null;
  status_code: number | null;
  response_body: string | null;
  response_truncated: Generated<boolean>;
  error: string | null;
  outcome: WebhookAttemptOutcome;
}

export interface WebhookTables {
  webhook_endpoints: WebhookEndpointsTable;
  webhook_endpoint_secrets: WebhookEndpointSecretsTable;
  webhook_messages: WebhookMessagesTable;
  webhook_attempts: WebhookAttemptsTable;
}
