import type { JobDefinition } from "../platform/jobs/job-definition.ts";
import type { JobQueue } from "../platform/jobs/job-queue.ts";
import type { Logger } from "../platform/logger.ts";
import type { IdempotencyStore } from "../services/idempotency.ts";
import { pruneIdempotencyKeysJob } from "./prune-idempotency-keys.ts";

export interface JobDependencies {
  jobs: () => JobQueue;
  logger: Logger;
  idempotency: IdempotencyStore;
}

/** Every durable job type of the service; compose registers them on the queue. */
export function buildJobs(deps: JobDependencies) {
  const pruneIdempotencyKeys = pruneIdempotencyKeysJob({
    store: deps.idempotency,
    jobs: deps.jobs,
    logger: deps.logger,
  });
  return {
    pruneIdempotencyKeys,
    all: [pruneIdempotencyKeys] as JobDefinition[],
  };
}
