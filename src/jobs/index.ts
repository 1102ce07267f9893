import type { JobDefinition } from "../platform/jobs/job-definition.ts";
import type { JobQueue } from "../platform/jobs/job-queue.ts";
import type { Logger } from "../platform/logger.ts";
import type { EventHistory } from "../services/event-history.ts";
import type { IdempotencyStore } from "../services/idempotency.ts";
import { pruneIdempotencyKeysJob } from "./prune-idempotency-keys.ts";
import { pruneOutboxJob } from "./prune-outbox.ts";
import { analyzeDatabaseJob } from "./analyze-database.ts";
import type { Kysely } from "kysely";
import type { DB } from "../platform/db/schema.ts";

export interface JobDependencies {
  jobs: () => JobQueue;
  logger: Logger;
  idempotency: IdempotencyStore;
  history: EventHistory;
  outboxRetentionHours: number;
  db: Kysely<DB>;
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
  const analyzeDatabase = analyzeDatabaseJob({ db: deps.db, jobs: deps.jobs });
  const recurring = [pruneIdempotencyKeys, pruneOutbox, analyzeDatabase] as JobDefinition[];
  return {
    pruneIdempotencyKeys,
    pruneOutbox,
    analyzeDatabase,
    /** Recurring jobs: each start makes sure one run is scheduled. */
    recurring,
    all: recurring,
  };
}
