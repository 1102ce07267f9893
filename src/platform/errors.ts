/**
 * One error type for everything we answer or log on purpose. `code` is stable and
 * documented; `kind` decides the HTTP status in one place (http/error-handler.ts).
 */
export type ErrorKind =
  | "validation"
  | "not_found"
  | "conflict"
  | "unauthorized"
  | "forbidden"
  | "rate_limited"
  | "unprocessable"
  | "payload_too_large"
  | "unsupported_media_type"
  | "integration"
  | "timeout"
  | "unavailable"
  | "internal";

export interface AppErrorOptions {
  details?: Record<string, unknown>;
  cause?: unknown;
  /** For integration errors: which provider failed and whether trying again may help. */
  provider?: string;
  retryable?: boolean;
  /** Seconds a client should wait before trying again (429/503). */
  retryAfterSeconds?: number;
}

export class AppError extends Error {
  readonly details: Record<string, unknown> | undefined;
  readonly provider: string | undefined;
  readonly retryable: boolean;
  readonly retryAfterSeconds: number | undefined;

  constructor(
    readonly code: string,
    readonly kind: ErrorKind,
    message: string,
    options: AppErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "AppError";
    this.details = options.details;
    this.provider = options.provider;
    this.retryable = options.retryable ?? (kind === "unavailable" || kind === "timeout");
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

export const isAppError = (value: unknown): value is AppError => value instanceof AppError;

export const notFound = (resource: string, code = `${resource.toUpperCase()}_NOT_FOUND`) =>
  new AppError(code, "not_found", `${resource.replace(/_/g, " ")} not found`);

export const validationError = (fields: { field: string; message: string }[]) =>
  new AppError("VALIDATION_FAILED", "validation", "The request is invalid", {
    details: { fields },
  });
