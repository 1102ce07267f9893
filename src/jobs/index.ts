import type { JobDefinition } from "../platform/jobs/job-definition.ts";
import type { JobQueue } from "../platform/jobs/job-queue.ts";
import type { Logger } from "../platform/logger.ts";
import type { EventHistory } from "../services/event-history.ts";
import type { IdempotencyStore } from "../services/idempotency.ts";
import { pruneIdempotencyKeysJob } from "./prune-idempotency-keys.ts";
import { pruneOutboxJob } from "./prune-outbox.ts";

export interface JobDependencies {
  jobs: () => JobQueue;
  logger: Logger;
  idempotency: IdempotencyStore;
  history: EventHistory;
  outboxRetentionHours: number;
}

/** Every durable job type of the service; compose registers them on the queue. */
export function buildJobs(deps: JobDependencies) {
  const pruneIdempotencyKeys = pruneIdempotencyKeysJob({
    store: deps.idempotency,
    jobs: deps.jobs,
    logger: deps.logger,
  });
  const pruneOutbox = pruneOutboxJob({
    history: deps.history,
    retentionHours: deps.outboxRetentionHours,
    jobs: deps.jobs,
    logger: deps.logger,
  });
  return {
    pruneIdempotencyKeys,
    pruneOutbox,
    /** Recurring jobs: each start makes sure one run is scheduled. */
    recurring: [pruneIdempotencyKeys, pruneOutbox] as JobDefinition[],
    all: [pruneIdempotencyKeys, pruneOutbox] as JobDefinition[],
  };
}
