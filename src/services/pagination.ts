import { validationError } from "../platform/errors.ts";

export interface Page<T> {
  data: T[];
  nextCursor: string | null;
}

/**
 * Cursors are opaque to clients: base64url of the last row's id. Ids are UUIDv7, so id
 * order is creation order and a cursor stays valid while rows are added or removed.
 */
export const encodeCursor = (id: string) =>
  Buffer.from(JSON.stringify({ id })).toString("base64url");

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function decodeCursor(cursor: string): string {
  try {
    const parsed = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as {
      id?: unknown;
    };
    if (typeof parsed.id === "string" && UUID.test(parsed.id)) return parsed.id;
  } catch {
    // fall through to the validation error
  }
  throw validationError([{ field: "cursor", message: "is not a cursor returned by this API" }]);
}

/** Fetch limit+1 rows; the extra one only tells whether another page exists. */
export function toPage<R extends { id: string }, T>(
  rows: R[],
  limit: number,
  map: (r: R) => T,
): Page<T> {
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return {
    data: page.map(map),
    nextCursor: rows.length > limit && last ? encodeCursor(last.id) : null,
  };
}
