import Type from "typebox";
import { defineJob } from "../platform/jobs/job-definition.ts";
import type { JobQueue } from "../platform/jobs/job-queue.ts";
import type { Logger } from "../platform/logger.ts";
import type { IdempotencyStore } from "../services/idempotency.ts";

const EVERY_MS = 60 * 60 * 1000;

/**
 * Deletes expired Idempotency-Key records once an hour. It reschedules itself; the
 * "stately" policy keeps exactly one pending run however many instances start it.
 */
export function pruneIdempotencyKeysJob(deps: {
  store: IdempotencyStore;
  jobs: () => JobQueue;
  logger: Logger;
}) {
  const job = defineJob({
    name: "idempotency-keys-prune",
    schema: Type.Object({}),
    policy: "stately",
    retryLimit: 3,
    handler: async () => {
      const deleted = await deps.store.pruneExpired();
      if (deleted > 0) deps.logger.info({ deleted }, "expired idempotency keys pruned");
      await deps.jobs().enqueue(job, {}, { startAfter: Date.now() + EVERY_MS });
    },
  });
  return job;
}
