import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startWebhookReceiver, type WebhookReceiver } from "../simulators/webhook-receiver.ts";
import { client } from "../support/http.ts";
import { createTestApp, type TestApp } from "../support/test-app.ts";
import { waitFor } from "../support/wait-for.ts";

/**
 * Two instances on one database share the delivery queue: claims are row-locked with
 * SKIP LOCKED and leased, so each message goes out once, whichever instance sends it.
 */

const ENV = {
  WEBHOOK_ALLOW_TARGETS: "127.0.0.1",
  WEBHOOK_POLL_INTERVAL_MS: "20",
  // One deployment, one key: both instances open the endpoints' sealed secrets.
  ENCRYPTION_KEY: randomBytes(32).toString("base64"),
};
let a: TestApp;
let b: TestApp;
let receiver: WebhookReceiver;

beforeAll(async () => {
  receiver = await startWebhookReceiver();
  a = await createTestApp(ENV);
  b = await createTestApp(ENV, { shareDatabaseOf: a });
});
afterAll(async () => {
  await b?.close();
  await a?.close();
  await receiver?.close();
});

it("delivers every message exactly once across two dispatching instances", async () => {
  const api = client(a.app, a.adminKey);
  for (const path of ["/one", "/two", "/three"]) {
    const created = await api.post("/v1/webhook-endpoints", {
      url: receiver.url(path),
      eventTypes: ["contact.created"],
    });
    expect(created.status).toBe(201);
  }
  // A small delay keeps attempts in flight long enough for both instances to claim.
  receiver.otherwise("*", { delayMs: 20, then: { status: 204 } });
  const COUNT = 20;
  for (let i = 0; i < COUNT; i++) await api.post("/v1/contacts", { name: `Shared ${i}` });
  await receiver.waitForRequests(COUNT * 3, { timeoutMs: 30_000 });
  // Let any duplicate that was going to happen arrive before counting.
  await waitFor(async () => {
    const pending = await a.app.deps.database.db
      .selectFrom("webhook_messages")
      .select("id")
      .where("status", "!=", "succeeded")
      .execute();
    return pending.length === 0;
  }, 10_000);
  const ids = receiver.requests().map((r) => r.headers["webhook-id"]);
  expect(ids).toHaveLength(COUNT * 3);
  expect(new Set(ids).size).toBe(COUNT * 3);
  const perInstance = await Promise.all(
    [a, b].map(async (t) => {
      const { values } = await t.app.deps.metrics.registry
        .getSingleMetric("ventros_webhook_deliveries_total")!
        .get();
      return values.find((v) => v.labels["outcome"] === "succeeded")?.value ?? 0;
    }),
  );
  expect(perInstance[0]! + perInstance[1]!).toBe(COUNT * 3);
});
