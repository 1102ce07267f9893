import type { Static, TSchema } from "typebox";
import type { Queryable } from "../db/database.ts";

export interface JobContext {
  jobId: string;
  /** 0 on the first run, n on the n-th retry. */
  retryCount: number;
  retryLimit: number;
}

/**
 * One durable job type: its queue name, the TypeBox schema its data must satisfy (checked
 * on enqueue, so a malformed job is refused at the caller, not discovered at run time),
 * its retry policy and its handler.
 */
export interface JobDefinition<S extends TSchema = TSchema> {
  name: string;
  schema: S;
  /** Attempts after the first; backoff is retryDelaySeconds * 2^n with jitter. */
  retryLimit?: number;
  retryDelaySeconds?: number;
  /** The handler's time budget; a job running longer fails and is retried. */
  timeoutSeconds?: number;
  /** pg-boss queue policy; "stately" keeps at most one queued and one running job. */
  policy?: "standard" | "stately" | "singleton" | "short";
  /** Parallel handlers of this queue in this process. */
  concurrency?: number;
  handler(data: Static<S>, context: JobContext): Promise<void>;
  /** Compensation, run once when the job has failed for good (retries exhausted or permanent). */
  onFinalFailure?(data: Static<S>, error: unknown, context: JobContext): Promise<void>;
}

export interface EnqueueOptions {
  /** Join this transaction: the job exists only if it commits. */
  db?: Queryable;
  startAfter?: Date | number;
  /** At most one queued job per key (pg-boss singleton semantics). */
  singletonKey?: string;
}

/** Throw this from a handler for failures that no retry can fix. */
export class PermanentJobError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "PermanentJobError";
  }
}

export const defineJob = <S extends TSchema>(definition: JobDefinition<S>): JobDefinition<S> =>
  definition;
