import { isIntegrationError } from "./integration-error.ts";
import type { IntegrationPolicy } from "./integration-policy.ts";

export interface FallbackOptions {
  /**
   * While the primary's breaker refuses calls, go straight to the fallback instead of
   * collecting a rejection first (default true).
   */
  skipWhenOpen?: boolean;
  /**
   * Which failures of the primary switch to the fallback. Default: every failure except
   * a `permanent` one (a request the primary rejected as invalid would fail there too).
   */
  fallbackOn?: (error: unknown) => boolean;
}

export interface FallbackInfo {
  /** The primary's failure, or undefined when it was skipped because its breaker was open. */
  primaryError: unknown;
  skipped: boolean;
}

const notPermanent = (error: unknown) =>
  !(isIntegrationError(error) && error.classification === "permanent");

/**
 * Runs the primary (a call through its policy); on failure, or at once while the
 * primary's circuit is open, runs the fallback (e.g. Groq -> OpenAI Whisper).
 *
 *   withFallback(
 *     { policy: groqPolicy, call: () => groq.transcribe(audio) },
 *     () => openai.transcribe(audio),
 *     { skipWhenOpen: true },
 *   )
 */
export async function withFallback<T>(
  primary: { policy: Pick<IntegrationPolicy, "isRejecting">; call: () => Promise<T> },
  fallback: (info: FallbackInfo) => Promise<T>,
  options: FallbackOptions = {},
): Promise<T> {
  if ((options.skipWhenOpen ?? true) && primary.policy.isRejecting())
    return fallback({ primaryError: undefined, skipped: true });
  try {
    return await primary.call();
  } catch (error) {
    if (!(options.fallbackOn ?? notPermanent)(error)) throw error;
    return fallback({ primaryError: error, skipped: false });
  }
}
