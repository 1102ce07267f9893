import type { Migration } from "../migrate.ts";

export const events: Migration = {
  name: "0002-events",
  statements: [
    // seq gives one total order; the relay publishes in seq order per aggregate.
    `create table outbox_events (
      seq bigserial primary key,
      id uuid not null unique,
      project_id uuid not null,
      type text not null,
      version integer not null,
      aggregate_type text not null,
      aggregate_id text not null,
      data jsonb not null,
      occurred_at timestamptz not null,
      published_at timestamptz,
      attempts integer not null default 0,
      next_attempt_at timestamptz not null default now(),
      last_error text
    )`,
    `create index outbox_events_unpublished_idx on outbox_events (seq) where published_at is null`,
    `create index outbox_events_project_seq_idx on outbox_events (project_id, seq)`,
    `create index outbox_events_published_at_idx on outbox_events (published_at) where published_at is not null`,
    // One relay at a time (across instances) keeps per-aggregate order without long locks.
    `create table outbox_relay_lease (
      id integer primary key,
      owner text not null,
      lease_until timestamptz not null
    )`,
    `create table consumed_events (
      consumer text not null,
      event_id uuid not null,
      processed_at timestamptz not null default now(),
      primary key (consumer, event_id)
    )`,
    `create index consumed_events_processed_at_idx on consumed_events (processed_at)`,
    `create table contact_timeline (
      id uuid primary key,
      project_id uuid not null,
      contact_id uuid not null,
      event_id uuid not null unique,
      type text not null,
      summary text not null,
      data jsonb not null,
      occurred_at timestamptz not null
    )`,
    `create index contact_timeline_contact_idx on contact_timeline (project_id, contact_id, id desc)`,
  ],
};
