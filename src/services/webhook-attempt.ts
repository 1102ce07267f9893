import { signWebhook } from "../integrations/webhooks/webhook-signer.ts";
import type { HttpClient } from "../platform/http-client/http-client.ts";
import { isIntegrationError } from "../platform/resilience/integration-error.ts";

/** The `webhook-id` header: stable for a message across every attempt. */
export const webhookIdOf = (messageId: string) => `msg_${messageId.replace(/-/g, "")}`;

/** An endpoint as the dispatcher delivers to it: secrets and headers in clear. */
export interface DeliveryTarget {
  id: string;
  projectId: string;
  url: string;
  headers: Record<string, string>;
  status: "enabled" | "disabled";
  rateLimitPerSecond: number | null;
  /** expiresAt in epoch ms; null for the current secret. */
  secrets: { secret: string; expiresAt: number | null }[];
  /** The endpoint row's config_version: a different value means reload. */
  version: number;
}

/** What one HTTP attempt came to. `statusCode` is absent when no response arrived. */
export interface AttemptResult {
  startedAt: Date;
  durationMs: number;
  statusCode?: number;
  responseBody?: string;
  responseTruncated?: boolean;
  retryAfter?: string;
  error?: string;
  /** No answer within the attempt's budget. */
  timedOut?: boolean;
}

export interface AttemptSettings {
  timeoutMs: number;
  maxResponseBytes: number;
  userAgent: string;
}

/**
 * One delivery attempt: signs the exact body with every active secret (Standard
 * Webhooks), POSTs it through the SSRF-guarded client (the address is checked again now,
 * connections go to the checked address, 3xx is returned, never followed) within the
 * attempt's time budget, and keeps at most maxResponseBytes of the answer.
 */
export async function attemptDelivery(
  http: HttpClient,
  settings: AttemptSettings,
  target: DeliveryTarget,
  message: { webhookId: string; body: string },
  now: () => number,
  signal?: AbortSignal,
): Promise<AttemptResult> {
  const startedAt = new Date(now());
  const t0 = performance.now();
  const active = target.secrets
    .filter((s) => s.expiresAt === null || s.expiresAt > startedAt.getTime())
    .map((s) => s.secret);
  const signed = signWebhook(active, message.webhookId, startedAt, message.body);
  const timeout = AbortSignal.timeout(settings.timeoutMs);
  const elapsed = () => Math.round(performance.now() - t0);
  try {
    const response = await http.request({
      url: target.url,
      method: "POST",
      headers: {
        ...target.headers,
        ...signed,
        "content-type": "application/json",
        "user-agent": settings.userAgent,
      },
      body: message.body,
      operation: "deliver",
      acceptStatus: () => true,
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      headersTimeoutMs: settings.timeoutMs,
      bodyTimeoutMs: settings.timeoutMs,
      maxResponseBytes: settings.maxResponseBytes,
      overflow: "truncate",
    });
    const retryAfter = response.headers["retry-after"];
    return {
      startedAt,
      durationMs: elapsed(),
      statusCode: response.status,
      // Postgres text cannot hold NUL; a receiver's binary answer is kept readable.
      responseBody: response.text().replaceAll(String.fromCharCode(0), "\uFFFD"),
      responseTruncated: response.truncated,
      ...(typeof retryAfter === "string" ? { retryAfter } : {}),
    };
  } catch (error) {
    const timedOut = timeout.aborted && !signal?.aborted;
    return {
      startedAt,
      durationMs: elapsed(),
      error: timedOut ? `no answer within ${settings.timeoutMs} ms` : describe(error),
      ...(timedOut ? { timedOut } : {}),
    };
  }
}

const describe = (error: unknown): string => {
  if (isIntegrationError(error)) return `${error.code}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
};
