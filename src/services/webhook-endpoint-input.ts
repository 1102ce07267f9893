import { invalidEventTypePatterns } from "../domain/webhook-event-filter.ts";
import { validationError } from "../platform/errors.ts";

export interface WebhookEndpointInput {
  url?: string;
  eventTypes?: string[];
  description?: string | null;
  headers?: Record<string, string>;
  rateLimitPerSecond?: number | null;
}

/** Headers we set on every delivery; an endpoint may not override them. */
const RESERVED_HEADERS = new Set([
  "webhook-id",
  "webhook-timestamp",
  "webhook-signature",
  "content-type",
  "content-length",
  "user-agent",
  "host",
  "connection",
  "transfer-encoding",
  "keep-alive",
  "te",
  "upgrade",
  "expect",
]);

/**
 * The rules a webhook endpoint's fields follow beyond their schema: event-type patterns
 * must match the catalogue, and custom headers may not replace the ones we set.
 */
export function checkEndpointInput(input: WebhookEndpointInput): void {
  const fields: { field: string; message: string }[] = [];
  if (input.eventTypes !== undefined) {
    if (input.eventTypes.length === 0)
      fields.push({ field: "eventTypes", message: "must name at least one event type or *" });
    for (const pattern of invalidEventTypePatterns(input.eventTypes))
      fields.push({
        field: "eventTypes",
        message: `"${pattern}" matches no event type (see GET /v1/event-types; use * or family.*)`,
      });
  }
  for (const name of Object.keys(input.headers ?? {})) {
    if (RESERVED_HEADERS.has(name.toLowerCase()))
      fields.push({ field: `headers.${name}`, message: "is set by Ventros on every delivery" });
  }
  if (fields.length > 0) throw validationError(fields);
}
