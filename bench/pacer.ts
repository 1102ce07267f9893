import { performance } from "node:perf_hooks";
import type { LoadResult, Operation } from "./load.ts";

export interface PacedPlan {
  /** Operations started per second, on a fixed schedule (an open loop). */
  ratePerSecond: number;
  durationMs: number;
  /** At most this many operations in flight; when it is reached the schedule slips. */
  maxInFlight: number;
  signal?: AbortSignal;
}

export interface PacedResult extends LoadResult {
  /** Operations started (successful or not). */
  issued: number;
  /** Operations the schedule called for in the window that were never started. */
  missed: number;
}

/**
 * Starts operation number n at start + n / rate, whatever the earlier ones are doing (up
 * to `maxInFlight`), for `durationMs`; then waits for the ones in flight. Unlike the
 * closed loop in load.ts, a slow answer does not slow the arrivals, so latency under a
 * given rate is what is measured. Latency runs from each operation's actual start.
 */
export async function runPaced(operation: Operation, plan: PacedPlan): Promise<PacedResult> {
  const latenciesMs: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  let issued = 0;
  let inFlight = 0;
  let slotFreed: (() => void) | undefined;
  const running = new Set<Promise<void>>();
  const intervalMs = 1000 / plan.ratePerSecond;
  const planned = Math.max(1, Math.floor((plan.durationMs * plan.ratePerSecond) / 1000));
  const start = performance.now();

  const launch = () => {
    issued += 1;
    inFlight += 1;
    const begun = performance.now();
    const settled = operation().then(
      () => {
        latenciesMs.push(performance.now() - begun);
      },
      (error: unknown) => {
        errors += 1;
        firstError ??= error instanceof Error ? error.message : String(error);
      },
    );
    const tracked = settled.finally(() => {
      inFlight -= 1;
      running.delete(tracked);
      slotFreed?.();
    });
    running.add(tracked);
  };

  while (issued < planned && !plan.signal?.aborted) {
    const now = performance.now();
    if (now - start >= plan.durationMs) break;
    const due = Math.min(planned, Math.floor((now - start) / intervalMs) + 1);
    while (issued < due && inFlight < plan.maxInFlight) launch();
    if (inFlight >= plan.maxInFlight) {
      await new Promise<void>((resolve) => (slotFreed = resolve));
      slotFreed = undefined;
    } else {
      const wait = start + issued * intervalMs - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, Math.max(1, wait)));
    }
  }
  const missed = Math.max(0, planned - issued);
  await Promise.all(running);
  return {
    requests: latenciesMs.length,
    errors,
    firstError,
    elapsedMs: performance.now() - start,
    latenciesMs,
    issued,
    missed,
  };
}
