import type { ColumnType, Generated } from "kysely";
import type { WebhookTables } from "./webhook-tables.ts";

/** Kysely's view of our tables. Migrations in ./migrations are the source of truth. */
type Timestamp = ColumnType<Date, Date | string, Date | string>;
type CreatedAt = ColumnType<Date, Date | string | undefined, never>;
type Json<T> = ColumnType<T, string, string>;

export interface ProjectsTable {
  id: string;
  name: string;
  default_session_timeout_minutes: Generated<number>;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface ApiKeysTable {
  id: string;
  project_id: string;
  name: string;
  role: "admin" | "agent" | "readonly";
  key_prefix: string;
  key_hash: string;
  created_at: CreatedAt;
  last_used_at: Timestamp | null;
  revoked_at: Timestamp | null;
}

export interface IdempotencyKeysTable {
  scope: string;
  key: string;
  request_hash: string;
  status_code: number | null;
  response_body: Json<unknown> | null;
  locked_until: Timestamp;
  created_at: CreatedAt;
  expires_at: Timestamp;
}

export interface ContactsTable {
  id: string;
  project_id: string;
  name: string;
  phone: string | null;
  email: string | null;
  tags: ColumnType<string[], string[], string[]>;
  custom_fields: Json<Record<string, unknown>>;
  external_id: string | null;
  whatsapp_wid: string | null;
  whatsapp_lid: string | null;
  first_interaction_at: Timestamp | null;
  last_interaction_at: Timestamp | null;
  created_at: CreatedAt;
  updated_at: Timestamp;
  deleted_at: Timestamp | null;
}

export interface OutboxEventsTable {
  seq: Generated<string>;
  id: string;
  project_id: string;
  type: string;
  version: number;
  aggregate_type: string;
  aggregate_id: string;
  data: Json<unknown>;
  occurred_at: Timestamp;
  published_at: Timestamp | null;
  attempts: Generated<number>;
  next_attempt_at: ColumnType<Date, Date | string | undefined, Date | string>;
  last_error: string | null;
}

export interface OutboxRelayLeaseTable {
  id: number;
  owner: string;
  lease_until: Timestamp;
}

export interface ConsumedEventsTable {
  consumer: string;
  event_id: string;
  processed_at: CreatedAt;
}

export interface ContactTimelineTable {
  id: string;
  project_id: string;
  contact_id: string;
  event_id: string;
  type: string;
  summary: string;
  data: Json<unknown>;
  occurred_at: Timestamp;
}

export interface ChannelsTable {
  id: string;
  project_id: string;
  name: string;
  type: "waha";
  status: ColumnType<ChannelStatus, ChannelStatus | undefined, ChannelStatus>;
  waha_base_url: string;
  waha_session: string;
  waha_api_key_enc: string;
  inbound_id: string;
  inbound_secret_enc: string;
  session_timeout_minutes: number | null;
  pipeline_id: ColumnType<string | null, string | null | undefined, string | null>;
  allow_groups: ColumnType<boolean, boolean | undefined, boolean>;
  last_send_at: Timestamp | null;
  status_changed_at: Timestamp | null;
  created_at: CreatedAt;
  updated_at: Timestamp;
  deleted_at: Timestamp | null;
}

export type ChannelStatus = "inactive" | "activating" | "active" | "disconnected" | "failed";

export interface InboundEventsTable {
  id: string;
  project_id: string;
  channel_id: string;
  external_id: string;
  event_type: string;
  payload: Json<unknown>;
  status: ColumnType<string, string | undefined, string>;
  result: string | null;
  received_at: CreatedAt;
  processed_at: Timestamp | null;
}

export interface ConversationSessionsTable {
  id: string;
  project_id: string;
  contact_id: string;
  channel_id: string;
  status: "active" | "ended";
  end_reason: string | null;
  timeout_minutes: number;
  started_at: Timestamp;
  last_activity_at: Timestamp;
  ended_at: Timestamp | null;
  message_count: ColumnType<number, number | undefined, number>;
  inbound_count: ColumnType<number, number | undefined, number>;
  outbound_count: ColumnType<number, number | undefined, number>;
  first_inbound_at: Timestamp | null;
  first_response_at: Timestamp | null;
  first_response_seconds: number | null;
  last_inbound_at: Timestamp | null;
  total_wait_seconds: ColumnType<string | number, number | undefined, number>;
}

export interface MessagesTable {
  id: string;
  project_id: string;
  channel_id: string;
  contact_id: string;
  session_id: string | null;
  direction: "inbound" | "outbound";
  type: string;
  text: string | null;
  media: Json<unknown> | null;
  location: Json<unknown> | null;
  vcard: string | null;
  reply_to_id: string | null;
  reply_to_external_id: string | null;
  group_info: Json<unknown> | null;
  status: string;
  external_id: string | null;
  sent_at: Timestamp | null;
  delivered_at: Timestamp | null;
  read_at: Timestamp | null;
  played_at: Timestamp | null;
  failure_reason: string | null;
  attribution: Json<unknown> | null;
  reactions: ColumnType<unknown, string | undefined, string>;
  edited_at: Timestamp | null;
  revoked_at: Timestamp | null;
  send_attempted_at: Timestamp | null;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface PendingAcksTable {
  channel_id: string;
  external_id: string;
  ack: number;
  acked_at: Timestamp;
  received_at: CreatedAt;
}

export interface PipelinesTable {
  id: string;
  project_id: string;
  name: string;
  session_timeout_minutes: number | null;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export type PipelineStatusType = "open" | "won" | "lost";

export interface PipelineStatusesTable {
  id: string;
  project_id: string;
  pipeline_id: string;
  name: string;
  type: PipelineStatusType;
  color: string | null;
  position: number;
  created_at: CreatedAt;
}

export interface MigrationsTable {
  name: string;
  applied_at: CreatedAt;
}

export interface DB extends WebhookTables {
  projects: ProjectsTable;
  api_keys: ApiKeysTable;
  idempotency_keys: IdempotencyKeysTable;
  contacts: ContactsTable;
  ventros_migrations: MigrationsTable;
  outbox_events: OutboxEventsTable;
  outbox_relay_lease: OutboxRelayLeaseTable;
  consumed_events: ConsumedEventsTable;
  contact_timeline: ContactTimelineTable;
  channels: ChannelsTable;
  inbound_events: InboundEventsTable;
  conversation_sessions: ConversationSessionsTable;
  messages: MessagesTable;
  pending_acks: PendingAcksTable;
  pipelines: PipelinesTable;
  pipeline_statuses: PipelineStatusesTable;
}
