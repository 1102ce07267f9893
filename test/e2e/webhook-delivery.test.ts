import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startWebhookReceiver, type WebhookReceiver } from "../simulators/webhook-receiver.ts";
import { client } from "../support/http.ts";
import { createTestApp, type TestApp } from "../support/test-app.ts";
import { waitFor } from "../support/wait-for.ts";

/**
 * Deliveries on the real clock to a loopback receiver that verifies every request with
 * the official standardwebhooks verifier: signing and rotation, the body and headers,
 * filters, per-endpoint rate limits, response capping, tenancy and metrics.
 */

const ADMIN_TOKEN = "webhook-delivery-admin-token-0123";
let t: TestApp;
let receiver: WebhookReceiver;
let api: ReturnType<typeof client>;

beforeAll(async () => {
  receiver = await startWebhookReceiver();
  t = await createTestApp({
    ADMIN_TOKEN,
    WEBHOOK_ALLOW_TARGETS: "127.0.0.1",
    WEBHOOK_POLL_INTERVAL_MS: "50",
  });
  api = client(t.app, t.adminKey);
});
afterAll(async () => {
  await t?.close();
  await receiver?.close();
});
afterEach(async () => {
  const list = await api.get("/v1/webhook-endpoints?limit=200");
  for (const endpoint of list.body.data) await api.delete(`/v1/webhook-endpoints/${endpoint.id}`);
  receiver.reset();
});

async function endpoint(path: string, extra: Record<string, unknown> = {}, as = api) {
  const created = await as.post("/v1/webhook-endpoints", { url: receiver.url(path), ...extra });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return created.body as { id: string; secret: string };
}

const settled = (endpointId: string, count: number, as = api) =>
  waitFor(
    async () => {
      const page = await as.get(`/v1/webhook-endpoints/${endpointId}/deliveries`);
      const done = page.body.data.filter((d: { status: string }) => d.status !== "pending");
      return done.length >= count ? page.body.data : undefined;
    },
    10_000,
    { what: `${count} settled deliveries` },
  );

