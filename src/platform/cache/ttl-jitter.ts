/**
 * A lifetime between `ttlMs x (1 - ratio)` and `ttlMs`, so entries written together do
 * not expire together (and never outlive the configured TTL).
 */
export function jitterTtl(ttlMs: number, ratio: number, random: () => number = Math.random) {
  if (ratio <= 0 || ttlMs <= 0) return ttlMs;
  return Math.max(1, Math.round(ttlMs * (1 - ratio * random())));
}
