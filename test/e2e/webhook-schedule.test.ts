import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { pruneWebhookDeliveries } from "../../src/jobs/prune-webhook-deliveries.ts";
import { startWebhookReceiver, type WebhookReceiver } from "../simulators/webhook-receiver.ts";
import { client } from "../support/http.ts";
import { createTestApp, type TestApp } from "../support/test-app.ts";
import { waitFor } from "../support/wait-for.ts";

/**
 * The delivery schedule on a fake clock: the app's clock is a variable the test moves,
 * so hours of retries take milliseconds and every gap is checked exactly against the
 * schedule (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, +-20 %). Signatures are not
 * verified here (their timestamps are fake); webhook-delivery.test.ts verifies them.
 */

const SCHEDULE_MS = [5e3, 3e5, 18e5, 72e5, 18e6, 36e6, 36e6];
let now = Date.parse("2026-12-06T10:00:00.000Z");
let t: TestApp;
let receiver: WebhookReceiver;
let api: ReturnType<typeof client>;

beforeAll(async () => {
  receiver = await startWebhookReceiver();
  t = await createTestApp(
    {
      WEBHOOK_ALLOW_TARGETS: "127.0.0.1",
      WEBHOOK_POLL_INTERVAL_MS: "50",
      WEBHOOK_TIMEOUT_MS: "1000",
    },
    { compose: { clock: () => now } },
  );
  api = client(t.app, t.adminKey);
});
afterAll(async () => {
  await t?.close();
  await receiver?.close();
});
afterEach(async () => {
  const list = await api.get("/v1/webhook-endpoints?limit=200");
  for (const endpoint of list.body.data) await api.delete(`/v1/webhook-endpoints/${endpoint.id}`);
  if (!receiver.listening) await receiver.restart();
  receiver.reset();
});

