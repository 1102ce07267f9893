import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startWebhookReceiver, type WebhookReceiver } from "../simulators/webhook-receiver.ts";
import { badFields, expectError, expectInvalid } from "../support/api-assertions.ts";
import { client, type JsonResponse } from "../support/http.ts";
import { createTestApp, type TestApp } from "../support/test-app.ts";
import { waitFor } from "../support/wait-for.ts";

/**
 * The webhook endpoints API of API.md "Outbound webhooks" through HTTP: create (secret
 * shown once), list, get, patch, delete, enable, rotate-secret, validation, masking and
 * sealing of custom headers, roles and tenancy. Every endpoint targets the loopback
 * receiver (allow-listed), so whatever is delivered stays on this machine.
 */

const ADMIN_TOKEN = "webhook-endpoints-admin-token-0123456789";
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MISSING = "01939d6e-7a1c-7b7e-9c41-000000000000";
const MASK = "********";
const DAY_MS = 86_400_000;

type Api = ReturnType<typeof client>;

let t: TestApp;
let receiver: WebhookReceiver;
let admin: Api;
let tokenAdmin: Api;

async function newProject(name: string) {
  const res = await tokenAdmin.post("/v1/projects", { name });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return { id: res.body.project.id as string, api: client(t.app, res.body.apiKey) };
}

async function newKey(api: Api, role: "admin" | "agent" | "readonly") {
  const res = await api.post("/v1/api-keys", { name: `${role} key`, role });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return client(t.app, res.body.key);
}

/** Creates an endpoint on the loopback receiver (quiet unless eventTypes say otherwise). */
async function createEndpoint(api: Api, body: Record<string, unknown> = {}) {
  const res = await api.post("/v1/webhook-endpoints", {
    url: receiver.url("/quiet"),
    eventTypes: ["channel.status_changed"],
    ...body,
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

/** The endpoint's rows, to prove a refused request changed nothing. */
async function rowsOf(endpointId: string) {
  const db = t.app.deps.database.db;
  const [endpoint, secrets] = await Promise.all([
    db.selectFrom("webhook_endpoints").selectAll().where("id", "=", endpointId).execute(),
    db
      .selectFrom("webhook_endpoint_secrets")
      .selectAll()
      .where("endpoint_id", "=", endpointId)
      .orderBy("id")
      .execute(),
  ]);
  return JSON.stringify({ endpoint, secrets });
}

async function allEndpointRows() {
  const rows = await t.app.deps.database.db
    .selectFrom("webhook_endpoints")
    .selectAll()
    .orderBy("id")
    .execute();
  return JSON.stringify(rows);
}

/** The endpoint's delivery of a new contact, once its first attempt is recorded. */
async function deliveredContact(api: Api, endpointId: string, name: string) {
  const contact = await api.post("/v1/contacts", { name });
  expect(contact.status).toBe(201);
  return waitFor(
    async () => {
      const page = await api.get(`/v1/webhook-endpoints/${endpointId}/deliveries`);
      return page.body.data.find(
        (d: any) =>
          d.attempts.length > 0 && (d.payload as any)?.data?.contact?.id === contact.body.id,
      );
    },
    10_000,
    { what: `the delivery of contact ${name}` },
  );
}

const secretBytes = (secret: string) => Buffer.from(secret.slice("whsec_".length), "base64");

function expectSecret(secret: unknown) {
  expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]+={0,2}$/);
  expect(secretBytes(secret as string).length).toBeGreaterThanOrEqual(24);
}

function expectEndpointView(body: any) {
  expect(Object.keys(body).sort()).toEqual(
    [
      "createdAt",
      "description",
      "disabledAt",
      "disabledReason",
      "eventTypes",
      "failingSince",
      "headers",
      "id",
      "lastSuccessAt",
      "rateLimitPerSecond",
      "status",
      "updatedAt",
      "url",
    ].sort(),
  );
}

beforeAll(async () => {
  receiver = await startWebhookReceiver();
  t = await createTestApp({
    ADMIN_TOKEN,
    WEBHOOK_ALLOW_TARGETS: "127.0.0.1",
    WEBHOOK_POLL_INTERVAL_MS: "50",
  });
  admin = client(t.app, t.adminKey);
  tokenAdmin = client(t.app, ADMIN_TOKEN);
});
afterAll(async () => {
  await t?.close();
  await receiver?.close();
});
beforeEach(() => receiver.reset());

describe("POST /v1/webhook-endpoints", () => {
  it("answers 201 with the endpoint and its signing secret", async () => {
    const res = await admin.post("/v1/webhook-endpoints", {
      url: receiver.url("/created"),
      eventTypes: ["contact.*", "message.received"],
      description: "CRM sync",
      headers: { "X-Tenant": "tenant-value-1" },
      rateLimitPerSecond: 25,
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body).toEqual({
      id: expect.stringMatching(UUID),
      url: receiver.url("/created"),
      description: "CRM sync",
      eventTypes: ["contact.*", "message.received"],
      headers: { "X-Tenant": MASK },
      rateLimitPerSecond: 25,
      status: "enabled",
      disabledReason: null,
      disabledAt: null,
      failingSince: null,
      lastSuccessAt: null,
      createdAt: expect.stringMatching(ISO),
      updatedAt: expect.stringMatching(ISO),
      secret: expect.any(String),
    });
    expectSecret(res.body.secret);
    const again = await createEndpoint(admin);
    expectSecret(again.secret);
    expect(again.secret).not.toBe(res.body.secret);
  });

  it("defaults: every event type, no description, headers or rate limit", async () => {
    const res = await admin.post("/v1/webhook-endpoints", { url: receiver.url("/defaults") });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      eventTypes: ["*"],
      description: null,
      headers: {},
      rateLimitPerSecond: null,
      status: "enabled",
    });
    // "*" gets everything: delete it before any event of the project reaches it.
    expect((await admin.delete(`/v1/webhook-endpoints/${res.body.id}`)).status).toBe(204);
  });

  it("shows the secret once: never in get, list, patch, enable or rotate's other fields", async () => {
    const created = await createEndpoint(admin);
    const secret = created.secret as string;
    const responses = [
      await admin.get(`/v1/webhook-endpoints/${created.id}`),
      await admin.get("/v1/webhook-endpoints?limit=200"),
      await admin.patch(`/v1/webhook-endpoints/${created.id}`, { description: "x" }),
      await admin.post(`/v1/webhook-endpoints/${created.id}/enable`),
    ];
    for (const res of responses) {
      expect(res.status).toBe(200);
      expect(JSON.stringify(res.body)).not.toContain(secret);
      expect(JSON.stringify(res.body)).not.toContain("whsec_");
    }
    expectEndpointView(responses[0]!.body);
    expectEndpointView(responses[2]!.body);
    expectEndpointView(responses[3]!.body);
    for (const item of responses[1]!.body.data) expectEndpointView(item);
  });

  it("stores the secret sealed, never in clear", async () => {
    const created = await createEndpoint(admin);
    const rows = await t.app.deps.database.db
      .selectFrom("webhook_endpoint_secrets")
      .selectAll()
      .where("endpoint_id", "=", created.id)
      .execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]!.expires_at).toBeNull();
    const raw = JSON.stringify(rows);
    expect(raw).not.toContain(created.secret);
    expect(raw).not.toContain(created.secret.slice("whsec_".length));
  });

  it("an Idempotency-Key replay answers the same endpoint with secret null", async () => {
    const body = { url: receiver.url("/idem"), eventTypes: ["channel.status_changed"] };
    const headers = { "idempotency-key": `create-endpoint-${Date.now()}` };
    const before = await allEndpointRows();
    const first = await admin.post("/v1/webhook-endpoints", body, headers);
    expect(first.status).toBe(201);
    expectSecret(first.body.secret);
    const replay = await admin.post("/v1/webhook-endpoints", body, headers);
    expect(replay.status).toBe(201);
    expect(replay.headers["idempotent-replayed"]).toBe("true");
    expect(replay.body).toEqual({ ...first.body, secret: null });
    const after = JSON.parse(await allEndpointRows()) as unknown[];
    expect(after).toHaveLength((JSON.parse(before) as unknown[]).length + 1);
    // The same key with another body is refused.
    expectError(
      await admin.post("/v1/webhook-endpoints", { ...body, description: "other" }, headers),
      422,
      "IDEMPOTENCY_KEY_REUSED",
    );
  });
});

