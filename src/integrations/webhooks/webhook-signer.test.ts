import { Webhook, WebhookVerificationError } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { generateWebhookSecret, signWebhook } from "./webhook-signer.ts";

describe("signWebhook", () => {
  const body = JSON.stringify({ type: "contact.created", timestamp: "x", data: { a: 1 } });

  it("generates whsec_ secrets of at least 24 random bytes", () => {
    const secret = generateWebhookSecret();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    expect(Buffer.from(secret.slice(6), "base64").length).toBeGreaterThanOrEqual(24);
    expect(generateWebhookSecret()).not.toBe(secret);
  });

  it("is verified by the official verifier with the timestamp in seconds", () => {
    const secret = generateWebhookSecret();
    const now = new Date();
    const headers = signWebhook([secret], "msg_1", now, body);
    expect(headers["webhook-timestamp"]).toBe(String(Math.floor(now.getTime() / 1000)));
    expect(new Webhook(secret).verify(body, { ...headers })).toEqual(JSON.parse(body));
  });

  it("signs with every active secret so either verifies during a rotation", () => {
    const [oldSecret, newSecret] = [generateWebhookSecret(), generateWebhookSecret()];
    const headers = signWebhook([newSecret, oldSecret], "msg_2", new Date(), body);
    expect(headers["webhook-signature"].split(" ")).toHaveLength(2);
    for (const secret of [oldSecret, newSecret])
      expect(() => new Webhook(secret).verify(body, { ...headers })).not.toThrow();
    expect(() => new Webhook(generateWebhookSecret()).verify(body, { ...headers })).toThrow(
      WebhookVerificationError,
    );
  });

  it("binds the signature to the id and the body", () => {
    const secret = generateWebhookSecret();
    const headers = signWebhook([secret], "msg_3", new Date(), body);
    const verifier = new Webhook(secret);
    expect(() => verifier.verify(body, { ...headers, "webhook-id": "msg_4" })).toThrow();
    expect(() => verifier.verify(`${body} `, { ...headers })).toThrow();
  });

  it("refuses to sign without a secret", () => {
    expect(() => signWebhook([], "msg_5", new Date(), body)).toThrow(/at least one/);
  });
});
