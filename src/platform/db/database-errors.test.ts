import { describe, expect, it } from "vitest";
import { AppError, isAppError } from "../errors.ts";
import { classifyDatabaseError, isUniqueViolation } from "./database-errors.ts";

const driverError = (message: string, fields: Record<string, unknown> = {}) =>
  Object.assign(new Error(message), fields);

const UNAVAILABLE_CODES = [
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EPIPE",
  "57P01",
  "57P02",
  "57P03",
  "08000",
  "08001",
  "08003",
  "08004",
  "08006",
  "53300",
];

function expectUnavailable(result: unknown, cause: Error) {
  expect(isAppError(result)).toBe(true);
  const error = result as AppError;
  expect(error.code).toBe("DATABASE_UNAVAILABLE");
  expect(error.kind).toBe("unavailable");
  expect(error.retryable).toBe(true);
  expect(error.retryAfterSeconds).toBe(1);
  expect(error.cause).toBe(cause);
  // The driver's text (hosts, ports, SQL) stays in the cause, not in the message.
  expect(error.message).toBe("The database is unavailable");
}

describe("classifyDatabaseError", () => {
  it.each(UNAVAILABLE_CODES)("maps code %s to DATABASE_UNAVAILABLE", (code) => {
    const original = driverError(`driver says ${code} at 10.0.0.5:5432`, { code });
    expectUnavailable(classifyDatabaseError(original), original);
  });

  it("maps 57014 (query_canceled by statement_timeout) to DATABASE_TIMEOUT", () => {
    const original = driverError("canceling statement due to statement timeout", {
      code: "57014",
    });
    const result = classifyDatabaseError(original) as AppError;
    expect(result).toBeInstanceOf(AppError);
    expect(result.code).toBe("DATABASE_TIMEOUT");
    expect(result.kind).toBe("timeout");
    expect(result.retryable).toBe(true);
    expect(result.cause).toBe(original);
    expect(result.message).not.toContain("canceling statement");
  });

  it.each([
    ["23505", "duplicate key value violates unique constraint"],
    ["23503", "insert or update violates foreign key constraint"],
    ["42601", "syntax error at or near"],
    ["40001", "could not serialize access"],
    ["22P02", "invalid input syntax for type uuid"],
  ])("passes SQLSTATE %s through unchanged", (code, message) => {
    const original = driverError(message, { code, constraint: "contacts_phone_key" });
    const result = classifyDatabaseError(original);
    expect(result).toBe(original);
    expect((result as { code: string }).code).toBe(code);
  });

  it.each([
    "Connection terminated unexpectedly",
    "connection terminated due to connection timeout",
    "timeout exceeded when trying to connect",
    "Connection timeout",
    "CONNECTION TIMEOUT after 5000ms",
    "Client has encountered a connection error and is not queryable",
    "PGlite is closed",
    "Cannot use a pool after calling end on the pool",
  ])("maps a code-less error by its message: %j", (message) => {
    const original = new Error(message);
    expectUnavailable(classifyDatabaseError(original), original);
  });

  it("matches a known message even when the code is unrelated", () => {
    const original = driverError("Connection terminated", { code: "XX000" });
    expectUnavailable(classifyDatabaseError(original), original);
  });

  it("passes an unrelated error without a code through unchanged", () => {
    const original = new TypeError("Cannot read properties of undefined");
    expect(classifyDatabaseError(original)).toBe(original);
  });

  it("ignores a numeric code that looks like a SQLSTATE", () => {
    const original = driverError("weird", { code: 8006 });
    expect(classifyDatabaseError(original)).toBe(original);
  });

  it("passes an AppError through unchanged, even with an unavailable-looking code", () => {
    const original = new AppError("CONTACT_NOT_FOUND", "not_found", "Connection terminated");
    expect(classifyDatabaseError(original)).toBe(original);
  });

  it.each([
    ["a string", "ECONNREFUSED"],
    ["a plain object with a code", { code: "ECONNREFUSED", message: "Connection terminated" }],
    ["undefined", undefined],
    ["null", null],
    ["a number", 57014],
  ])("passes a non-Error (%s) through unchanged", (_name, value) => {
    expect(classifyDatabaseError(value)).toBe(value);
  });
});

describe("isUniqueViolation", () => {
  const unique = driverError("duplicate key", {
    code: "23505",
    constraint: "contacts_project_phone_key",
  });

  it("recognizes 23505 when no constraint is asked for", () => {
    expect(isUniqueViolation(unique)).toBe(true);
  });

  it("recognizes 23505 on the named constraint", () => {
    expect(isUniqueViolation(unique, "contacts_project_phone_key")).toBe(true);
  });

  it("rejects 23505 on another constraint", () => {
    expect(isUniqueViolation(unique, "contacts_project_email_key")).toBe(false);
  });

  it("rejects 23505 without a constraint name when one is asked for", () => {
    expect(isUniqueViolation(driverError("duplicate key", { code: "23505" }), "x_key")).toBe(false);
  });

  it("rejects other SQLSTATEs", () => {
    expect(isUniqueViolation(driverError("fk", { code: "23503" }))).toBe(false);
    expect(isUniqueViolation(new Error("duplicate key"))).toBe(false);
  });

  it("rejects values that are not Errors", () => {
    expect(isUniqueViolation({ code: "23505", constraint: "c" }, "c")).toBe(false);
    expect(isUniqueViolation("23505")).toBe(false);
    expect(isUniqueViolation(undefined)).toBe(false);
  });

  it("still recognizes the error after classifyDatabaseError let it through", () => {
    expect(isUniqueViolation(classifyDatabaseError(unique), "contacts_project_phone_key")).toBe(
      true,
    );
  });
});
