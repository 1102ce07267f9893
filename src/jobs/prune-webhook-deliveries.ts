import Type from "typebox";
import type { Kysely } from "kysely";
import type { DB } from "../platform/db/schema.ts";
import { defineJob } from "../platform/jobs/job-definition.ts";
import type { JobQueue } from "../platform/jobs/job-queue.ts";
import type { Logger } from "../platform/logger.ts";

const EVERY_MS = 60 * 60 * 1000;
/** Rows per statement: a large backlog is removed in steps that never hold long locks. */
const CHUNK = 5_000;

/**
 * Hourly: finished webhook deliveries (succeeded or failed) last changed before the
 * retention period go, with their attempts. Pending ones are never touched.
 */
export function pruneWebhookDeliveriesJob(deps: {
  db: Kysely<DB>;
  retentionDays: number;
  jobs: () => JobQueue;
  logger: Logger;
  now: () => number;
}) {
  const job = defineJob({
    name: "webhook-deliveries-prune",
    schema: Type.Object({}),
    policy: "stately",
    retryLimit: 3,
    handler: async () => {
      const deleted = await pruneWebhookDeliveries(
        deps.db,
        new Date(deps.now() - deps.retentionDays * 86_400_000),
      );
      if (deleted > 0) deps.logger.info({ deleted }, "finished webhook deliveries pruned");
      await deps.jobs().enqueue(job, {}, { startAfter: Date.now() + EVERY_MS });
    },
  });
  return job;
}

export async function pruneWebhookDeliveries(db: Kysely<DB>, before: Date): Promise<number> {
  let total = 0;
  for (;;) {
    const result = await db
      .deleteFrom("webhook_messages")
      .where(
        "id",
        "in",
        db
          .selectFrom("webhook_messages")
          .select("id")
          .where("status", "in", ["succeeded", "failed"])
          .where("updated_at", "<", before)
          .limit(CHUNK),
      )
      .executeTakeFirst();
    const deleted = Number(result.numDeletedRows);
    total += deleted;
    if (deleted < CHUNK) return total;
  }
}