describe("GET /v1/webhook-endpoints", () => {
  it("pages newest first with a cursor, every endpoint exactly once", async () => {
    const project = await newProject("Paging");
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await createEndpoint(project.api)).id);
    const seen: string[] = [];
    let cursor: string | null = null;
    const sizes: number[] = [];
    do {
      const query: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
      const page: JsonResponse = await project.api.get(`/v1/webhook-endpoints?limit=2${query}`);
      expect(page.status).toBe(200);
      expect(Object.keys(page.body).sort()).toEqual(["data", "nextCursor"]);
      sizes.push(page.body.data.length);
      seen.push(...page.body.data.map((e: any) => e.id));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(sizes).toEqual([2, 2, 1]);
    expect(seen).toEqual([...ids].reverse());
    const all = await project.api.get("/v1/webhook-endpoints");
    expect(all.body.data.map((e: any) => e.id)).toEqual([...ids].reverse());
    expect(all.body.nextCursor).toBeNull();
  });

  it("refuses bad paging parameters", async () => {
    for (const query of ["limit=0", "limit=201", "limit=x", "unknown=1"])
      expectError(await admin.get(`/v1/webhook-endpoints?${query}`), 400, "VALIDATION_FAILED");
  });
});

describe("GET /v1/webhook-endpoints/:id", () => {
  it("answers the endpoint, 404 for an unknown id, 400 for a malformed one", async () => {
    const created = await createEndpoint(admin, { description: "get me" });
    const res = await admin.get(`/v1/webhook-endpoints/${created.id}`);
    expect(res.status).toBe(200);
    const { secret: _secret, ...view } = created;
    expect(res.body).toEqual(view);
    expectError(
      await admin.get(`/v1/webhook-endpoints/${MISSING}`),
      404,
      "WEBHOOK_ENDPOINT_NOT_FOUND",
    );
    expectInvalid(await admin.get("/v1/webhook-endpoints/not-a-uuid"), "id");
  });
});

