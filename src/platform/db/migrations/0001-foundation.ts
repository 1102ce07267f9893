import type { Migration } from "../migrate.ts";

export const foundation: Migration = {
  name: "0001-foundation",
  statements: [
    `create table projects (
      id uuid primary key,
      name text not null,
      default_session_timeout_minutes integer not null default 30
        check (default_session_timeout_minutes between 1 and 1440),
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    )`,
    `create table api_keys (
      id uuid primary key,
      project_id uuid not null references projects(id) on delete cascade,
      name text not null,
      role text not null check (role in ('admin', 'agent', 'readonly')),
      key_prefix text not null,
      key_hash text not null unique,
      created_at timestamptz not null default now(),
      last_used_at timestamptz,
      revoked_at timestamptz
    )`,
    `create index api_keys_project_idx on api_keys (project_id, id)`,
    // scope is a project id, or "admin" for ADMIN_TOKEN requests (no project yet).
    `create table idempotency_keys (
      scope text not null,
      key text not null,
      request_hash text not null,
      status_code integer,
      response_body jsonb,
      locked_until timestamptz not null,
      created_at timestamptz not null default now(),
      expires_at timestamptz not null,
      primary key (scope, key)
    )`,
    `create index idempotency_keys_expires_idx on idempotency_keys (expires_at)`,
    `create table contacts (
      id uuid primary key,
      project_id uuid not null references projects(id) on delete cascade,
      name text not null,
      phone text,
      email text,
      tags text[] not null default '{}',
      custom_fields jsonb not null default '{}',
      external_id text,
      whatsapp_wid text,
      whatsapp_lid text,
      first_interaction_at timestamptz,
      last_interaction_at timestamptz,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      deleted_at timestamptz
    )`,
    // Uniqueness holds among live contacts only: a deleted contact frees its phone.
    `create unique index contacts_project_phone_key on contacts (project_id, phone)
      where deleted_at is null and phone is not null`,
    `create unique index contacts_project_external_id_key on contacts (project_id, external_id)
      where deleted_at is null and external_id is not null`,
    `create index contacts_project_id_idx on contacts (project_id, id desc) where deleted_at is null`,
    `create index contacts_project_email_idx on contacts (project_id, email) where deleted_at is null`,
    `create index contacts_tags_idx on contacts using gin (tags)`,
  ],
};
