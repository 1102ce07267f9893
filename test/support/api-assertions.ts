import { expect } from "vitest";
import type { App } from "../../src/compose.ts";
import type { JsonResponse } from "./http.ts";

/**
 * Asserts the one error shape of API.md: `{error: {code, message, details?, requestId}}`,
 * with the requestId equal to the `x-request-id` header, and the expected status/code.
 */
export function expectError(res: JsonResponse, status: number, code: string): void {
  expect({ status: res.status, body: res.body }).toMatchObject({
    status,
    body: { error: { code } },
  });
  expect(typeof res.body).toBe("object");
  expect(Object.keys(res.body)).toEqual(["error"]);
  const error = res.body.error as Record<string, unknown>;
  for (const key of Object.keys(error))
    expect(["code", "message", "details", "requestId"]).toContain(key);
  expect(typeof error["message"]).toBe("string");
  expect((error["message"] as string).length).toBeGreaterThan(0);
  expect(typeof error["requestId"]).toBe("string");
  expect(error["requestId"]).toBe(res.headers["x-request-id"]);
  if (error["details"] !== undefined) expect(typeof error["details"]).toBe("object");
}

/** The field names of a 400's details.fields, without the `body.`/`query.`/`params.` part. */
export function badFields(res: JsonResponse): string[] {
  const fields = res.body?.error?.details?.fields as { field: string; message: string }[];
  expect(Array.isArray(fields)).toBe(true);
  for (const f of fields) {
    expect(typeof f.field).toBe("string");
    expect(typeof f.message).toBe("string");
  }
  return [...new Set(fields.map((f) => f.field.replace(/^(body|querystring|query|params)\./, "")))];
}

/** A 400 VALIDATION_FAILED that names (at least) these fields. */
export function expectInvalid(res: JsonResponse, ...fields: string[]): void {
  expectError(res, 400, "VALIDATION_FAILED");
  const named = badFields(res);
  for (const field of fields) expect(named).toContain(field);
}

/** Row counts straight from the database, to prove what a request did or did not write. */
export async function countRows(
  app: App,
  table: "projects" | "api_keys" | "contacts" | "idempotency_keys",
): Promise<number> {
  const row = await app.deps.database.db
    .selectFrom(table)
    .select((eb) => eb.fn.countAll<string>().as("n"))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Every row of a table, for before/after snapshots (dates as ISO strings). */
export async function snapshot(
  app: App,
  table: "projects" | "api_keys" | "contacts" | "idempotency_keys",
): Promise<string> {
  const rows = await app.deps.database.db.selectFrom(table).selectAll().execute();
  const key = (r: Record<string, unknown>) => String(r["id"] ?? `${r["scope"]}/${r["key"]}`);
  return JSON.stringify([...rows].sort((a, b) => key(a as never).localeCompare(key(b as never))));
}