describe("PATCH /v1/webhook-endpoints/:id", () => {
  it("changes each field on its own and leaves the others", async () => {
    const created = await createEndpoint(admin, {
      description: "before",
      headers: { "X-One": "one-value" },
      rateLimitPerSecond: 5,
    });
    const url = `/v1/webhook-endpoints/${created.id}`;
    const steps: [Record<string, unknown>, Record<string, unknown>][] = [
      [{ url: receiver.url("/moved") }, { url: receiver.url("/moved") }],
      [{ eventTypes: ["webhook_endpoint.*"] }, { eventTypes: ["webhook_endpoint.*"] }],
      [{ description: "after" }, { description: "after" }],
      [{ description: null }, { description: null }],
      [
        { headers: { "X-Two": "two", "X-Three": "three" } },
        { headers: { "X-Two": MASK, "X-Three": MASK } },
      ],
      [{ headers: {} }, { headers: {} }],
      [{ rateLimitPerSecond: 10_000 }, { rateLimitPerSecond: 10_000 }],
      [{ rateLimitPerSecond: null }, { rateLimitPerSecond: null }],
    ];
    let expected: Record<string, unknown> = { ...created };
    delete expected["secret"];
    for (const [body, change] of steps) {
      const res = await admin.patch(url, body);
      expect(res.status, JSON.stringify({ body, res: res.body })).toBe(200);
      expected = { ...expected, ...change, updatedAt: res.body.updatedAt };
      expect(res.body).toEqual(expected);
      expect((await admin.get(url)).body).toEqual(expected);
    }
    expect(expected["createdAt"]).toBe(created.createdAt);
  });

  it("checks a new URL again (422) and changes nothing", async () => {
    const created = await createEndpoint(admin);
    const before = await rowsOf(created.id);
    for (const target of ["http://10.0.0.1/", "http://127.0.0.2/", "ftp://127.0.0.1/", "nope"])
      expectError(
        await admin.patch(`/v1/webhook-endpoints/${created.id}`, { url: target }),
        422,
        "WEBHOOK_URL_NOT_ALLOWED",
      );
    expect(await rowsOf(created.id)).toBe(before);
  });

  it("refuses an empty body, unknown fields, and unknown ids", async () => {
    const created = await createEndpoint(admin);
    const before = await rowsOf(created.id);
    expectError(
      await admin.patch(`/v1/webhook-endpoints/${created.id}`, {}),
      400,
      "VALIDATION_FAILED",
    );
    expectInvalid(
      await admin.patch(`/v1/webhook-endpoints/${created.id}`, { secret: "whsec_AAAA" }),
      "secret",
    );
    expectInvalid(
      await admin.patch(`/v1/webhook-endpoints/${created.id}`, { status: "disabled" }),
      "status",
    );
    expect(await rowsOf(created.id)).toBe(before);
    expectError(
      await admin.patch(`/v1/webhook-endpoints/${MISSING}`, { description: "x" }),
      404,
      "WEBHOOK_ENDPOINT_NOT_FOUND",
    );
  });
});

describe("DELETE /v1/webhook-endpoints/:id", () => {
  it("answers 204, then 404; the endpoint's deliveries, attempts and secrets are gone", async () => {
    const created = await createEndpoint(admin, {
      url: receiver.url("/delete-me"),
      eventTypes: ["contact.created"],
    });
    receiver.setSecrets([created.secret]);
    const delivery = await deliveredContact(admin, created.id, "Deleted Later");
    expect(delivery.status).toBe("succeeded");
    expect(delivery.attempts).toHaveLength(1);

    const res = await admin.delete(`/v1/webhook-endpoints/${created.id}`);
    expect(res.status).toBe(204);
    expect(res.body).toBeUndefined();
    for (const gone of [
      await admin.get(`/v1/webhook-endpoints/${created.id}`),
      await admin.delete(`/v1/webhook-endpoints/${created.id}`),
      await admin.get(`/v1/webhook-endpoints/${created.id}/deliveries`),
    ])
      expectError(gone, 404, "WEBHOOK_ENDPOINT_NOT_FOUND");
    expectError(
      await admin.get(`/v1/webhook-deliveries/${delivery.id}`),
      404,
      "WEBHOOK_DELIVERY_NOT_FOUND",
    );
    const db = t.app.deps.database.db;
    expect(
      await db
        .selectFrom("webhook_messages")
        .where("endpoint_id", "=", created.id)
        .selectAll()
        .execute(),
    ).toEqual([]);
    expect(
      await db
        .selectFrom("webhook_attempts")
        .where("message_id", "=", delivery.id)
        .selectAll()
        .execute(),
    ).toEqual([]);
    expect(
      await db
        .selectFrom("webhook_endpoint_secrets")
        .where("endpoint_id", "=", created.id)
        .selectAll()
        .execute(),
    ).toEqual([]);
    expect(
      (await admin.get("/v1/webhook-endpoints?limit=200")).body.data.map((e: any) => e.id),
    ).not.toContain(created.id);
  });
});

