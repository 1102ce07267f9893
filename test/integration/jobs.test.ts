import { sql } from "kysely";
import Type from "typebox";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { withTransaction } from "../../src/platform/db/transaction.ts";
import { isAppError } from "../../src/platform/errors.ts";
import { defineJob, PermanentJobError } from "../../src/platform/jobs/job-definition.ts";
import { JobQueue } from "../../src/platform/jobs/job-queue.ts";
import { createLogger } from "../../src/platform/logger.ts";
import { createTestApp, type TestApp } from "../support/test-app.ts";
import { waitFor } from "../support/wait-for.ts";

/**
 * The durable job queue against the real database of each backend. A second JobQueue on
 * the app's database carries test-only job types (the app's queue registers its own
 * before start); it shares the app's metrics registry so outcomes show up there.
 */

const WAIT_MS = 20_000;
const Label = Type.Object({ label: Type.String() });

const transactional = { runs: [] as string[] };
const transactionalJob = defineJob({
  name: "test_transactional",
  schema: Label,
  async handler({ label }) {
    transactional.runs.push(label);
  },
});

const flaky = { runs: [] as { at: number; retryCount: number }[] };
const flakyJob = defineJob({
  name: "test_flaky",
  schema: Type.Object({}),
  retryLimit: 3,
  retryDelaySeconds: 1,
  async handler(_data, { retryCount }) {
    flaky.runs.push({ at: Date.now(), retryCount });
    if (flaky.runs.length < 3) throw new Error(`transient failure ${flaky.runs.length}`);
  },
});

const doomed = { runs: 0, finalFailures: [] as { data: unknown; error: unknown }[] };
const doomedJob = defineJob({
  name: "test_doomed",
  schema: Type.Object({ orderId: Type.String() }),
  retryLimit: 2,
  retryDelaySeconds: 1,
  async handler() {
    doomed.runs++;
    throw new Error("the provider keeps failing");
  },
  async onFinalFailure(data, error) {
    doomed.finalFailures.push({ data, error });
  },
});

const permanent = { runs: 0, finalFailures: 0 };
const permanentJob = defineJob({
  name: "test_permanent",
  schema: Type.Object({ orderId: Type.String() }),
  retryLimit: 3,
  retryDelaySeconds: 1,
  async handler() {
    permanent.runs++;
    throw new PermanentJobError("the recipient does not exist");
  },
  async onFinalFailure() {
    permanent.finalFailures++;
  },
});

const delayed = { runs: [] as { label: string; at: number }[] };
const delayedJob = defineJob({
  name: "test_delayed",
  schema: Label,
  async handler({ label }) {
    delayed.runs.push({ label, at: Date.now() });
  },
});

const strict = { runs: 0 };
const strictJob = defineJob({
  name: "test_strict",
  schema: Type.Object({ phone: Type.String({ pattern: "^[0-9]+$" }), count: Type.Integer() }),
  async handler() {
    strict.runs++;
  },
});

let t: TestApp;
let queue: JobQueue;

const state = async (name: string, id: string) => (await queue.getJob(name, id))?.state;

const jobsTotal = async (queueName: string, outcome: string) => {
  const metric = t.app.deps.metrics.registry.getSingleMetric("ventros_jobs_total");
  const values = (await metric?.get())?.values ?? [];
  return (
    values.find((v) => v.labels["queue"] === queueName && v.labels["outcome"] === outcome)?.value ??
    0
  );
};

const countJobs = async (name: string) => {
  const { rows } = await sql<{ n: number }>`
    select count(*)::int as n from pgboss.job where name = ${name}`.execute(t.app.deps.database.db);
  return rows[0]?.n ?? -1;
};

beforeAll(async () => {
  t = await createTestApp();
  queue = new JobQueue({
    database: t.app.deps.database,
    logger: createLogger("silent"),
    metrics: t.app.deps.metrics,
    pollIntervalSeconds: 0.5,
    retryLimit: 0,
    retryDelaySeconds: 1,
  });
  queue.register([transactionalJob, flakyJob, doomedJob, permanentJob, delayedJob, strictJob]);
  await queue.start();
});

afterAll(async () => {
  await queue?.stop(5_000);
  await t?.close();
});

