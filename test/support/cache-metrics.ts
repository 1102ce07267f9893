import type { App } from "../../src/compose.ts";

/** The sum of a metric's values whose labels include `labels` (0 when none). */
export async function metricValue(
  app: App,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const metric = app.deps.metrics.registry.getSingleMetric(name);
  if (!metric) throw new Error(`no metric ${name}`);
  let total = 0;
  for (const value of (await metric.get()).values) {
    const matches = Object.entries(labels).every(([k, v]) => String(value.labels[k]) === v);
    if (matches) total += value.value;
  }
  return total;
}

/** Reads of one cache by result: `{hit, miss, stale, error, bypass}` (absent = 0). */
export async function cacheReads(app: App, cache: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = { hit: 0, miss: 0, stale: 0, error: 0, bypass: 0 };
  for (const value of (await app.deps.metrics.cacheRequests.get()).values) {
    if (value.labels.cache !== cache) continue;
    counts[String(value.labels.result)] = value.value;
  }
  return counts;
}

/** What happened to the reads of `caches` while `fn` ran: the differences per result. */
export async function readsDuring<T>(
  app: App,
  caches: string[],
  fn: () => Promise<T>,
): Promise<{ value: T; reads: Record<string, Record<string, number>> }> {
  const before = Object.fromEntries(
    await Promise.all(caches.map(async (c) => [c, await cacheReads(app, c)] as const)),
  );
  const value = await fn();
  const reads: Record<string, Record<string, number>> = {};
  for (const cache of caches) {
    const after = await cacheReads(app, cache);
    reads[cache] = Object.fromEntries(
      Object.entries(after)
        .map(([result, n]) => [result, n - (before[cache]?.[result] ?? 0)] as const)
        .filter(([, n]) => n !== 0),
    );
  }
  return { value, reads };
}