describe("POST /v1/webhook-endpoints/:id/enable", () => {
  it("an enabled endpoint stays enabled (200)", async () => {
    const created = await createEndpoint(admin);
    const res = await admin.post(`/v1/webhook-endpoints/${created.id}/enable`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: created.id, status: "enabled", disabledReason: null });
    expectError(
      await admin.post(`/v1/webhook-endpoints/${MISSING}/enable`),
      404,
      "WEBHOOK_ENDPOINT_NOT_FOUND",
    );
  });

  it("re-enables an endpoint disabled by a 410 and forgets why", async () => {
    receiver.respond("/gone", { status: 410 });
    const created = await createEndpoint(admin, {
      url: receiver.url("/gone"),
      eventTypes: ["contact.created"],
    });
    const delivery = await deliveredContact(admin, created.id, "Gone Receiver");
    expect(delivery).toMatchObject({ status: "failed", lastStatusCode: 410 });
    const disabled = await admin.get(`/v1/webhook-endpoints/${created.id}`);
    expect(disabled.body).toMatchObject({
      status: "disabled",
      disabledReason: expect.any(String),
      disabledAt: expect.stringMatching(ISO),
    });
    // A disabled endpoint's deliveries cannot be retried or recovered until it is enabled.
    expectError(
      await admin.post(`/v1/webhook-deliveries/${delivery.id}/retry`),
      409,
      "WEBHOOK_ENDPOINT_DISABLED",
    );
    const res = await admin.post(`/v1/webhook-endpoints/${created.id}/enable`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      status: "enabled",
      disabledReason: null,
      disabledAt: null,
      failingSince: null,
    });
    expect((await admin.get(`/v1/webhook-endpoints/${created.id}`)).body.status).toBe("enabled");
    expect((await admin.delete(`/v1/webhook-endpoints/${created.id}`)).status).toBe(204);
  });
});

