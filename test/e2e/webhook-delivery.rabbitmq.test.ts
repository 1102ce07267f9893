import { afterAll, beforeAll, expect, inject, it } from "vitest";
import type { RabbitMqBus } from "../../src/platform/bus/rabbitmq-bus.ts";
import { startWebhookReceiver, type WebhookReceiver } from "../simulators/webhook-receiver.ts";
import { client } from "../support/http.ts";
import { createTestApp, type TestApp } from "../support/test-app.ts";
import { waitFor } from "../support/wait-for.ts";

/** Webhook fan-out as a RabbitMQ consumer (its own queue): delivered and verified. */

let t: TestApp | undefined;
let receiver: WebhookReceiver;

beforeAll(async () => {
  receiver = await startWebhookReceiver();
  t = await createTestApp({
    AMQP_URL: process.env["AMQP_URL"] ?? "amqp://guest:guest@127.0.0.1:5672",
    AMQP_PREFIX: `vt_wh_${inject("runId")}_${process.pid}`,
    OUTBOX_POLL_INTERVAL_MS: "100",
    WEBHOOK_ALLOW_TARGETS: "127.0.0.1",
    WEBHOOK_POLL_INTERVAL_MS: "50",
  });
});
afterAll(async () => {
  if (t) {
    try {
      await (t.app.deps.bus as RabbitMqBus).deleteTopology();
    } finally {
      await t.close();
    }
  }
  await receiver?.close();
});

it("delivers events consumed from RabbitMQ, signed, once per endpoint", async () => {
  expect(t!.app.deps.bus.kind).toBe("rabbitmq");
  const api = client(t!.app, t!.adminKey);
  const created = await api.post("/v1/webhook-endpoints", {
    url: receiver.url("/amqp"),
    eventTypes: ["contact.*"],
  });
  expect(created.status).toBe(201);
  receiver.setSecrets([created.body.secret]);
  const contact = await api.post("/v1/contacts", { name: "Via RabbitMQ" });
  await api.patch(`/v1/contacts/${contact.body.id}`, { tags: ["amqp"] });
  const requests = await receiver.waitForRequests(2, { path: "/amqp", timeoutMs: 20_000 });
  expect(requests.every((r) => r.verifiedBy.length === 1)).toBe(true);
  expect(requests.map((r) => (r.json as { type: string }).type).sort()).toEqual([
    "contact.created",
    "contact.updated",
  ]);
  await waitFor(async () => {
    const page = await api.get(`/v1/webhook-endpoints/${created.body.id}/deliveries`);
    return page.body.data.filter((d: { status: string }) => d.status === "succeeded").length === 2;
  }, 10_000);
  expect(receiver.requests("/amqp")).toHaveLength(2);
});
