import type { ColumnType, Generated } from "kysely";

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

export interface MigrationsTable {
  name: string;
  applied_at: CreatedAt;
}

export interface DB {
  projects: ProjectsTable;
  api_keys: ApiKeysTable;
  idempotency_keys: IdempotencyKeysTable;
  contacts: ContactsTable;
  ventros_migrations: MigrationsTable;
  outbox_events: OutboxEventsTable;
  outbox_relay_lease: OutboxRelayLeaseTable;
  consumed_events: ConsumedEventsTable;
  contact_timeline: ContactTimelineTable;
}
