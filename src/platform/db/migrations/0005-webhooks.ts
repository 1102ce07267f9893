import type { Migration } from "../migrate.ts";

export const webhooks: Migration = {
  name: "0005-webhooks",
  statements: [
    `create table webhook_endpoints (
      id uuid primary key,
      project_id uuid not null references projects(id) on delete cascade,
      url text not null,
      description text,
      event_types jsonb not null,
      -- Custom headers often carry credentials: sealed like every provider secret.
      headers_enc text,
      rate_limit_per_second integer check (rate_limit_per_second between 1 and 10000),
      status text not null default 'enabled' check (status in ('enabled', 'disabled')),
      disabled_reason text,
      disabled_at timestamptz,
      -- The per-endpoint breaker: set by the first failure after a success, cleared by a
      -- success; an endpoint failing for WEBHOOK_DISABLE_AFTER_HOURS is disabled.
      failing_since timestamptz,
      last_success_at timestamptz,
      -- Bumped by every change deliveries depend on (URL, headers, secrets, status): the
      -- dispatchers' cached copies are keyed on it (a timestamp can repeat).
      config_version integer not null default 1,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    )`,
    `create index webhook_endpoints_project_idx on webhook_endpoints (project_id, id desc)`,
    `create table webhook_endpoint_secrets (
      id uuid primary key,
      endpoint_id uuid not null references webhook_endpoints(id) on delete cascade,
      secret_enc text not null,
      created_at timestamptz not null default now(),
      -- Null while current; a rotated-out secret signs until this time.
      expires_at timestamptz
    )`,
    `create index webhook_endpoint_secrets_endpoint_idx on webhook_endpoint_secrets (endpoint_id)`,
    // One row per (endpoint, event): the durable delivery queue and its history. The row
    // id is the webhook-id receivers deduplicate on, the same on every attempt.
    `create table webhook_messages (
      id uuid primary key,
      project_id uuid not null,
      endpoint_id uuid not null references webhook_endpoints(id) on delete cascade,
      event_id uuid not null,
      event_type text not null,
      -- The exact body sent on every attempt ({type, timestamp, data}): text keeps its bytes.
      payload text not null,
      status text not null check (status in ('pending', 'succeeded', 'failed')),
      attempt_count integer not null default 0,
      schedule_step integer not null default 0,
      next_attempt_at timestamptz,
      next_trigger text not null default 'scheduled',
      lease_until timestamptz,
      last_attempt_at timestamptz,
      last_status_code integer,
      last_error text,
      created_at timestamptz not null,
      succeeded_at timestamptz,
      updated_at timestamptz not null
    )`,
    `create unique index webhook_messages_event_key on webhook_messages (endpoint_id, event_id)`,
    `create index webhook_messages_due_idx on webhook_messages (next_attempt_at) where status = 'pending'`,
    `create index webhook_messages_endpoint_idx on webhook_messages (endpoint_id, id desc)`,
    `create table webhook_attempts (
      id uuid primary key,
      message_id uuid not null references webhook_messages(id) on delete cascade,
      endpoint_id uuid not null,
      attempt integer not null,
      trigger text not null,
      started_at timestamptz not null,
      duration_ms integer,
      status_code integer,
      response_body text,
      response_truncated boolean not null default false,
      error text,
      outcome text not null check (outcome in ('succeeded', 'failed', 'interrupted'))
    )`,
    `create index webhook_attempts_message_idx on webhook_attempts (message_id, attempt)`,
  ],
};
