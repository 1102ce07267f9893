import type { Migration } from "../migrate.ts";

export const pipelines: Migration = {
  name: "0004-pipelines",
  statements: [
    `create table pipelines (
      id uuid primary key,
      project_id uuid not null references projects(id) on delete cascade,
      name text not null,
      session_timeout_minutes integer check (session_timeout_minutes between 1 and 1440),
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    )`,
    `create index pipelines_project_idx on pipelines (project_id, id desc)`,
    `create table pipeline_statuses (
      id uuid primary key,
      project_id uuid not null,
      pipeline_id uuid not null references pipelines(id) on delete cascade,
      name text not null,
      type text not null check (type in ('open', 'won', 'lost')),
      color text,
      position integer not null check (position >= 0),
      created_at timestamptz not null default now()
    )`,
    // Status names are unique per pipeline, whatever their case.
    `create unique index pipeline_statuses_name_key on pipeline_statuses (pipeline_id, lower(name))`,
    `create index pipeline_statuses_pipeline_idx on pipeline_statuses (pipeline_id, position)`,
    // A channel's pipeline: its session timeout wins over the channel's and the project's.
    `alter table channels add column pipeline_id uuid references pipelines(id)`,
  ],
};