async function endpoint(path: string, extra: Record<string, unknown> = {}) {
  const created = await api.post("/v1/webhook-endpoints", {
    url: receiver.url(path),
    eventTypes: ["contact.created"],
    ...extra,
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return created.body as { id: string; secret: string };
}

const emit = async (name = "Ana") => {
  expect((await api.post("/v1/contacts", { name })).status).toBe(201);
};

async function delivery(endpointId: string, attempts: number, status?: string) {
  return waitFor(
    async () => {
      const page = await api.get(`/v1/webhook-endpoints/${endpointId}/deliveries`);
      const d = page.body.data[0];
      return d && d.attemptCount === attempts && (!status || d.status === status) ? d : undefined;
    },
    10_000,
    { what: `delivery with ${attempts} attempts${status ? ` and status ${status}` : ""}` },
  );
}

/** Moves the app's clock to the delivery's next attempt and wakes the dispatcher. */
function advanceTo(iso: string | null) {
  if (iso === null) throw new Error("the delivery has no next attempt");
  now = Math.max(now, Date.parse(iso));
  t.app.deps.webhookDispatcher.notify();
}

const consumedByWebhooks = async () =>
  Number(
    (
      await t.app.deps.database.db
        .selectFrom("consumed_events")
        .select((eb) => eb.fn.countAll().as("n"))
        .where("consumer", "=", "webhooks")
        .executeTakeFirstOrThrow()
    ).n,
  );

const gap = (a: { startedAt: string }, b: { startedAt: string }) =>
  Date.parse(b.startedAt) - Date.parse(a.startedAt);

describe("retry schedule (fake clock)", () => {
  it("retries a receiver that is down on the schedule, then delivers when it is back", async () => {
    const ep = await endpoint("/down");
    await receiver.stop();
    await emit();
    let d = await delivery(ep.id, 1, "pending");
    for (let attempt = 2; attempt <= 4; attempt++) {
      advanceTo(d.nextAttemptAt);
      d = await delivery(ep.id, attempt, "pending");
    }
    expect(d.attempts.map((a: { outcome: string }) => a.outcome)).toEqual([
      "failed",
      "failed",
      "failed",
      "failed",
    ]);
    for (let i = 1; i < 4; i++) {
      const spacing = gap(d.attempts[i - 1], d.attempts[i]);
      expect(spacing).toBeGreaterThanOrEqual(SCHEDULE_MS[i - 1]! * 0.8);
      expect(spacing).toBeLessThanOrEqual(SCHEDULE_MS[i - 1]! * 1.2);
    }
    expect(d.attempts[0].error).toMatch(/ECONNREFUSED|refused|connect/i);

    await receiver.restart();
    advanceTo(d.nextAttemptAt);
    d = await delivery(ep.id, 5, "succeeded");
    expect(receiver.requests("/down")).toHaveLength(1);
    expect(receiver.requests("/down")[0]!.headers["webhook-id"]).toBe(d.webhookId);
  });

  it("gives up after the last step: 8 attempts, one webhook-id, each gap on schedule", async () => {
    const ep = await endpoint("/always-500");
    receiver.otherwise("/always-500", { status: 500, body: "boom" });
    await emit();
    let d = await delivery(ep.id, 1);
    for (let attempt = 2; attempt <= 8; attempt++) {
      advanceTo(d.nextAttemptAt);
      d = await delivery(ep.id, attempt);
    }
    d = await delivery(ep.id, 8, "failed");
    expect(d.nextAttemptAt).toBeNull();
    expect(d.lastStatusCode).toBe(500);
    expect(d.attempts[7].responseBody).toBe("boom");
    for (let i = 1; i < 8; i++) {
      const spacing = gap(d.attempts[i - 1], d.attempts[i]);
      expect(spacing).toBeGreaterThanOrEqual(SCHEDULE_MS[i - 1]! * 0.8);
      expect(spacing).toBeLessThanOrEqual(SCHEDULE_MS[i - 1]! * 1.2);
    }
    const ids = new Set(receiver.requests("/always-500").map((r) => r.headers["webhook-id"]));
    expect(receiver.requests("/always-500")).toHaveLength(8);
    expect([...ids]).toEqual([d.webhookId]);
    // Nothing more happens, however much time passes.
    now += 7 * 86_400_000;
    t.app.deps.webhookDispatcher.notify();
    await t.app.deps.webhookDispatcher.pass();
    expect((await delivery(ep.id, 8, "failed")).attempts).toHaveLength(8);
  });

  it("honours Retry-After on 429 and 503 within [scheduled, 2 x scheduled]", async () => {
    const ep = await endpoint("/busy");
    receiver.respond(
      "/busy",
      { status: 429, headers: { "retry-after": "7" } },
      { status: 503, headers: { "retry-after": "86400" } },
      { status: 429, headers: { "retry-after": "1" } },
      { status: 200 },
    );
    await emit();
    let d = await delivery(ep.id, 1);
    // 7 s lies inside [5 s x 0.8, 2 x 5 s x 0.8]: honoured exactly.
    expect(Date.parse(d.nextAttemptAt) - Date.parse(d.attempts[0].startedAt)).toBe(7_000);
    advanceTo(d.nextAttemptAt);
    d = await delivery(ep.id, 2);
    // A day is capped at twice the scheduled 5 min (jittered).
    const capped = Date.parse(d.nextAttemptAt) - Date.parse(d.attempts[1].startedAt);
    expect(capped).toBeGreaterThanOrEqual(2 * 3e5 * 0.8);
    expect(capped).toBeLessThanOrEqual(2 * 3e5 * 1.2);
    advanceTo(d.nextAttemptAt);
    d = await delivery(ep.id, 3);
    // 1 s is sooner than the schedule allows: the scheduled 30 min wins.
    const floor = Date.parse(d.nextAttemptAt) - Date.parse(d.attempts[2].startedAt);
    expect(floor).toBeGreaterThanOrEqual(18e5 * 0.8);
    expect(floor).toBeLessThanOrEqual(18e5 * 1.2);
    advanceTo(d.nextAttemptAt);
    await delivery(ep.id, 4, "succeeded");
  });

  it("does not follow a redirect: a 3xx is a failed attempt", async () => {
    const ep = await endpoint("/moved");
    receiver.respond("/moved", { status: 302, headers: { location: receiver.url("/elsewhere") } });
    await emit();
    const d = await delivery(ep.id, 1, "pending");
    expect(d.lastStatusCode).toBe(302);
    expect(d.attempts[0].outcome).toBe("failed");
    expect(receiver.requests("/elsewhere")).toHaveLength(0);
  });

  it("times out a receiver that never answers and schedules the retry", async () => {
    const ep = await endpoint("/hang");
    receiver.respond("/hang", { hang: true });
    await emit();
    const d = await delivery(ep.id, 1, "pending");
    expect(d.attempts[0].error).toBe("no answer within 1000 ms");
    expect(d.attempts[0].statusCode).toBeNull();
  });

  it("disables an endpoint that answers 410 Gone, with an event, and recovers after enable", async () => {
    const watcher = await api.post("/v1/webhook-endpoints", {
      url: receiver.url("/watcher"),
      eventTypes: ["webhook_endpoint.*"],
    });
    const ep = await endpoint("/gone");
    receiver.respond("/gone", { status: 410 });
    await emit("first");
    const d = await delivery(ep.id, 1, "failed");
    const disabled = (await api.get(`/v1/webhook-endpoints/${ep.id}`)).body;
    expect(disabled).toMatchObject({ status: "disabled", disabledReason: "gone" });
    const [notice] = await receiver.waitForRequests(1, { path: "/watcher", timeoutMs: 10_000 });
    expect(notice!.json).toMatchObject({
      type: "webhook_endpoint.disabled",
      data: { endpointId: ep.id, reason: "gone" },
    });
    expect(watcher.status).toBe(201);

    // Disabled: new events are not queued for it, and recovery needs enabling first.
    const fannedOut = await consumedByWebhooks();
    await emit("second");
    await waitFor(async () => (await consumedByWebhooks()) > fannedOut, 10_000, {
      what: "the second event at the webhook fan-out",
    });
    const recoverEarly = await api.post(`/v1/webhook-endpoints/${ep.id}/recover`, {
      since: new Date(now - 60_000).toISOString(),
    });
    expect(recoverEarly.status).toBe(409);
    expect(recoverEarly.body.error.code).toBe("WEBHOOK_ENDPOINT_DISABLED");

    expect((await api.post(`/v1/webhook-endpoints/${ep.id}/enable`)).body.status).toBe("enabled");
    const recovered = await api.post(`/v1/webhook-endpoints/${ep.id}/recover`, {
      since: new Date(now - 60_000).toISOString(),
    });
    expect(recovered.status).toBe(202);
    expect(recovered.body.recovered).toBe(1);
    const again = await delivery(ep.id, 2, "succeeded");
    expect(again.attempts[1].trigger).toBe("recover");
    const requests = receiver.requests("/gone");
    expect(requests).toHaveLength(2);
    expect(requests[1]!.headers["webhook-id"]).toBe(d.webhookId);
    const all = await api.get(`/v1/webhook-endpoints/${ep.id}/deliveries`);
    expect(all.body.data).toHaveLength(1);
  });

  it("disables an endpoint failing continuously for 5 days (the default), with an event", async () => {
    const ep = await endpoint("/failing");
    receiver.otherwise("/failing", { status: 500 });
    await emit("one");
    let d = await delivery(ep.id, 1);
    const since = Date.parse(d.attempts[0].startedAt);
    expect((await api.get(`/v1/webhook-endpoints/${ep.id}`)).body.failingSince).toBe(
      d.attempts[0].startedAt,
    );
    for (let attempt = 2; attempt <= 8; attempt++) {
      advanceTo(d.nextAttemptAt);
      d = await delivery(ep.id, attempt);
    }
    expect(d.status).toBe("failed");
    expect((await api.get(`/v1/webhook-endpoints/${ep.id}`)).body.status).toBe("enabled");

    // A minute short of five days after the first failure, still failing: still enabled.
    now = since + 5 * 86_400_000 - 60_000;
    await emit("two");
    d = await delivery(ep.id, 1);
    expect((await api.get(`/v1/webhook-endpoints/${ep.id}`)).body.status).toBe("enabled");
    // Its retry 5 s later (+-20 %) still fails, and lands past the five days: open.
    now += 60_000;
    advanceTo(d.nextAttemptAt);
    d = await delivery(ep.id, 2, "failed");
    const disabled = (await api.get(`/v1/webhook-endpoints/${ep.id}`)).body;
    expect(disabled).toMatchObject({ status: "disabled", disabledReason: "failing" });
    // The message stopped because its endpoint was disabled; its last attempt got a 500.
    expect(d.lastError).toBe("endpoint disabled (failing)");
    expect(d.attempts[1].statusCode).toBe(500);
    const events = await t.app.deps.database.db
      .selectFrom("outbox_events")
      .select(["type", "data"])
      .where("aggregate_id", "=", ep.id)
      .execute();
    expect(events).toEqual([
      {
        type: "webhook_endpoint.disabled",
        data: expect.objectContaining({
          reason: "failing",
          failingSince: new Date(since).toISOString(),
        }),
      },
    ]);
  });

  it("a success closes the breaker: failing_since is cleared", async () => {
    const ep = await endpoint("/flaky");
    receiver.respond("/flaky", { status: 500 }, { status: 204 });
    await emit();
    const d = await delivery(ep.id, 1);
    expect((await api.get(`/v1/webhook-endpoints/${ep.id}`)).body.failingSince).not.toBeNull();
    advanceTo(d.nextAttemptAt);
    await delivery(ep.id, 2, "succeeded");
    const after = (await api.get(`/v1/webhook-endpoints/${ep.id}`)).body;
    expect(after.failingSince).toBeNull();
    expect(after.lastSuccessAt).not.toBeNull();
  });

  it("a manual retry of a failed delivery sends it again with the same webhook-id", async () => {
    const ep = await endpoint("/manual");
    receiver.respond("/manual", { status: 500 });
    await emit();
    const first = await delivery(ep.id, 1, "pending");
    const retried = await api.post(`/v1/webhook-deliveries/${first.id}/retry`);
    expect(retried.status).toBe(202);
    const d = await delivery(ep.id, 2, "succeeded");
    expect(d.attempts[1].trigger).toBe("manual");
    const ids = receiver.requests("/manual").map((r) => r.headers["webhook-id"]);
    expect(ids).toEqual([first.webhookId, first.webhookId]);
  });

  it("records an endpoint whose secret cannot be opened as a failed attempt on the schedule", async () => {
    const ep = await endpoint("/unusable");
    // As if sealed under another ENCRYPTION_KEY.
    await t.app.deps.database.db
      .updateTable("webhook_endpoint_secrets")
      .set({ secret_enc: "v1.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA.AAAA" })
      .where("endpoint_id", "=", ep.id)
      .execute();
    await api.patch(`/v1/webhook-endpoints/${ep.id}`, { description: "reload" });
    await emit();
    const d = await delivery(ep.id, 1, "pending");
    expect(d.attempts[0]).toMatchObject({ outcome: "failed", statusCode: null });
    expect(d.attempts[0].error).toMatch(/^endpoint unusable: .*ENCRYPTION_KEY/);
    expect(d.nextAttemptAt).not.toBeNull();
    expect(receiver.requests("/unusable")).toHaveLength(0);
  });

  it("delivers to a changed URL at once, even within the same millisecond", async () => {
    const ep = await endpoint("/old");
    await emit("before");
    await receiver.waitForRequests(1, { path: "/old", timeoutMs: 10_000 });
    // The fake clock stands still: the change must not hide behind an equal timestamp.
    const patched = await api.patch(`/v1/webhook-endpoints/${ep.id}`, {
      url: receiver.url("/new"),
    });
    expect(patched.status).toBe(200);
    await emit("after");
    await receiver.waitForRequests(1, { path: "/new", timeoutMs: 10_000 });
    expect(receiver.requests("/old")).toHaveLength(1);
  });

  it("prunes finished deliveries past the retention, never pending ones", async () => {
    const done = await endpoint("/prune-done");
    await emit("finished");
    const finished = await delivery(done.id, 1, "succeeded");
    const waiting = await endpoint("/prune-pending");
    receiver.otherwise("/prune-pending", { status: 500 });
    await emit("pending");
    await delivery(waiting.id, 1, "pending");
    const deleted = await pruneWebhookDeliveries(
      t.app.deps.database.db,
      new Date(now + 31 * 86_400_000),
    );
    expect(deleted).toBeGreaterThanOrEqual(1);
    expect((await api.get(`/v1/webhook-deliveries/${finished.id}`)).status).toBe(404);
    const attempts = await t.app.deps.database.db
      .selectFrom("webhook_attempts")
      .select("id")
      .where("message_id", "=", finished.id)
      .execute();
    expect(attempts).toEqual([]);
    const left = await api.get(`/v1/webhook-endpoints/${waiting.id}/deliveries`);
    expect(left.body.data.map((d: { status: string }) => d.status)).toEqual(["pending"]);
  });

  it("stops signing with a rotated-out secret when its grace period ends", async () => {
    const ep = await endpoint("/rotate");
    const rotated = await api.post(`/v1/webhook-endpoints/${ep.id}/rotate-secret`, {
      gracePeriodSeconds: 60,
    });
    expect(rotated.status).toBe(200);
    await emit("during grace");
    await receiver.waitForRequests(1, { path: "/rotate", timeoutMs: 10_000 });
    now += 61_000;
    await emit("after grace");
    const [during, after] = await receiver.waitForRequests(2, {
      path: "/rotate",
      timeoutMs: 10_000,
    });
    expect(receiver.signaturesIn(during!)).toHaveLength(2);
    expect(receiver.signaturesIn(after!)).toHaveLength(1);
  });
});
