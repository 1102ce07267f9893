import { summarize } from "./percentiles.ts";
import type { LoadResult } from "./load.ts";

export type Backend = "pglite" | "postgres";
export type Mode = "raw driver" | "inject" | "socket";
export type Operation = "insert" | "select" | "create" | "get";

export interface RowKey {
  backend: Backend;
  operation: Operation;
  mode: Mode;
  concurrency: number;
}

export interface ResultRow extends RowKey {
  requests: number;
  errors: number;
  firstError: string | undefined;
  elapsedMs: number;
  rps: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  /** This rate over the raw driver's rate for the same kind of statement; 1 for raw rows. */
  ratioToRaw: number;
  /** Why the measurement did not run (its prerequisite failed). */
  skipped?: string;
}

export function toRow(where: RowKey, result: LoadResult, rawRps?: number): ResultRow {
  const rps = result.elapsedMs > 0 ? (result.requests * 1000) / result.elapsedMs : 0;
  const latency = summarize(result.latenciesMs);
  return {
    ...where,
    requests: result.requests,
    errors: result.errors,
    firstError: result.firstError,
    elapsedMs: result.elapsedMs,
    rps,
    p50: latency.p50,
    p95: latency.p95,
    p99: latency.p99,
    max: latency.max,
    ratioToRaw:
      where.mode === "raw driver"
        ? 1
        : rawRps && rawRps > 0 && result.requests > 0
          ? rps / rawRps
          : Number.NaN,
  };
}

export function skippedRow(where: RowKey, reason: string): ResultRow {
  const none = { requests: 0, errors: 0, firstError: undefined, elapsedMs: 0, latenciesMs: [] };
  return { ...toRow(where, none), skipped: reason };
}

const ms = (value: number) => (Number.isFinite(value) ? value.toFixed(2) : "-");

export function formatTable(rows: ResultRow[]): string {
  const header = [
    "backend",
    "operation",
    "mode",
    "conc",
    "requests",
    "errors",
    "req/s",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "vs raw",
  ];
  const body = rows.map((r) => [
    r.backend,
    r.operation,
    r.mode,
    String(r.concurrency),
    String(r.requests),
    String(r.errors),
    r.rps.toFixed(0),
    ms(r.p50),
    ms(r.p95),
    ms(r.p99),
    r.mode === "raw driver"
      ? "base"
      : Number.isFinite(r.ratioToRaw)
        ? `${(r.ratioToRaw * 100).toFixed(1)}%`
        : "-",
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((cells) => cells[i]!.length)));
  // Text columns left-aligned, figures right-aligned.
  const line = (cells: string[]) =>
    cells.map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  const rule = widths.map((w) => "-".repeat(w)).join("  ");
  return [line(header), rule, ...body.map(line)].join("\n");
}

const round = (value: number) => (Number.isFinite(value) ? Math.round(value * 1000) / 1000 : null);

/** Every figure on one line, numbers rounded to microseconds / thousandths. */
export function toJsonLine(meta: Record<string, unknown>, rows: ResultRow[]): string {
  return JSON.stringify({
    ...meta,
    results: rows.map((r) => ({
      backend: r.backend,
      operation: r.operation,
      mode: r.mode,
      concurrency: r.concurrency,
      requests: r.requests,
      errors: r.errors,
      elapsedMs: round(r.elapsedMs),
      rps: round(r.rps),
      p50Ms: round(r.p50),
      p95Ms: round(r.p95),
      p99Ms: round(r.p99),
      maxMs: round(r.max),
      ratioToRaw: round(r.ratioToRaw),
      ...(r.errors > 0 ? { firstError: r.firstError } : {}),
      ...(r.skipped ? { skipped: r.skipped } : {}),
    })),
  });
}
