import { IntegrationError, isIntegrationError, type Classification } from "./integration-error.ts";

/** Failures before a single byte of the request left: nothing reached the provider. */
const NOT_SENT = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "EHOSTDOWN",
  "ENETUNREACH",
  "ENETDOWN",
  "EADDRNOTAVAIL",
  "UND_ERR_CONNECT_TIMEOUT",
]);

/** Failures that may come after the request was written: the provider may have acted. */
const MAYBE_SENT_TIMEOUT = new Set([
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
  "ETIMEDOUT",
]);

const TLS_PERMANENT =
  /^(ERR_TLS_|CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|ERR_SSL_)/;

/** The first `code` along the error and its `cause` chain (undici and fetch wrap). */
export function errorCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string") return code;
    current = current.cause;
  }
  return undefined;
}

export interface NetworkErrorContext {
  operation?: string;
  /**
   * Repeating the request is harmless (GET, or the provider dedupes an idempotency key):
   * a maybe-sent failure is then retryable instead of indeterminate.
   */
  idempotent?: boolean;
}

/**
 * Classifies a thrown network error: refused/unresolvable/connect-timeout = retryable;
 * certificate problems = permanent; resets, header/body timeouts and anything unknown =
 * indeterminate (retryable only for idempotent requests). IntegrationErrors pass through.
 */
export function classifyNetworkError(
  error: unknown,
  provider: string,
  context: NetworkErrorContext = {},
): IntegrationError {
  if (isIntegrationError(error)) return error;
  const code = errorCode(error);
  const maybeSent: Classification = context.idempotent ? "retryable" : "indeterminate";
  const base = {
    provider,
    cause: error,
    ...(context.operation === undefined ? {} : { operation: context.operation }),
    details: { code: code ?? null },
  };
  const message = `${provider}: ${error instanceof Error ? error.message : String(error)}`;
  if (code !== undefined && NOT_SENT.has(code))
    return new IntegrationError("PROVIDER_UNREACHABLE", "unavailable", message, {
      ...base,
      classification: "retryable",
    });
  if (code !== undefined && TLS_PERMANENT.test(code))
    return new IntegrationError("PROVIDER_TLS_FAILED", "integration", message, {
      ...base,
      classification: "permanent",
    });
  if (code !== undefined && MAYBE_SENT_TIMEOUT.has(code))
    return new IntegrationError("PROVIDER_TIMEOUT", "timeout", message, {
      ...base,
      classification: maybeSent,
    });
  return new IntegrationError("PROVIDER_CONNECTION_FAILED", "unavailable", message, {
    ...base,
    classification: maybeSent,
  });
}
