import type { Transaction } from "kysely";
import type { DB } from "../platform/db/schema.ts";

/**
 * A conversation session's inactivity timeout, resolved in the caller's transaction:
 * the channel's pipeline's timeout when set, else the channel's, else the project default.
 * Read fresh (not from a row loaded earlier) so a change applies to the next session at once.
 */
export async function resolveSessionTimeout(
  trx: Transaction<DB>,
  channel: { id: string },
): Promise<number> {
  const row = await trx
    .selectFrom("channels")
    .innerJoin("projects", "projects.id", "channels.project_id")
    .leftJoin("pipelines", (join) =>
      join
        .onRef("pipelines.id", "=", "channels.pipeline_id")
        .onRef("pipelines.project_id", "=", "channels.project_id"),
    )
    .select([
      "pipelines.session_timeout_minutes as pipeline",
      "channels.session_timeout_minutes as channel",
      "projects.default_session_timeout_minutes as project",
    ])
    .where("channels.id", "=", channel.id)
    .executeTakeFirstOrThrow();
  return row.pipeline ?? row.channel ?? row.project;
}
