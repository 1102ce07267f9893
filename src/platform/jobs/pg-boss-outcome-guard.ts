import { createRequire } from "node:module";

/**
 * pg-boss 10 records a finished job's outcome with `complete()`/`fail()` calls that it
 * does not await (`onFetch` in pg-boss/src/manager.js; awaited since pg-boss 11, which
 * needs Node 22). If the database is unreachable at that moment the rejection is
 * unhandled and Node ends the process. Mark those promises handled and report the failure
 * as a queue error instead: the job stays active until it expires and pg-boss retries it,
 * so nothing is lost. Callers that await these methods still see the rejection.
 */
interface Manager {
  emit(event: "error", error: unknown): boolean;
  listenerCount(event: "error"): number;
}
type Outcome = (this: Manager, ...args: unknown[]) => Promise<unknown>;

const GUARDED = Symbol.for("ventros.pgBossOutcomeGuard");
const manager = createRequire(import.meta.url)("pg-boss/src/manager.js") as {
  prototype: Record<"complete" | "fail", Outcome> & { [GUARDED]?: true };
};

// Test runners may evaluate this module more than once against one cached pg-boss.
if (!manager.prototype[GUARDED]) {
  manager.prototype[GUARDED] = true;
  for (const method of ["complete", "fail"] as const) {
    const original = manager.prototype[method];
    manager.prototype[method] = function (this: Manager, ...args: unknown[]) {
      const result = original.apply(this, args);
      result.catch((error: unknown) => {
        if (this.listenerCount("error") > 0) this.emit("error", error);
      });
      return result;
    };
  }
}
