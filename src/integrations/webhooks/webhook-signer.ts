import { randomBytes } from "node:crypto";
import { Webhook } from "standardwebhooks";

/** Standard Webhooks secrets: `whsec_` + base64 of random bytes (the spec asks >= 24). */
export const generateWebhookSecret = (bytes = 32): string =>
  `whsec_${randomBytes(bytes).toString("base64")}`;

export interface SignedHeaders {
  "webhook-id": string;
  "webhook-timestamp": string;
  "webhook-signature": string;
}

/**
 * The Standard Webhooks headers for one attempt, signed by the official library with
 * every active secret (space-separated `v1,<sig>` entries), so a receiver verifying with
 * the old or the new secret during a rotation accepts it.
 */
export function signWebhook(
  secrets: readonly string[],
  id: string,
  timestamp: Date,
  body: string,
): SignedHeaders {
  if (secrets.length === 0) throw new Error("a webhook needs at least one signing secret");
  const signatures = secrets.map((secret) => new Webhook(secret).sign(id, timestamp, body));
  return {
    "webhook-id": id,
    "webhook-timestamp": String(Math.floor(timestamp.getTime() / 1000)),
    "webhook-signature": signatures.join(" "),
  };
}