describe("durable jobs", () => {
  it("runs a job enqueued in a transaction only if the transaction commits, exactly once", async () => {
    const { db } = t.app.deps.database;
    let rolledBackId = "";
    await expect(
      withTransaction(db, async (trx) => {
        rolledBackId = await queue.enqueue(transactionalJob, { label: "rolled back" }, { db: trx });
        throw new Error("the state change failed");
      }),
    ).rejects.toThrow("the state change failed");
    expect(rolledBackId).not.toBe("");

    const committedId = await withTransaction(db, (trx) =>
      queue.enqueue(transactionalJob, { label: "committed" }, { db: trx }),
    );
    await waitFor(
      async () => (await state(transactionalJob.name, committedId)) === "completed",
      WAIT_MS,
    );

    // A later job on the same single worker is a barrier: a duplicate or a resurrected
    // rolled-back job would have run before it.
    const barrierId = await queue.enqueue(transactionalJob, { label: "barrier" });
    await waitFor(
      async () => (await state(transactionalJob.name, barrierId)) === "completed",
      WAIT_MS,
    );

    expect(transactional.runs).toEqual(["committed", "barrier"]);
    expect(await queue.getJob(transactionalJob.name, rolledBackId)).toBeNull();
    expect(await state(transactionalJob.name, committedId)).toBe("completed");
  });

  it("retries a failing handler with growing backoff until it succeeds", async () => {
    const id = await queue.enqueue(flakyJob, {});
    await waitFor(async () => (await state(flakyJob.name, id)) === "completed", WAIT_MS);

    expect(flaky.runs.map((r) => r.retryCount)).toEqual([0, 1, 2]);
    const [first, second, third] = flaky.runs.map((r) => r.at) as [number, number, number];
    const firstGap = second - first;
    const secondGap = third - second;
    // pg-boss backs off retryDelay * 2^n / 2 * (1 + random): at least 1 s before the first
    // retry and at least 2 s before the second (a constant 1 s delay would break the
    // second bound). Lower bounds only: these say "not before", never "fast enough". The
    // 2 ms slack absorbs millisecond rounding between the database clock and Date.now().
    expect(firstGap).toBeGreaterThanOrEqual(1_000 - 2);
    expect(secondGap).toBeGreaterThanOrEqual(2_000 - 2);
    expect(await jobsTotal(flakyJob.name, "retried")).toBe(2);
    expect(await jobsTotal(flakyJob.name, "completed")).toBe(1);
  });

  it("dead-letters a job that keeps failing after its retries, compensating once", async () => {
    const id = await queue.enqueue(doomedJob, { orderId: "order-1" });
    await waitFor(async () => (await state(doomedJob.name, id)) === "failed", WAIT_MS);

    expect(doomed.runs).toBe(1 + 2);
    expect(doomed.finalFailures).toHaveLength(1);
    expect(doomed.finalFailures[0]?.data).toEqual({ orderId: "order-1" });
    expect((doomed.finalFailures[0]?.error as Error).message).toBe("the provider keeps failing");

    const deadLetters = await queue.fetchDeadLetters(doomedJob.name);
    expect(deadLetters).toHaveLength(1);
    expect(deadLetters[0]?.data).toEqual({ orderId: "order-1" });

    expect(await jobsTotal(doomedJob.name, "dead_lettered")).toBe(1);
    expect(await jobsTotal(doomedJob.name, "retried")).toBe(2);
  });

  it("does not retry a PermanentJobError and dead-letters it with the reason", async () => {
    const id = await queue.enqueue(permanentJob, { orderId: "order-2" });
    const deadLetters: Awaited<ReturnType<JobQueue["fetchDeadLetters"]>> = [];
    await waitFor(async () => {
      deadLetters.push(...(await queue.fetchDeadLetters(permanentJob.name)));
      return deadLetters.length > 0;
    }, WAIT_MS);
    // The job itself is finished (not waiting for a retry), so it can never run again.
    await waitFor(async () => (await state(permanentJob.name, id)) === "completed", WAIT_MS);

    expect(permanent.runs).toBe(1);
    expect(permanent.finalFailures).toBe(1);
    expect(deadLetters).toHaveLength(1);
    expect(deadLetters[0]?.data).toEqual({
      orderId: "order-2",
      __error: { name: "PermanentJobError", message: "the recipient does not exist" },
    });
    expect(await jobsTotal(permanentJob.name, "dead_lettered")).toBe(1);
    expect(await jobsTotal(permanentJob.name, "retried")).toBe(0);
  });

  it("does not run a delayed job before its start time, and runs it after", async () => {
    const nowId = await queue.enqueue(delayedJob, { label: "now" });
    const startAfter = new Date(Date.now() + 1_500);
    const laterId = await queue.enqueue(delayedJob, { label: "later" }, { startAfter });
    expect(await state(delayedJob.name, laterId)).toBe("created");

    await waitFor(async () => (await state(delayedJob.name, laterId)) === "completed", WAIT_MS);
    expect(await state(delayedJob.name, nowId)).toBe("completed");
    expect(delayed.runs.map((r) => r.label)).toEqual(["now", "later"]);
    // The worker was polling all along (it ran "now"), yet "later" waited for its time.
    expect(delayed.runs[1]!.at).toBeGreaterThanOrEqual(startAfter.getTime());
  });

  it("refuses data that fails the job's schema with JOB_DATA_INVALID and stores nothing", async () => {
    expect(await countJobs(strictJob.name)).toBe(0);
    const error = await queue.enqueue(strictJob, { phone: "+55 11", count: 1 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isAppError(error) && error.code).toBe("JOB_DATA_INVALID");
    expect(isAppError(error) && error.details).toMatchObject({ path: "/phone" });

    const missing = await queue.enqueue(strictJob, { phone: "5511" } as never).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isAppError(missing) && missing.code).toBe("JOB_DATA_INVALID");

    expect(await countJobs(strictJob.name)).toBe(0);
    expect(strict.runs).toBe(0);
  });
});
