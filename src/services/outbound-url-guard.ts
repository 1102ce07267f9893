import type { SsrfGuard } from "../platform/http-client/ssrf-guard.ts";
import { AppError } from "../platform/errors.ts";
import { isIntegrationError } from "../platform/resilience/integration-error.ts";
import type { OutboundUrlGuard } from "./whatsapp-gateway.ts";

/**
 * The SSRF guard as a validation step for URLs a client gives us (a WAHA base URL, media
 * to send): a refused URL is the client's error, 422, not a provider failure.
 */
export function outboundUrlGuard(
  guard: SsrfGuard,
  code = "OUTBOUND_URL_NOT_ALLOWED",
): OutboundUrlGuard {
  return {
    async assertAllowed(url: string) {
      try {
        const parsed = guard.checkUrl(url);
        await guard.resolve(parsed.hostname);
      } catch (error) {
        if (isIntegrationError(error) && error.classification !== "retryable") {
          throw new AppError(code, "unprocessable", error.message, {
            details: { url: redact(url) },
          });
        }
        if (isIntegrationError(error)) {
          throw new AppError(
            code,
            "unprocessable",
            `The URL's host could not be resolved: ${error.message}`,
            {
              details: { url: redact(url) },
            },
          );
        }
        throw error;
      }
    },
  };
}

/** Never echo credentials embedded in a URL. */
const redact = (url: string) => {
  try {
    const parsed = new URL(url);
    parsed.username = "";
    parsed.password = "";
    return parsed.toString();
  } catch {
    return "[unparseable]";
  }
};