describe("delivery", () => {
  it("sends {type, timestamp, data} signed per Standard Webhooks, with custom headers", async () => {
    const ep = await endpoint("/basic", {
      eventTypes: ["contact.*"],
      headers: { "X-Tenant": "acme", Authorization: "Bearer receiver-token" },
    });
    receiver.setSecrets([ep.secret]);
    const contact = await api.post("/v1/contacts", { name: "Ana", phone: "+5511988880001" });
    const [request] = await receiver.waitForRequests(1, { path: "/basic", timeoutMs: 10_000 });
    expect(request!.verifiedBy).toEqual([ep.secret]);
    expect(request!.json).toEqual({
      type: "contact.created",
      timestamp: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/),
      data: { contact: expect.objectContaining({ id: contact.body.id, name: "Ana" }) },
    });
    expect(request!.headers).toMatchObject({
      "content-type": "application/json",
      "user-agent": expect.stringMatching(/^Ventros-Webhooks\/\d+\.\d+\.\d+$/),
      "x-tenant": "acme",
      authorization: "Bearer receiver-token",
      "webhook-id": expect.stringMatching(/^msg_[0-9a-f]{32}$/),
    });
    const [delivery] = await settled(ep.id, 1);
    expect(delivery).toMatchObject({
      status: "succeeded",
      webhookId: request!.headers["webhook-id"],
      eventType: "contact.created",
      attemptCount: 1,
      attempts: [{ attempt: 1, trigger: "scheduled", statusCode: 204, outcome: "succeeded" }],
    });
  });

  it("signs with the old and the new secret during a rotation's grace period", async () => {
    const ep = await endpoint("/rotation", { eventTypes: ["contact.created"] });
    const rotated = await api.post(`/v1/webhook-endpoints/${ep.id}/rotate-secret`);
    expect(rotated.status).toBe(200);
    expect(rotated.body.secret).toMatch(/^whsec_/);
    const graceMs = Date.parse(rotated.body.previousSecretsExpireAt) - Date.now();
    expect(graceMs).toBeGreaterThan(23 * 3_600_000);
    expect(graceMs).toBeLessThanOrEqual(24 * 3_600_000);
    receiver.setSecrets([ep.secret, rotated.body.secret]);
    await api.post("/v1/contacts", { name: "Rotating" });
    const [request] = await receiver.waitForRequests(1, { path: "/rotation", timeoutMs: 10_000 });
    expect(request!.verifiedBy.sort()).toEqual([ep.secret, rotated.body.secret].sort());
    // Each of the two signatures verifies with exactly one of the secrets.
    expect(request!.signatureChecks.map((c) => c.verifiedBy.length)).toEqual([1, 1]);

    // A rotation without grace: only the newest secret signs from now on.
    const again = await api.post(`/v1/webhook-endpoints/${ep.id}/rotate-secret`, {
      gracePeriodSeconds: 0,
    });
    receiver.setSecrets([again.body.secret]);
    await api.post("/v1/contacts", { name: "Rotated" });
    const requests = await receiver.waitForRequests(2, { path: "/rotation", timeoutMs: 10_000 });
    expect(receiver.signaturesIn(requests[1]!)).toHaveLength(1);
    expect(requests[1]!.verifiedBy).toEqual([again.body.secret]);
    expect(receiver.verifiesWith(requests[1]!, ep.secret)).toBe(false);
  });

  it("delivers only what an endpoint's filters want", async () => {
    const contacts = await endpoint("/contacts", { eventTypes: ["contact.*"] });
    const deleted = await endpoint("/deleted", { eventTypes: ["contact.deleted"] });
    const everything = await endpoint("/all");
    const created = await api.post("/v1/contacts", { name: "Filtered" });
    await api.patch(`/v1/contacts/${created.body.id}`, { tags: ["vip"] });
    await api.delete(`/v1/contacts/${created.body.id}`);
    await receiver.waitForRequests(3, { path: "/contacts", timeoutMs: 10_000 });
    await receiver.waitForRequests(1, { path: "/deleted", timeoutMs: 10_000 });
    await receiver.waitForRequests(3, { path: "/all", timeoutMs: 10_000 });
    await settled(contacts.id, 3);
    await settled(deleted.id, 1);
    await settled(everything.id, 3);
    const types = (path: string) =>
      receiver
        .requests(path)
        .map((r) => (r.json as { type: string }).type)
        .sort();
    expect(types("/contacts")).toEqual(["contact.created", "contact.deleted", "contact.updated"]);
    expect(types("/deleted")).toEqual(["contact.deleted"]);
    expect(types("/all")).toEqual(["contact.created", "contact.deleted", "contact.updated"]);
  });

  it("keeps at most 20 kB of a receiver's answer", async () => {
    const ep = await endpoint("/large", { eventTypes: ["contact.created"] });
    receiver.respond("/large", { status: 200, bodyBytes: 200_000 });
    await api.post("/v1/contacts", { name: "Large answer" });
    const [delivery] = await settled(ep.id, 1);
    expect(delivery.status).toBe("succeeded");
    expect(delivery.attempts[0].responseBody).toHaveLength(20_480);
    expect(delivery.attempts[0].responseTruncated).toBe(true);
  });

  it("paces deliveries to an endpoint at its rate limit, losing none", async () => {
    const ep = await endpoint("/paced", { eventTypes: ["contact.created"], rateLimitPerSecond: 2 });
    const deferred = () => metric('ventros_webhook_deliveries_total{outcome="deferred"}');
    const before = await deferred();
    for (let i = 0; i < 6; i++) await api.post("/v1/contacts", { name: `Paced ${i}` });
    await receiver.waitForRequests(6, { path: "/paced", timeoutMs: 15_000 });
    const deliveries = await settled(ep.id, 6);
    expect(deliveries.every((d: { status: string }) => d.status === "succeeded")).toBe(true);
    // Only 2 tokens at once: the rest went back to the queue and came out on time.
    expect(await deferred()).toBeGreaterThan(before);
    expect(deliveries.every((d: { attemptCount: number }) => d.attemptCount === 1)).toBe(true);
  });

  it("never delivers one project's events to another project's endpoints", async () => {
    const admin = client(t.app, ADMIN_TOKEN);
    const other = await admin.post("/v1/projects", { name: "Other tenant" });
    const otherApi = client(t.app, other.body.apiKey);
    const mine = await endpoint("/mine", { eventTypes: ["contact.created"] });
    const theirs = await endpoint("/theirs", { eventTypes: ["contact.created"] }, otherApi);
    await api.post("/v1/contacts", { name: "Mine" });
    await otherApi.post("/v1/contacts", { name: "Theirs" });
    await settled(mine.id, 1);
    await settled(theirs.id, 1, otherApi);
    const names = (path: string) =>
      receiver.requests(path).map((r) => (r.json as any).data.contact.name as string);
    expect(names("/mine")).toEqual(["Mine"]);
    expect(names("/theirs")).toEqual(["Theirs"]);
    const peek = await otherApi.get(`/v1/webhook-endpoints/${mine.id}/deliveries`);
    expect(peek.status).toBe(404);
    await otherApi.delete(`/v1/webhook-endpoints/${theirs.id}`);
  });

  it("deleting an endpoint mid-attempt loses nothing for the others", async () => {
    const doomed = await endpoint("/deleted-mid-flight", { eventTypes: ["contact.created"] });
    const kept = await endpoint("/kept", { eventTypes: ["contact.created"] });
    // Both answer after the same delay, so their successes are written in one batch.
    receiver.otherwise("/deleted-mid-flight", { delayMs: 300, then: { status: 200 } });
    receiver.otherwise("/kept", { delayMs: 300, then: { status: 200 } });
    await api.post("/v1/contacts", { name: "Mid-flight" });
    await receiver.waitForRequests(1, { path: "/deleted-mid-flight", timeoutMs: 10_000 });
    expect((await api.delete(`/v1/webhook-endpoints/${doomed.id}`)).status).toBe(204);
    const [delivery] = await settled(kept.id, 1);
    expect(delivery).toMatchObject({ status: "succeeded", attemptCount: 1 });
    const gone = await t.app.deps.database.db
      .selectFrom("webhook_messages")
      .select("id")
      .where("endpoint_id", "=", doomed.id)
      .execute();
    expect(gone).toEqual([]);
  });

  it("reports the webhooks integration at 10/10 with live counts, and metrics", async () => {
    await endpoint("/metrics", { eventTypes: ["contact.created"] });
    await api.post("/v1/contacts", { name: "Counted" });
    await receiver.waitForRequests(1, { path: "/metrics", timeoutMs: 10_000 });
    const row = await waitFor(async () => {
      const res = await api.get("/v1/integrations");
      const found = res.body.data.find((r: { name: string }) => r.name === "webhooks");
      return found?.counts.requests > 0 ? found : undefined;
    }, 5_000);
    expect(row.score.total).toBe(10);
    expect(row.breaker.state).toBe("closed");
    expect(row.settings.timeoutMs).toBe(15_000);
    expect(row.settings.retry.scheduleMs).toEqual([5e3, 3e5, 18e5, 72e5, 18e6, 36e6, 36e6]);
    expect(row.latencyMs.samples).toBeGreaterThan(0);
    expect(await metric('ventros_webhook_deliveries_total{outcome="succeeded"}')).toBeGreaterThan(
      0,
    );
    expect(
      await metric(
        'ventros_integration_requests_total{integration="webhooks",operation="deliver",outcome="success"}',
      ),
    ).toBeGreaterThan(0);
  });
});

async function metric(series: string): Promise<number> {
  const res = await t.app.server.inject({ method: "GET", url: "/metrics" });
  const line = res.body.split("\n").find((l) => l.startsWith(`${series} `));
  return line ? Number(line.split(" ").at(-1)) : 0;
}