describe("POST /v1/webhook-endpoints/:id/rotate-secret", () => {
  const secretsOf = (endpointId: string) =>
    t.app.deps.database.db
      .selectFrom("webhook_endpoint_secrets")
      .select(["id", "expires_at"])
      .where("endpoint_id", "=", endpointId)
      .orderBy("id")
      .execute();

  it("without a body: a new secret, the old one kept for the default 24 h", async () => {
    const created = await createEndpoint(admin);
    const res = await admin.post(`/v1/webhook-endpoints/${created.id}/rotate-secret`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(Object.keys(res.body).sort()).toEqual(["previousSecretsExpireAt", "secret"]);
    expectSecret(res.body.secret);
    expect(res.body.secret).not.toBe(created.secret);
    expect(res.body.previousSecretsExpireAt).toMatch(ISO);
    // The rotation stamps the endpoint with the same "now" the grace is counted from.
    const after = await admin.get(`/v1/webhook-endpoints/${created.id}`);
    expect(Date.parse(res.body.previousSecretsExpireAt) - Date.parse(after.body.updatedAt)).toBe(
      DAY_MS,
    );
    expect(JSON.stringify(after.body)).not.toContain(res.body.secret);
    const secrets = await secretsOf(created.id);
    expect(secrets).toHaveLength(2);
    expect(secrets.map((s) => s.expires_at?.toISOString() ?? null).sort()).toEqual(
      [res.body.previousSecretsExpireAt, null].sort(),
    );
  });

  it("an empty JSON object body works the same", async () => {
    const created = await createEndpoint(admin);
    const res = await admin.post(`/v1/webhook-endpoints/${created.id}/rotate-secret`, {});
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const after = await admin.get(`/v1/webhook-endpoints/${created.id}`);
    expect(Date.parse(res.body.previousSecretsExpireAt) - Date.parse(after.body.updatedAt)).toBe(
      DAY_MS,
    );
  });

  it("gracePeriodSeconds sets the grace; 0 drops the old secrets at once", async () => {
    const created = await createEndpoint(admin);
    const hour = await admin.post(`/v1/webhook-endpoints/${created.id}/rotate-secret`, {
      gracePeriodSeconds: 3600,
    });
    expect(hour.status).toBe(200);
    const after = await admin.get(`/v1/webhook-endpoints/${created.id}`);
    expect(Date.parse(hour.body.previousSecretsExpireAt) - Date.parse(after.body.updatedAt)).toBe(
      3_600_000,
    );
    expect(await secretsOf(created.id)).toHaveLength(2);
    const now = await admin.post(`/v1/webhook-endpoints/${created.id}/rotate-secret`, {
      gracePeriodSeconds: 0,
    });
    expect(now.status).toBe(200);
    expectSecret(now.body.secret);
    const secrets = await secretsOf(created.id);
    expect(secrets).toHaveLength(1);
    expect(secrets[0]!.expires_at).toBeNull();
  });

  it("an Idempotency-Key replay answers secret null and rotates once", async () => {
    const created = await createEndpoint(admin);
    const headers = { "idempotency-key": `rotate-${created.id}` };
    const first = await admin.post(
      `/v1/webhook-endpoints/${created.id}/rotate-secret`,
      { gracePeriodSeconds: 60 },
      headers,
    );
    expect(first.status).toBe(200);
    expectSecret(first.body.secret);
    const replay = await admin.post(
      `/v1/webhook-endpoints/${created.id}/rotate-secret`,
      { gracePeriodSeconds: 60 },
      headers,
    );
    expect(replay.status).toBe(200);
    expect(replay.body).toEqual({ ...first.body, secret: null });
    expect(await secretsOf(created.id)).toHaveLength(2);
  });

  it("refuses a bad grace period and unknown fields; 404 for an unknown endpoint", async () => {
    const created = await createEndpoint(admin);
    const before = await rowsOf(created.id);
    const url = `/v1/webhook-endpoints/${created.id}/rotate-secret`;
    for (const body of [
      { gracePeriodSeconds: -1 },
      { gracePeriodSeconds: 30 * 86_400 + 1 },
      { gracePeriodSeconds: 1.5 },
      { gracePeriodSeconds: "60" },
    ])
      expectInvalid(await admin.post(url, body), "gracePeriodSeconds");
    expectInvalid(await admin.post(url, { grace: 60 }), "grace");
    expect(await rowsOf(created.id)).toBe(before);
    expectError(
      await admin.post(`/v1/webhook-endpoints/${MISSING}/rotate-secret`),
      404,
      "WEBHOOK_ENDPOINT_NOT_FOUND",
    );
  });
});

describe("validation: 400 with per-field details, nothing written", () => {
  const tooManyHeaders = Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`X-H${i}`, "v"]));
  const cases: [string, Record<string, unknown>, string][] = [
    ["an upper-case event type", { eventTypes: ["Contact.Created"] }, "eventTypes"],
    ["an event type without a family", { eventTypes: ["contact"] }, "eventTypes"],
    ["an event type with a space", { eventTypes: ["contact created"] }, "eventTypes"],
    ["an unknown family", { eventTypes: ["foo.bar"] }, "eventTypes"],
    ["an unknown type in a known family", { eventTypes: ["contact.nope"] }, "eventTypes"],
    ["an unknown family wildcard", { eventTypes: ["nope.*"] }, "eventTypes"],
    ["an empty list", { eventTypes: [] }, "eventTypes"],
    ["a repeated type", { eventTypes: ["contact.*", "contact.*"] }, "eventTypes"],
    ["a string instead of a list", { eventTypes: "contact.*" }, "eventTypes"],
    ["reserved header webhook-signature", { headers: { "webhook-signature": "v1,x" } }, "headers"],
    ["reserved header Content-Type", { headers: { "Content-Type": "text/plain" } }, "headers"],
    ["reserved header user-agent", { headers: { "user-agent": "curl" } }, "headers"],
    ["reserved header Webhook-Id", { headers: { "Webhook-Id": "msg_1" } }, "headers"],
    ["reserved header Host", { headers: { Host: "evil.example" } }, "headers"],
    ["a header value with CR LF", { headers: { "X-A": "a\r\nX-Injected: 1" } }, "headers"],
    ["a header value with LF", { headers: { "X-A": "a\nb" } }, "headers"],
    ["a header value with CR", { headers: { "X-A": "a\rb" } }, "headers"],
    ["a header name with a space", { headers: { "X A": "v" } }, "headers"],
    ["a header name with a colon", { headers: { "X-A:": "v" } }, "headers"],
    ["a header name with a CR LF value", { headers: { "X A": "a\r\nX-Injected: 1" } }, "headers"],
    ["a header value with a control character", { headers: { "X-A": "a\u0001b" } }, "headers"],
    ["a header value with NUL", { headers: { "X-A": "a\u0000b" } }, "headers"],
    ["a header value outside Latin-1", { headers: { "X-A": "\u20ac 5" } }, "headers"],
    ["an empty header name", { headers: { "": "v" } }, "headers"],
    ["a header value over 1000 chars", { headers: { "X-A": "v".repeat(1001) } }, "headers"],
    ["more than 20 headers", { headers: tooManyHeaders }, "headers"],
    ["a non-string header value", { headers: { "X-A": 1 } }, "headers"],
    ["rateLimitPerSecond 0", { rateLimitPerSecond: 0 }, "rateLimitPerSecond"],
    ["rateLimitPerSecond 10001", { rateLimitPerSecond: 10_001 }, "rateLimitPerSecond"],
    ["rateLimitPerSecond fractional", { rateLimitPerSecond: 1.5 }, "rateLimitPerSecond"],
    ["rateLimitPerSecond as a string", { rateLimitPerSecond: "5" }, "rateLimitPerSecond"],
    ["a description over 500 chars", { description: "d".repeat(501) }, "description"],
    ["an unknown field", { sneaky: true }, "sneaky"],
    ["a url over 2048 chars", { url: `http://127.0.0.1/${"a".repeat(2048)}` }, "url"],
    ["an empty url", { url: "" }, "url"],
    ["a non-string url", { url: 42 }, "url"],
  ];

  /** Whether a field name from the details is `field` or inside it (`headers.X-A`). */
  const names = (res: JsonResponse, field: string) =>
    badFields(res).some(
      (f) => f === field || f.startsWith(`${field}.`) || f.startsWith(`${field}/`),
    );

  it.each(cases)("POST with %s", async (_what, change, field) => {
    const before = await allEndpointRows();
    const res = await admin.post("/v1/webhook-endpoints", {
      url: receiver.url("/invalid"),
      eventTypes: ["channel.status_changed"],
      ...change,
    });
    expectError(res, 400, "VALIDATION_FAILED");
    expect(names(res, field), JSON.stringify(res.body.error.details)).toBe(true);
    expect(await allEndpointRows()).toBe(before);
  });

  it.each(cases)("PATCH with %s", async (_what, change, field) => {
    const created = await createEndpoint(admin);
    const before = await allEndpointRows();
    const res = await admin.patch(`/v1/webhook-endpoints/${created.id}`, change);
    expectError(res, 400, "VALIDATION_FAILED");
    expect(names(res, field), JSON.stringify(res.body.error.details)).toBe(true);
    expect(await allEndpointRows()).toBe(before);
  });

  it("a missing url on create", async () => {
    expectInvalid(await admin.post("/v1/webhook-endpoints", { eventTypes: ["*"] }), "url");
  });

  it("names every bad field at once", async () => {
    const res = await admin.post("/v1/webhook-endpoints", {
      url: receiver.url("/invalid"),
      eventTypes: ["foo.bar", "contact.nope"],
      headers: { "Content-Type": "x", "User-Agent": "y" },
    });
    expectError(res, 400, "VALIDATION_FAILED");
    const fields = res.body.error.details.fields as { field: string; message: string }[];
    const text = JSON.stringify(fields);
    for (const part of ["foo.bar", "contact.nope", "Content-Type", "User-Agent"])
      expect(text).toContain(part);
  });

  it("accepts the catalogue's types, family wildcards and *", async () => {
    for (const eventTypes of [["*"], ["contact.*"], ["message.received", "session.*"]]) {
      const created = await createEndpoint(admin, { eventTypes });
      expect(created.eventTypes).toEqual(eventTypes);
      expect((await admin.delete(`/v1/webhook-endpoints/${created.id}`)).status).toBe(204);
    }
  });
});

