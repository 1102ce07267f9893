import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startWebhookReceiver, type WebhookReceiver } from "../simulators/webhook-receiver.ts";
import { client } from "../support/http.ts";
import { createTestApp, type TestApp } from "../support/test-app.ts";
import { waitFor } from "../support/wait-for.ts";

let t: TestApp;
let receiver: WebhookReceiver;
let api: ReturnType<typeof client>;

beforeAll(async () => {
  receiver = await startWebhookReceiver();
  t = await createTestApp({ WEBHOOK_ALLOW_TARGETS: "127.0.0.1", WEBHOOK_POLL_INTERVAL_MS: "50" });
  api = client(t.app, t.adminKey);
});
afterAll(async () => {
  await t?.close();
  await receiver?.close();
});
beforeEach(() => receiver.reset());

describe("webhook delivery", () => {
  it("delivers a domain event signed per Standard Webhooks", async () => {
    const created = await api.post("/v1/webhook-endpoints", {
      url: receiver.url("/basic"),
      eventTypes: ["contact.*"],
    });
    expect(created.status).toBe(201);
    receiver.setSecrets([created.body.secret]);
    const contact = await api.post("/v1/contacts", { name: "Ana" });
    expect(contact.status).toBe(201);
    const [request] = await receiver.waitForRequests(1, { path: "/basic", timeoutMs: 10_000 });
    expect(request!.verifiedBy).toEqual([created.body.secret]);
    expect(request!.json).toMatchObject({
      type: "contact.created",
      data: { contact: { name: "Ana" } },
    });
    expect(request!.headers["user-agent"]).toMatch(/^Ventros-Webhooks\/\d/);
    const deliveries = await waitFor(async () => {
      const page = await api.get(`/v1/webhook-endpoints/${created.body.id}/deliveries`);
      return page.body.data[0]?.status === "succeeded" ? page.body : undefined;
    }, 5_000);
    expect(deliveries.data[0].webhookId).toBe(request!.headers["webhook-id"]);
    expect(deliveries.data[0].attempts).toHaveLength(1);
  });
});
