import { describe, expect, it } from "vitest";
import { AppError } from "../platform/errors.ts";
import { uuidv7 } from "../platform/ids.ts";
import { decodeCursor, encodeCursor, toPage } from "./pagination.ts";

const b64 = (text: string) => Buffer.from(text).toString("base64url");

function expectCursorRejected(cursor: string) {
  let thrown: unknown;
  try {
    decodeCursor(cursor);
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(AppError);
  const error = thrown as AppError;
  expect(error.code).toBe("VALIDATION_FAILED");
  expect(error.kind).toBe("validation");
  expect(error.details).toEqual({
    fields: [{ field: "cursor", message: expect.any(String) }],
  });
}

describe("cursors", () => {
  it("round-trips an id", () => {
    const id = uuidv7();
    expect(decodeCursor(encodeCursor(id))).toBe(id);
  });

  it("round-trips many ids", () => {
    for (let i = 0; i < 100; i += 1) {
      const id = uuidv7();
      expect(decodeCursor(encodeCursor(id))).toBe(id);
    }
  });

  it("accepts an upper-case uuid", () => {
    const id = "0190F0A1-B2C3-7D4E-8F60-123456789ABC";
    expect(decodeCursor(encodeCursor(id))).toBe(id);
  });

  it("is URL-safe and does not show the id in clear", () => {
    const id = uuidv7();
    const cursor = encodeCursor(id);
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(cursor).not.toContain(id);
  });

  it.each([
    ["empty", ""],
    ["garbage", "!!!not a cursor!!!"],
    ["plain words", "page2"],
    ["a bare uuid", "0190f0a1-b2c3-7d4e-8f60-123456789abc"],
    ["base64 of non-JSON", b64("id=0190f0a1-b2c3-7d4e-8f60-123456789abc")],
    ["JSON null", b64("null")],
    ["a JSON string", b64(JSON.stringify("0190f0a1-b2c3-7d4e-8f60-123456789abc"))],
    ["a JSON array", b64(JSON.stringify(["0190f0a1-b2c3-7d4e-8f60-123456789abc"]))],
    ["an object without id", b64("{}")],
    ["a wrong key", b64(JSON.stringify({ ID: "0190f0a1-b2c3-7d4e-8f60-123456789abc" }))],
    ["a numeric id", b64(JSON.stringify({ id: 123 }))],
    ["a null id", b64(JSON.stringify({ id: null }))],
    ["an object id", b64(JSON.stringify({ id: { $gt: "" } }))],
    ["a non-uuid id", b64(JSON.stringify({ id: "abc" }))],
    ["an SQL-looking id", b64(JSON.stringify({ id: "' OR 1=1 --" }))],
    ["a uuid with a suffix", b64(JSON.stringify({ id: "0190f0a1-b2c3-7d4e-8f60-123456789abcd" }))],
    [
      "a uuid with a newline",
      b64(JSON.stringify({ id: "0190f0a1-b2c3-7d4e-8f60-123456789abc\n" })),
    ],
    ["a uuid without dashes", b64(JSON.stringify({ id: "0190f0a1b2c37d4e8f60123456789abc" }))],
    ["a uuid with non-hex", b64(JSON.stringify({ id: "0190f0a1-b2c3-7d4e-8f60-12345678zabc" }))],
  ])("rejects %s as VALIDATION_FAILED on field cursor", (_name, cursor) => {
    expectCursorRejected(cursor);
  });
});

describe("toPage", () => {
  const rows = (n: number) => Array.from({ length: n }, (_, i) => ({ id: uuidv7(), n: i }));
  const view = (r: { id: string; n: number }) => ({ label: `row ${r.n}` });

  it("returns every row and no cursor when fewer rows than the limit came back", () => {
    const page = toPage(rows(3), 5, view);
    expect(page).toEqual({
      data: [{ label: "row 0" }, { label: "row 1" }, { label: "row 2" }],
      nextCursor: null,
    });
  });

  it("returns no cursor when exactly limit rows came back", () => {
    const page = toPage(rows(5), 5, view);
    expect(page.data).toHaveLength(5);
    expect(page.nextCursor).toBeNull();
  });

  it("returns an empty page for no rows", () => {
    expect(toPage([], 10, view)).toEqual({ data: [], nextCursor: null });
  });

  it("drops the extra row and points the cursor at the last row shown", () => {
    const fetched = rows(6);
    const page = toPage(fetched, 5, view);
    expect(page.data).toEqual([0, 1, 2, 3, 4].map((n) => ({ label: `row ${n}` })));
    expect(page.nextCursor).not.toBeNull();
    expect(decodeCursor(page.nextCursor as string)).toBe(fetched[4]!.id);
  });

  it("handles a limit of one", () => {
    const fetched = rows(2);
    const page = toPage(fetched, 1, view);
    expect(page.data).toEqual([{ label: "row 0" }]);
    expect(decodeCursor(page.nextCursor as string)).toBe(fetched[0]!.id);
  });

  it("maps each kept row exactly once and leaves the input alone", () => {
    const fetched = rows(4);
    const copy = [...fetched];
    const seen: string[] = [];
    toPage(fetched, 3, (r) => seen.push(r.id));
    expect(seen).toEqual(fetched.slice(0, 3).map((r) => r.id));
    expect(fetched).toEqual(copy);
  });
});
