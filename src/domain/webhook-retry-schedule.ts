/**
 * The delivery schedule of INTEGRATIONS.md: the first attempt at once, then one delay per
 * entry (default 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h), each moved at random by up to
 * +-jitter so that a receiver coming back is not hit by every retry in the same second.
 */
export interface RetrySchedule {
  delaysMs: readonly number[];
  jitterRatio: number;
}

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** "5s,5m,30m,2h" -> [5000, 300000, 1800000, 7200000]. */
export function parseDelays(text: string): number[] {
  return text
    .split(",")
    .map((part) => part.trim())
    .filter((part) => part !== "")
    .map((part) => {
      const match = /^(\d+)(ms|s|m|h|d)$/.exec(part);
      if (!match) throw new RangeError(`"${part}" is not a delay like 5s, 5m or 2h`);
      return Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
    });
}

/**
 * The wait before the retry that follows `step` failed retries-so-far, or null when the
 * schedule is exhausted (the message then fails for good).
 */
export function scheduledDelayMs(
  schedule: RetrySchedule,
  step: number,
  random: () => number = Math.random,
): number | null {
  const base = schedule.delaysMs[step];
  if (base === undefined) return null;
  const spread = (random() * 2 - 1) * schedule.jitterRatio;
  return Math.max(0, Math.round(base * (1 + spread)));
}

/**
 * A 429 or 503 with Retry-After: the receiver's wish, kept within [scheduled, 2 x
 * scheduled] so that a receiver can neither make us retry sooner than the schedule nor
 * park a message for days. Retry-After is seconds or an HTTP date.
 */
export function honourRetryAfter(
  scheduledMs: number,
  retryAfter: string | undefined,
  nowMs: number,
): number {
  const wishMs = parseRetryAfter(retryAfter, nowMs);
  if (wishMs === undefined) return scheduledMs;
  return Math.min(Math.max(wishMs, scheduledMs), scheduledMs * 2);
}

export function parseRetryAfter(value: string | undefined, nowMs: number): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - nowMs);
}
