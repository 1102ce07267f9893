import Type from "typebox";
import { defineJob } from "../platform/jobs/job-definition.ts";
import type { JobQueue } from "../platform/jobs/job-queue.ts";
import type { Logger } from "../platform/logger.ts";
import type { EventHistory } from "../services/event-history.ts";

const EVERY_MS = 60 * 60 * 1000;

/** Hourly: published outbox events (and consumer receipts) past the retention go. */
export function pruneOutboxJob(deps: {
  history: EventHistory;
  retentionHours: number;
  jobs: () => JobQueue;
  logger: Logger;
}) {
  const job = defineJob({
    name: "outbox-prune",
    schema: Type.Object({}),
    policy: "stately",
    retryLimit: 3,
    handler: async () => {
      const deleted = await deps.history.prune(
        new Date(Date.now() - deps.retentionHours * 3_600_000),
      );
      if (deleted > 0) deps.logger.info({ deleted }, "published outbox events pruned");
      await deps.jobs().enqueue(job, {}, { startAfter: Date.now() + EVERY_MS });
    },
  });
  return job;
}
