import PgBoss from "pg-boss";
import type { Static, TSchema } from "typebox";
import Value from "typebox/value";
import { AppError, isAppError } from "../errors.ts";
import type { Database } from "../db/database.ts";
import { executorFor } from "../db/transaction.ts";
import type { Logger } from "../logger.ts";
import type { Metrics } from "../metrics/metrics.ts";
import { PermanentJobError, type EnqueueOptions, type JobDefinition } from "./job-definition.ts";
import "./pg-boss-outcome-guard.ts";

export interface JobQueueOptions {
  database: Database;
  logger: Logger;
  metrics: Metrics;
  pollIntervalSeconds: number;
  retryLimit: number;
  retryDelaySeconds: number;
}

const DEAD_LETTER_SUFFIX = "__dead";
export const deadLetterQueueOf = (name: string) => `${name}${DEAD_LETTER_SUFFIX}`;

/**
 * Durable jobs on pg-boss in our own database, so a job enqueued with `{ db: trx }`
 * commits or rolls back with the state change that caused it. Each queue has a
 * dead-letter queue that keeps jobs which failed for good, visible and replayable.
 */
export class JobQueue {
  private readonly boss: PgBoss;
  private readonly definitions = new Map<string, JobDefinition>();
  private readonly workers = new Map<string, string[]>();
  private started = false;

  constructor(private readonly options: JobQueueOptions) {
    const { database } = options;
    this.boss = new PgBoss({
      ...(database.jobsExecutor
        ? { db: database.jobsExecutor as PgBoss.Db }
        : { connectionString: database.connectionString ?? "", max: 4 }),
      schema: "pgboss",
      application_name: "ventros-jobs",
      retryLimit: options.retryLimit,
      retryDelay: options.retryDelaySeconds,
      retryBackoff: true,
      // Cron scheduling is unused: recurring work is modelled as self-rescheduling jobs.
      schedule: false,
    } as PgBoss.ConstructorOptions);
    this.boss.on("error", (error) => options.logger.warn({ err: error }, "job queue error"));
  }

  register(definitions: JobDefinition[]): void {
    for (const definition of definitions) {
      if (this.definitions.has(definition.name))
        throw new Error(`duplicate job ${definition.name}`);
      this.definitions.set(definition.name, definition);
    }
  }

  /** Creates the pg-boss schema (first start) and every queue with its dead-letter queue. */
  async migrate(): Promise<void> {
    await this.boss.start();
    for (const d of this.definitions.values()) await this.ensureQueue(d);
  }

  async start(): Promise<void> {
    await this.migrate();
    for (const definition of this.definitions.values()) {
      const workers: string[] = [];
      for (let i = 0; i < (definition.concurrency ?? 1); i++) {
        const workerId: string = await this.boss.work(
          definition.name,
          {
            batchSize: 1,
            includeMetadata: true,
            pollingIntervalSeconds: this.options.pollIntervalSeconds,
          },
          async ([job]) => {
            if (!job) return;
            try {
              await this.run(definition, job as PgBoss.JobWithMetadata);
            } finally {
              // pg-boss 10 sleeps a full poll interval after every fetch, even one that
              // found work, which capped a queue at (workers / interval) jobs per second.
              // A worker that just did a job fetches again at once; only an empty fetch
              // sleeps.
              this.boss.notifyWorker(workerId);
            }
          },
        );
        workers.push(workerId);
      }
      this.workers.set(definition.name, workers);
    }
    this.started = true;
  }

  async stop(timeoutMs: number): Promise<void> {
    await this.boss.stop({ graceful: true, timeout: timeoutMs, close: true, wait: true });
    this.started = false;
  }

  get isRunning(): boolean {
    return this.started;
  }

  async enqueue<S extends TSchema>(
    definition: JobDefinition<S>,
    data: Static<S>,
    options: EnqueueOptions = {},
  ): Promise<string> {
    if (!Value.Check(definition.schema, data)) {
      const first = [...Value.Errors(definition.schema, data)][0];
      throw new AppError("JOB_DATA_INVALID", "internal", `invalid data for ${definition.name}`, {
        details: { path: first?.instancePath, message: first?.message },
      });
    }
    const id = await this.boss.send(definition.name, data as object, {
      ...(options.startAfter === undefined ? {} : { startAfter: toDate(options.startAfter) }),
      ...(options.singletonKey === undefined ? {} : { singletonKey: options.singletonKey }),
      ...(options.db === undefined ? {} : { db: executorFor(options.db) as PgBoss.Db }),
    });
    if (id === null) return ""; // a singleton already queued: the existing job covers it
    // Visible now (no transaction to wait for): let an idle worker of this process take it.
    if (options.db === undefined && options.startAfter === undefined) this.wake(definition.name);
    return id;
  }

