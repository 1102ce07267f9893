import { sql, type Kysely } from "kysely";
import Type from "typebox";
import type { DB } from "../platform/db/schema.ts";
import { defineJob } from "../platform/jobs/job-definition.ts";
import type { JobQueue } from "../platform/jobs/job-queue.ts";

const EVERY_MS = 60 * 60 * 1000;

/**
 * Refreshes planner statistics at start and hourly. Embedded PGlite has no autovacuum,
 * and without statistics the planner answered a contact-by-id lookup by scanning a
 * project's contacts through an unrelated index (found by the benchmark).
 */
export function analyzeDatabaseJob(deps: { db: Kysely<DB>; jobs: () => JobQueue }) {
  const job = defineJob({
    name: "database-analyze",
    schema: Type.Object({}),
    policy: "stately",
    retryLimit: 2,
    handler: async () => {
      await sql`analyze`.execute(deps.db);
      await deps.jobs().enqueue(job, {}, { startAfter: Date.now() + EVERY_MS });
    },
  });
  return job;
}
