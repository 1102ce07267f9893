/** Plain-text tables and JSON rounding shared by the events and inbound suites. */
export interface Column<R> {
  header: string;
  cell(row: R): string;
  /** Text columns are left-aligned, figures right-aligned (the default). */
  text?: boolean;
}

export function renderTable<R>(columns: Column<R>[], rows: R[]): string {
  const body = rows.map((row) => columns.map((c) => c.cell(row)));
  const widths = columns.map((c, i) =>
    Math.max(c.header.length, ...body.map((cells) => cells[i]!.length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (columns[i]!.text ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)))
      .join("  ")
      .trimEnd();
  const rule = widths.map((w) => "-".repeat(w)).join("  ");
  return [line(columns.map((c) => c.header)), rule, ...body.map(line)].join("\n");
}

/** Milliseconds: "-" when there is no figure, "timeout" when some sample never arrived. */
export const ms = (value: number | undefined) =>
  value === undefined || Number.isNaN(value)
    ? "-"
    : value === Infinity
      ? "timeout"
      : value.toFixed(2);

/** Per-second figures: whole numbers, with a decimal below 100 (a few per second matter). */
export const rate = (value: number | undefined) =>
  value === undefined || !Number.isFinite(value)
    ? "-"
    : value.toFixed(Math.abs(value) < 100 ? 1 : 0);

export const percent = (value: number | undefined) =>
  value === undefined || !Number.isFinite(value) ? "-" : `${(value * 100).toFixed(1)}%`;

/** Thousandths for JSON; null for NaN; "timeout" for samples that never arrived. */
export const jsonNumber = (value: number | undefined): number | string | null =>
  value === undefined || Number.isNaN(value)
    ? null
    : value === Infinity
      ? "timeout"
      : Math.round(value * 1000) / 1000;