  /** Many jobs in one statement (queue defaults apply); `db` joins a transaction. */
  async enqueueMany<S extends TSchema>(
    definition: JobDefinition<S>,
    items: Static<S>[],
    options: Pick<EnqueueOptions, "db"> = {},
  ): Promise<void> {
    if (items.length === 0) return;
    const jobs = items.map((data) => ({ name: definition.name, data: data as object }));
    if (options.db) await this.boss.insert(jobs, { db: executorFor(options.db) as PgBoss.Db });
    else {
      await this.boss.insert(jobs);
      this.wake(definition.name);
    }
  }

  /** Wakes this process's idle workers of a queue so new work does not wait for a poll. */
  wake(name: string): void {
    for (const id of this.workers.get(name) ?? []) this.boss.notifyWorker(id);
  }

  async getJob(name: string, id: string) {
    return this.boss.getJobById(name, id);
  }

  /** Pulls dead-lettered jobs (for operators and tests). */
  async fetchDeadLetters(name: string, max = 100) {
    return (await this.boss.fetch(deadLetterQueueOf(name), { batchSize: max })) ?? [];
  }

  private async ensureQueue(definition: JobDefinition): Promise<void> {
    const dead = deadLetterQueueOf(definition.name);
    if (!(await this.boss.getQueue(dead))) await this.boss.createQueue(dead, { name: dead });
    const settings = {
      name: definition.name,
      policy: definition.policy ?? "standard",
      deadLetter: dead,
      retryLimit: definition.retryLimit ?? this.options.retryLimit,
      retryDelay: definition.retryDelaySeconds ?? this.options.retryDelaySeconds,
      retryBackoff: true,
      expireInSeconds: definition.timeoutSeconds ?? 15 * 60,
    };
    // A queue's policy is fixed at creation; later retry settings are applied by update.
    if (await this.boss.getQueue(definition.name)) {
      const { policy: _policy, ...updatable } = settings;
      await this.boss.updateQueue(definition.name, updatable);
    } else await this.boss.createQueue(definition.name, settings);
  }

  private async run(definition: JobDefinition, job: PgBoss.JobWithMetadata): Promise<void> {
    const { metrics, logger } = this.options;
    const context = { jobId: job.id, retryCount: job.retryCount, retryLimit: job.retryLimit };
    const stopTimer = metrics.jobDuration.startTimer({ queue: definition.name });
    try {
      await definition.handler(job.data, context);
      metrics.jobsTotal.inc({ queue: definition.name, outcome: "completed" });
    } catch (error) {
      const permanent =
        error instanceof PermanentJobError ||
        (isAppError(error) && !error.retryable && error.kind !== "internal");
      const final = permanent || job.retryCount >= job.retryLimit;
      logger.warn(
        { err: error, queue: definition.name, jobId: job.id, retryCount: job.retryCount, final },
        "job failed",
      );
      if (!final) {
        metrics.jobsTotal.inc({ queue: definition.name, outcome: "retried" });
        throw error;
      }
      metrics.jobsTotal.inc({ queue: definition.name, outcome: "dead_lettered" });
      await definition
        .onFinalFailure?.(job.data, error, context)
        ?.catch((compensationError) =>
          logger.error({ err: compensationError, queue: definition.name }, "compensation failed"),
        );
      if (permanent) {
        // pg-boss would retry a thrown error; park it on the dead-letter queue ourselves.
        await this.boss.send(deadLetterQueueOf(definition.name), {
          ...(job.data as object),
          __error: describeError(error),
        });
        return;
      }
      throw error;
    } finally {
      stopTimer();
    }
  }
}

const toDate = (value: Date | number) => (value instanceof Date ? value : new Date(value));
const describeError = (error: unknown) =>
  error instanceof Error
    ? { name: error.name, message: error.message }
    : { message: String(error) };
