import { performance } from "node:perf_hooks";

/** One request or statement; it throws when the answer is not the expected one. */
export type Operation = () => Promise<void>;

export interface LoadPlan {
  /** Workers issuing operations back to back (a closed loop). */
  concurrency: number;
  warmupMs: number;
  durationMs: number;
  signal?: AbortSignal;
}

export interface LoadResult {
  /** Operations that succeeded inside the measured window. */
  requests: number;
  errors: number;
  firstError: string | undefined;
  elapsedMs: number;
  latenciesMs: number[];
}

/**
 * Runs `concurrency` workers for `durationMs`: each starts its next operation as soon as
 * the previous one settles, and none starts after the deadline. The window ends when the
 * last in-flight operation settles, so every counted operation lies inside it.
 */
export async function runFor(
  operation: Operation,
  plan: Omit<LoadPlan, "warmupMs">,
): Promise<LoadResult> {
  const latenciesMs: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const start = performance.now();
  const deadline = start + plan.durationMs;
  const worker = async () => {
    while (performance.now() < deadline && !plan.signal?.aborted) {
      const begun = performance.now();
      try {
        await operation();
        latenciesMs.push(performance.now() - begun);
      } catch (error) {
        errors += 1;
        firstError ??= error instanceof Error ? error.message : String(error);
      }
    }
  };
  await Promise.all(Array.from({ length: plan.concurrency }, worker));
  const elapsedMs = performance.now() - start;
  return { requests: latenciesMs.length, errors, firstError, elapsedMs, latenciesMs };
}

/** A warm-up run whose figures are discarded (JIT, caches, pools), then the measured run. */
export async function measure(operation: Operation, plan: LoadPlan): Promise<LoadResult> {
  if (plan.warmupMs > 0) await runFor(operation, { ...plan, durationMs: plan.warmupMs });
  return runFor(operation, plan);
}