describe("custom headers: masked in every response, sealed at rest, sent in clear", () => {
  const TOKEN = "Bearer tok-5f0c1d2e3a4b-do-not-leak";
  const TENANT = "tenant-7d1e9a2b4c-do-not-leak";

  it("never answers the values and never stores them in clear", async () => {
    const created = await createEndpoint(admin, {
      headers: { Authorization: TOKEN, "X-Tenant": TENANT },
    });
    expect(created.headers).toEqual({ Authorization: MASK, "X-Tenant": MASK });
    const url = `/v1/webhook-endpoints/${created.id}`;
    const responses = [
      await admin.get(url),
      await admin.get("/v1/webhook-endpoints?limit=200"),
      await admin.patch(url, { description: "still masked" }),
      await admin.post(`${url}/enable`),
    ];
    for (const res of responses) {
      expect(res.status).toBe(200);
      expect(JSON.stringify(res.body)).not.toContain("do-not-leak");
    }
    expect(responses[0]!.body.headers).toEqual({ Authorization: MASK, "X-Tenant": MASK });
    const row = await t.app.deps.database.db
      .selectFrom("webhook_endpoints")
      .selectAll()
      .where("id", "=", created.id)
      .executeTakeFirstOrThrow();
    expect(row.headers_enc).toEqual(expect.any(String));
    expect(JSON.stringify(row)).not.toContain("do-not-leak");
    expect(row.headers_enc).not.toContain("Authorization");

    const patched = await admin.patch(url, { headers: { "X-Other": "other-do-not-leak" } });
    expect(patched.body.headers).toEqual({ "X-Other": MASK });
    const again = await t.app.deps.database.db
      .selectFrom("webhook_endpoints")
      .select("headers_enc")
      .where("id", "=", created.id)
      .executeTakeFirstOrThrow();
    expect(again.headers_enc).not.toContain("do-not-leak");
  });

  it("deliveries carry the values in clear, beside the signature headers", async () => {
    const created = await createEndpoint(admin, {
      url: receiver.url("/with-headers"),
      eventTypes: ["contact.created"],
      headers: { Authorization: TOKEN, "X-Tenant": TENANT },
    });
    receiver.setSecrets([created.secret]);
    const delivery = await deliveredContact(admin, created.id, "Header Check");
    expect(delivery.status).toBe("succeeded");
    const [request] = receiver.requests("/with-headers");
    expect(request!.headers["authorization"]).toBe(TOKEN);
    expect(request!.headers["x-tenant"]).toBe(TENANT);
    expect(request!.verifiedBy).toEqual([created.secret]);
    expect(JSON.stringify(delivery)).not.toContain("do-not-leak");
    expect((await admin.delete(`/v1/webhook-endpoints/${created.id}`)).status).toBe(204);
  });

  it("accepted values are sent as given: tab, space and Latin-1 (obs-text)", async () => {
    const value = "caf\u00e9\tau lait ~!";
    const created = await createEndpoint(admin, {
      url: receiver.url("/latin"),
      eventTypes: ["contact.created"],
      headers: { "X-Label": value },
    });
    receiver.setSecrets([created.secret]);
    const delivery = await deliveredContact(admin, created.id, "Latin Header");
    expect(delivery.attempts[0].error).toBeNull();
    expect(delivery.status).toBe("succeeded");
    expect(receiver.requests("/latin")[0]!.headers["x-label"]).toBe(value);
    expect((await admin.delete(`/v1/webhook-endpoints/${created.id}`)).status).toBe(204);
  });
});

