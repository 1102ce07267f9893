import { AppError, isAppError } from "../errors.ts";

/** Node socket errors and PostgreSQL SQLSTATEs that mean "the database is not there". */
const UNAVAILABLE_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EPIPE",
  "57P01", // admin_shutdown
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now
  "08000",
  "08001",
  "08003",
  "08004",
  "08006",
  "53300", // too_many_connections
]);

const UNAVAILABLE_MESSAGES = [
  /connection terminated/i,
  /timeout exceeded when trying to connect/i,
  /connection timeout/i,
  /Client has encountered a connection error/i,
  /PGlite is closed/i,
  /Cannot use a pool after calling end/i,
];

/**
 * Maps a driver error to our kinds where it enters: connection loss becomes
 * DATABASE_UNAVAILABLE (503, retryable), a statement timeout DATABASE_TIMEOUT (504).
 * Anything else (constraint violations, syntax) passes through unchanged so callers can
 * inspect SQLSTATE codes such as 23505.
 */
export function classifyDatabaseError(error: unknown): unknown {
  if (isAppError(error) || !(error instanceof Error)) return error;
  const code = (error as { code?: unknown }).code;
  if (code === "57014") {
    return new AppError("DATABASE_TIMEOUT", "timeout", "The database did not answer in time", {
      cause: error,
    });
  }
  if (
    (typeof code === "string" && UNAVAILABLE_CODES.has(code)) ||
    UNAVAILABLE_MESSAGES.some((pattern) => pattern.test(error.message))
  ) {
    return new AppError("DATABASE_UNAVAILABLE", "unavailable", "The database is unavailable", {
      cause: error,
      retryAfterSeconds: 1,
    });
  }
  return error;
}

export const isUniqueViolation = (error: unknown, constraint?: string): boolean =>
  error instanceof Error &&
  (error as { code?: unknown }).code === "23505" &&
  (constraint === undefined || (error as { constraint?: unknown }).constraint === constraint);
