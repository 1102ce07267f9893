import { IntegrationError, type PolicyRejection } from "./integration-error.ts";
import type { CallOutcome } from "./integration-stats.ts";

const REJECTIONS: Record<
  PolicyRejection,
  { code: string; kind: "unavailable" | "rate_limited"; message: string }
> = {
  circuit_open: {
    code: "INTEGRATION_CIRCUIT_OPEN",
    kind: "unavailable",
    message: "is failing; calls are suspended for a while (circuit open)",
  },
  bulkhead_full: {
    code: "INTEGRATION_BULKHEAD_FULL",
    kind: "unavailable",
    message: "has too many calls in flight",
  },
  rate_limited: {
    code: "INTEGRATION_RATE_LIMITED",
    kind: "rate_limited",
    message: "client-side rate limit reached",
  },
};

/**
 * Our own policy refused the call: nothing reached the provider, so it is safe to try
 * later (retryable), but the policy itself never retries these.
 */
export function policyRejection(
  provider: string,
  operation: string,
  rejectedBy: PolicyRejection,
  retryAfterMs?: number,
): IntegrationError {
  const { code, kind, message } = REJECTIONS[rejectedBy];
  return new IntegrationError(code, kind, `${provider} ${message}`, {
    provider,
    operation,
    rejectedBy,
    classification: "retryable",
    ...(retryAfterMs === undefined ? {} : { retryAfterMs: Math.ceil(retryAfterMs) }),
  });
}

/**
 * The attempt ran out of time (or the caller gave up): the provider may have acted on
 * it, so it is indeterminate unless repeating it is harmless.
 */
export function policyTimeout(
  provider: string,
  operation: string,
  options: { cancelled: boolean; timeoutMs: number | null; idempotent: boolean },
): IntegrationError {
  const classification = options.idempotent ? "retryable" : "indeterminate";
  return options.cancelled
    ? new IntegrationError("INTEGRATION_CANCELLED", "unavailable", `${provider} call cancelled`, {
        provider,
        operation,
        classification,
      })
    : new IntegrationError(
        "INTEGRATION_TIMEOUT",
        "timeout",
        `${provider} did not answer within ${options.timeoutMs} ms`,
        { provider, operation, classification, details: { timeoutMs: options.timeoutMs } },
      );
}

/** The `outcome` label of an attempt that failed with this error. */
export function outcomeOf(error: IntegrationError): CallOutcome {
  switch (error.rejectedBy) {
    case "circuit_open":
      return "rejected_open";
    case "bulkhead_full":
      return "rejected_bulkhead";
    case "rate_limited":
      return "rate_limited";
    default:
      break;
  }
  if (error.code === "INTEGRATION_CANCELLED") return "cancelled";
  if (error.kind === "timeout") return "timeout";
  return "error";
}