describe("roles", () => {
  let endpointId: string;
  let deliveryId: string;

  beforeAll(async () => {
    const created = await createEndpoint(admin, {
      url: receiver.url("/roles"),
      eventTypes: ["contact.created"],
    });
    endpointId = created.id;
    deliveryId = (await deliveredContact(admin, endpointId, "Roles Contact")).id;
  });

  const manage = (
    id: string,
    delivery: string,
  ): [string, (api: Api) => Promise<JsonResponse>][] => [
    ["create", (api) => api.post("/v1/webhook-endpoints", { url: receiver.url("/x") })],
    ["patch", (api) => api.patch(`/v1/webhook-endpoints/${id}`, { description: "x" })],
    ["delete", (api) => api.delete(`/v1/webhook-endpoints/${id}`)],
    ["rotate", (api) => api.post(`/v1/webhook-endpoints/${id}/rotate-secret`)],
    ["enable", (api) => api.post(`/v1/webhook-endpoints/${id}/enable`)],
    [
      "recover",
      (api) =>
        api.post(`/v1/webhook-endpoints/${id}/recover`, { since: "2020-01-01T00:00:00.000Z" }),
    ],
    ["retry", (api) => api.post(`/v1/webhook-deliveries/${delivery}/retry`)],
  ];

  it.each(["readonly", "agent"] as const)("%s reads but cannot manage (403)", async (role) => {
    const api = await newKey(admin, role);
    const list = await api.get("/v1/webhook-endpoints");
    expect(list.status).toBe(200);
    expect(list.body.data.map((e: any) => e.id)).toContain(endpointId);
    expect((await api.get(`/v1/webhook-endpoints/${endpointId}`)).status).toBe(200);
    expect((await api.get(`/v1/webhook-endpoints/${endpointId}/deliveries`)).status).toBe(200);
    expect((await api.get(`/v1/webhook-deliveries/${deliveryId}`)).status).toBe(200);
    expect((await api.get("/v1/event-types")).status).toBe(200);
    const before = await allEndpointRows();
    const secrets = await rowsOf(endpointId);
    for (const [what, call] of manage(endpointId, deliveryId)) {
      const res = await call(api);
      expectError(res, 403, "FORBIDDEN");
      expect(res.body.error.details, what).toEqual({ requiredRole: "admin", role });
    }
    expect(await allEndpointRows()).toBe(before);
    expect(await rowsOf(endpointId)).toBe(secrets);
  });

  it("no key or an unknown key: 401", async () => {
    for (const api of [client(t.app), client(t.app, "vtr_unknownKey000000000000000000000000000")]) {
      expectError(await api.get("/v1/webhook-endpoints"), 401, "UNAUTHORIZED");
      expectError(
        await api.post("/v1/webhook-endpoints", { url: receiver.url("/x") }),
        401,
        "UNAUTHORIZED",
      );
    }
  });
});

