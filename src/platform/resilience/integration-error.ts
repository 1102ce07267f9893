import { AppError } from "../errors.ts";

/**
 * What a failed call to the outside world means for trying again:
 * - `retryable`: the provider did not act on it (connection refused, 429, 5xx): try again.
 * - `permanent`: trying again gives the same answer (4xx, a URL the guard refuses).
 * - `indeterminate`: the request may have reached the provider (a timeout or a reset
 *   after the body was written). Never blindly retried: reconcile first.
 */
export type Classification = "retryable" | "permanent" | "indeterminate";

export type IntegrationErrorKind = "integration" | "timeout" | "unavailable" | "rate_limited";

/** Set when our own policy refused the call: it never reached the provider. */
export type PolicyRejection = "circuit_open" | "bulkhead_full" | "rate_limited";

export interface IntegrationErrorOptions {
  provider: string;
  classification: Classification;
  /** The least time to wait before trying again (from Retry-After, or our rate limiter). */
  retryAfterMs?: number;
  /** The provider's HTTP status, when it answered. */
  status?: number;
  operation?: string;
  rejectedBy?: PolicyRejection;
  details?: Record<string, unknown>;
  cause?: unknown;
}

/** The one error type every vendor adapter raises for a failed outbound call. */
export class IntegrationError extends AppError {
  override readonly provider: string;
  readonly classification: Classification;
  readonly retryAfterMs: number | undefined;
  readonly status: number | undefined;
  readonly operation: string | undefined;
  readonly rejectedBy: PolicyRejection | undefined;

  constructor(
    code: string,
    kind: IntegrationErrorKind,
    message: string,
    options: IntegrationErrorOptions,
  ) {
    super(code, kind, message, {
      provider: options.provider,
      retryable: options.classification === "retryable",
      details: options.details,
      cause: options.cause,
      ...(options.retryAfterMs === undefined
        ? {}
        : { retryAfterSeconds: Math.max(1, Math.ceil(options.retryAfterMs / 1000)) }),
    });
    this.name = "IntegrationError";
    this.provider = options.provider;
    this.classification = options.classification;
    this.retryAfterMs = options.retryAfterMs;
    this.status = options.status;
    this.operation = options.operation;
    this.rejectedBy = options.rejectedBy;
  }
}

export const isIntegrationError = (value: unknown): value is IntegrationError =>
  value instanceof IntegrationError;

/** How an adapter turns any thrown value into an IntegrationError. */
export type ErrorClassifier = (
  error: unknown,
  provider: string,
  context: { operation: string; idempotent: boolean },
) => IntegrationError;
