/** How one attempt through a policy ended (the `outcome` label of the requests metric). */
export type CallOutcome =
  | "success"
  | "error"
  | "timeout"
  | "cancelled"
  | "rejected_open"
  | "rejected_bulkhead"
  | "rate_limited";

export interface LatencyPercentiles {
  p50: number;
  p95: number;
  p99: number;
  /** Samples the figures come from (the most recent ones, at most the reservoir size). */
  samples: number;
}

export interface CallCounts {
  requests: number;
  errors: number;
  retries: number;
  byOutcome: Partial<Record<CallOutcome, number>>;
}

/**
 * In-process counters and a ring of the latest latencies of one integration, for
 * `GET /v1/integrations`. Bounded memory whatever the traffic; Prometheus has the rest.
 */
export class IntegrationStats {
  private readonly counts: CallCounts = { requests: 0, errors: 0, retries: 0, byOutcome: {} };
  private readonly latencies: Float64Array;
  private filled = 0;
  private next = 0;

  constructor(reservoirSize = 1024) {
    this.latencies = new Float64Array(reservoirSize);
  }

  record(outcome: CallOutcome, durationMs?: number) {
    this.counts.requests += 1;
    if (outcome !== "success") this.counts.errors += 1;
    this.counts.byOutcome[outcome] = (this.counts.byOutcome[outcome] ?? 0) + 1;
    if (durationMs === undefined) return;
    this.latencies[this.next] = durationMs;
    this.next = (this.next + 1) % this.latencies.length;
    this.filled = Math.min(this.filled + 1, this.latencies.length);
  }

  recordRetry() {
    this.counts.retries += 1;
  }

  snapshot(): CallCounts {
    return { ...this.counts, byOutcome: { ...this.counts.byOutcome } };
  }

  /** Nearest-rank percentiles in ms, or null before the first measured call. */
  percentiles(): LatencyPercentiles | null {
    if (this.filled === 0) return null;
    const sorted = this.latencies.slice(0, this.filled).sort();
    const at = (p: number) => round(sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]!);
    return { p50: at(0.5), p95: at(0.95), p99: at(0.99), samples: sorted.length };
  }
}

const round = (ms: number) => Math.round(ms * 1000) / 1000;