describe("tenancy: another project sees none of it (404)", () => {
  let a: { id: string; api: Api };
  let b: { id: string; api: Api };
  let endpoint: any;
  let delivery: any;

  beforeAll(async () => {
    a = await newProject("Webhooks A");
    b = await newProject("Webhooks B");
    endpoint = await createEndpoint(a.api, {
      url: receiver.url("/tenant-a"),
      eventTypes: ["contact.created"],
    });
    delivery = await deliveredContact(a.api, endpoint.id, "Tenant A Contact");
  });

  it("B cannot read, change, rotate, enable, list, recover or retry A's endpoint", async () => {
    const before = await rowsOf(endpoint.id);
    const id = endpoint.id as string;
    const calls: [string, () => Promise<JsonResponse>, string][] = [
      ["get", () => b.api.get(`/v1/webhook-endpoints/${id}`), "WEBHOOK_ENDPOINT_NOT_FOUND"],
      [
        "patch",
        () => b.api.patch(`/v1/webhook-endpoints/${id}`, { description: "hijack" }),
        "WEBHOOK_ENDPOINT_NOT_FOUND",
      ],
      [
        "patch url",
        () => b.api.patch(`/v1/webhook-endpoints/${id}`, { url: receiver.url("/b") }),
        "WEBHOOK_ENDPOINT_NOT_FOUND",
      ],
      ["delete", () => b.api.delete(`/v1/webhook-endpoints/${id}`), "WEBHOOK_ENDPOINT_NOT_FOUND"],
      [
        "rotate",
        () => b.api.post(`/v1/webhook-endpoints/${id}/rotate-secret`),
        "WEBHOOK_ENDPOINT_NOT_FOUND",
      ],
      [
        "enable",
        () => b.api.post(`/v1/webhook-endpoints/${id}/enable`),
        "WEBHOOK_ENDPOINT_NOT_FOUND",
      ],
      [
        "deliveries",
        () => b.api.get(`/v1/webhook-endpoints/${id}/deliveries`),
        "WEBHOOK_ENDPOINT_NOT_FOUND",
      ],
      [
        "recover",
        () =>
          b.api.post(`/v1/webhook-endpoints/${id}/recover`, {
            since: "2020-01-01T00:00:00.000Z",
          }),
        "WEBHOOK_ENDPOINT_NOT_FOUND",
      ],
      [
        "get delivery",
        () => b.api.get(`/v1/webhook-deliveries/${delivery.id}`),
        "WEBHOOK_DELIVERY_NOT_FOUND",
      ],
      [
        "retry delivery",
        () => b.api.post(`/v1/webhook-deliveries/${delivery.id}/retry`),
        "WEBHOOK_DELIVERY_NOT_FOUND",
      ],
    ];
    for (const [what, call, code] of calls) {
      const res = await call();
      expect(res.status, what).toBe(404);
      expectError(res, 404, code);
    }
    expect((await b.api.get("/v1/webhook-endpoints")).body.data).toEqual([]);
    expect(await rowsOf(endpoint.id)).toBe(before);
    // A still sees its own endpoint and delivery, untouched.
    const own = await a.api.get(`/v1/webhook-endpoints/${id}`);
    expect(own.body).toMatchObject({ url: endpoint.url, description: null, status: "enabled" });
    expect((await a.api.get(`/v1/webhook-deliveries/${delivery.id}`)).body.id).toBe(delivery.id);
  });

  it("B's events never reach A's endpoint", async () => {
    const bEndpoint = await createEndpoint(b.api, {
      url: receiver.url("/tenant-b"),
      eventTypes: ["contact.created"],
    });
    const bDelivery = await deliveredContact(b.api, bEndpoint.id, "Tenant B Contact");
    // Fan-out writes every endpoint's message for an event at once: B's is there, so
    // A's would be too if it were going to be.
    const aPage = await a.api.get(`/v1/webhook-endpoints/${endpoint.id}/deliveries`);
    expect(aPage.body.data.map((d: any) => d.eventId)).not.toContain(bDelivery.eventId);
    expect(
      receiver
        .requests("/tenant-a")
        .map((r) => (r.json as any)?.data?.contact?.name)
        .filter(Boolean),
    ).not.toContain("Tenant B Contact");
  });
});

describe("catalogue and OpenAPI", () => {
  it("GET /v1/event-types includes webhook_endpoint.disabled", async () => {
    const res = await admin.get("/v1/event-types");
    expect(res.status).toBe(200);
    const types = res.body.data.map((e: any) => e.type);
    expect(types).toContain("webhook_endpoint.disabled");
    expect(res.body.data.find((e: any) => e.type === "webhook_endpoint.disabled")).toMatchObject({
      description: expect.any(String),
      example: { type: "webhook_endpoint.disabled" },
    });
  });

  it("the OpenAPI document lists every webhook path and method", async () => {
    const res = await client(t.app).get("/openapi.json");
    expect(res.status).toBe(200);
    const paths = res.body.paths as Record<string, Record<string, unknown>>;
    const expected: [string, string[]][] = [
      ["/v1/webhook-endpoints", ["get", "post"]],
      ["/v1/webhook-endpoints/{id}", ["delete", "get", "patch"]],
      ["/v1/webhook-endpoints/{id}/enable", ["post"]],
      ["/v1/webhook-endpoints/{id}/rotate-secret", ["post"]],
      ["/v1/webhook-endpoints/{id}/deliveries", ["get"]],
      ["/v1/webhook-endpoints/{id}/recover", ["post"]],
      ["/v1/webhook-deliveries/{id}", ["get"]],
      ["/v1/webhook-deliveries/{id}/retry", ["post"]],
    ];
    for (const [path, methods] of expected) {
      expect(Object.keys(paths), path).toContain(path);
      for (const method of methods)
        expect(Object.keys(paths[path]!), `${method} ${path}`).toContain(method);
    }
    const create = paths["/v1/webhook-endpoints"]!["post"] as any;
    expect(Object.keys(create.responses)).toEqual(expect.arrayContaining(["201", "422"]));
  });
});
