import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../support/test-app.ts";
import { client, type JsonResponse } from "../support/http.ts";
import { badFields, expectError, expectInvalid, snapshot } from "../support/api-assertions.ts";

const ADMIN_TOKEN = "bad-input-admin-token-0123456789";
const LIMIT = 2048;

let t: TestApp;
let api: ReturnType<typeof client>;
let contactId: string;
let revokedKey: string;
let revokedKeyId: string;
let otherKeyId: string;

type Method = "GET" | "POST" | "PATCH" | "DELETE";

/** A raw request: any payload, any headers, nothing added but what is given. */
async function raw(
  method: Method,
  url: string,
  options: { headers?: Record<string, string>; payload?: string } = {},
): Promise<JsonResponse> {
  const res = await t.app.server.inject({
    method,
    url,
    headers: options.headers ?? {},
    ...(options.payload === undefined ? {} : { payload: options.payload }),
  });
  let body: any;
  try {
    body = res.body ? JSON.parse(res.body) : undefined;
  } catch {
    body = res.body;
  }
  return { status: res.statusCode, headers: res.headers, body };
}

/** Everything the API could have written, except last_used_at (touched asynchronously). */
async function state(): Promise<string> {
  const keys = await t.app.deps.database.db
    .selectFrom("api_keys")
    .select(["id", "project_id", "name", "role", "key_hash", "revoked_at"])
    .orderBy("id")
    .execute();
  return [
    await snapshot(t.app, "projects"),
    JSON.stringify(keys),
    await snapshot(t.app, "contacts"),
    await snapshot(t.app, "idempotency_keys"),
  ].join("\n");
}

interface MutatingRoute {
  method: "POST" | "PATCH";
  url: () => string;
  /** The bearer credential the route needs. */
  credential: () => string;
  valid: () => Record<string, unknown>;
  /** A body whose every field has the wrong type, and the fields that must be named. */
  wrongTypes: Record<string, unknown>;
  wrongFields: string[];
}

const mutating: Record<string, MutatingRoute> = {
  "POST /v1/contacts": {
    method: "POST",
    url: () => "/v1/contacts",
    credential: () => t.adminKey,
    valid: () => ({ name: "Valid Contact" }),
    wrongTypes: {
      name: 5,
      phone: 5511999990000,
      email: ["a@b.co"],
      tags: "vip",
      customFields: [1],
      externalId: false,
    },
    wrongFields: ["name", "phone", "email", "tags", "customFields", "externalId"],
  },
  "PATCH /v1/contacts/:id": {
    method: "PATCH",
    url: () => `/v1/contacts/${contactId}`,
    credential: () => t.adminKey,
    valid: () => ({ name: "Patched Contact" }),
    wrongTypes: { name: 1, email: true, tags: [1, "ok"], externalId: 5, customFields: "x" },
    wrongFields: ["name", "email", "tags.0", "externalId", "customFields"],
  },
  "POST /v1/api-keys": {
    method: "POST",
    url: () => "/v1/api-keys",
    credential: () => t.adminKey,
    valid: () => ({ name: "valid key", role: "readonly" }),
    wrongTypes: { name: 1, role: "superuser" },
    wrongFields: ["name", "role"],
  },
  "PATCH /v1/project": {
    method: "PATCH",
    url: () => "/v1/project",
    credential: () => t.adminKey,
    valid: () => ({ settings: { defaultSessionTimeoutMinutes: 45 } }),
    wrongTypes: { name: ["x"], settings: { defaultSessionTimeoutMinutes: "30" } },
    wrongFields: ["name", "settings.defaultSessionTimeoutMinutes"],
  },
  "POST /v1/projects": {
    method: "POST",
    url: () => "/v1/projects",
    credential: () => ADMIN_TOKEN,
    valid: () => ({ name: "Valid Project" }),
    wrongTypes: { name: 42 },
    wrongFields: ["name"],
  },
};

const routeNames = Object.keys(mutating);
const routeOf = (name: string) => mutating[name] as MutatingRoute;

/** Sends a raw body to a mutating route with its credential; asserts nothing was written. */
async function sendUnchanged(
  route: MutatingRoute,
  payload: string | undefined,
  headers: Record<string, string>,
  credential: string | undefined = route.credential(),
) {
  const before = await state();
  const res = await raw(route.method, route.url(), {
    headers: { ...(credential ? { authorization: `Bearer ${credential}` } : {}), ...headers },
    ...(payload === undefined ? {} : { payload }),
  });
  expect(res.status).toBeLessThan(500);
  expect(await state()).toBe(before);
  return res;
}

const JSON_TYPE = { "content-type": "application/json" };

beforeAll(async () => {
  t = await createTestApp({ BODY_LIMIT_BYTES: String(LIMIT), ADMIN_TOKEN });
  api = client(t.app, t.adminKey);
  const contact = await api.post("/v1/contacts", { name: "Existing", phone: "+5511900000001" });
  expect(contact.status).toBe(201);
  contactId = contact.body.id;
  const revoked = await api.post("/v1/api-keys", { name: "to revoke", role: "admin" });
  expect(revoked.status).toBe(201);
  revokedKey = revoked.body.key;
  revokedKeyId = revoked.body.apiKey.id;
  expect((await client(t.app, revokedKey).get("/v1/contacts")).status).toBe(200);
  expect((await api.delete(`/v1/api-keys/${revokedKeyId}`)).status).toBe(204);
  const other = await api.post("/v1/api-keys", { name: "other", role: "agent" });
  otherKeyId = other.body.apiKey.id;
});
afterAll(async () => t?.close());

describe.each(routeNames)("%s with a bad body", (name) => {
  const route = () => routeOf(name);

  it.each([
    ["truncated", '{"name": '],
    ["single quotes", "{'name': 'x'}"],
    ["trailing comma", '{"name": "x",}'],
    ["bare word", "hello"],
    ["empty", ""],
    ["prototype pollution", '{"name": "x", "__proto__": {"admin": true}}'],
    ["constructor pollution", '{"name": "x", "constructor": {"prototype": {"admin": true}}}'],
  ])("malformed JSON (%s) -> 400 MALFORMED_JSON, nothing written", async (_label, payload) => {
    const res = await sendUnchanged(route(), payload, JSON_TYPE);
    expectError(res, 400, "MALFORMED_JSON");
  });

  it("wrong types -> 400 VALIDATION_FAILED naming each bad field, nothing written", async () => {
    const res = await sendUnchanged(route(), JSON.stringify(route().wrongTypes), JSON_TYPE);
    expectInvalid(res, ...route().wrongFields);
    for (const f of res.body.error.details.fields) expect(f.field).toMatch(/^body(\.|$)/);
  });

  it.each([
    ["array", "[]"],
    ["string", '"name"'],
    ["number", "42"],
    ["null", "null"],
  ])("a JSON %s instead of an object -> 400 VALIDATION_FAILED", async (_label, payload) => {
    const res = await sendUnchanged(route(), payload, JSON_TYPE);
    expectError(res, 400, "VALIDATION_FAILED");
  });

  it("unknown fields -> 400 naming them, nothing written", async () => {
    const body = { ...route().valid(), sneaky: 1, isAdmin: true };
    const res = await sendUnchanged(route(), JSON.stringify(body), JSON_TYPE);
    expectInvalid(res, "sneaky", "isAdmin");
    const sneaky = res.body.error.details.fields.find((f: any) => f.field.endsWith("sneaky"));
    expect(sneaky.message).toMatch(/not an allowed field/);
  });

  it("a body over BODY_LIMIT_BYTES -> 413 PAYLOAD_TOO_LARGE, nothing written", async () => {
    const valid = route().valid();
    const key = Object.keys(valid)[0] as string;
    const big = JSON.stringify({ ...valid, [key]: "x".repeat(LIMIT + 100) });
    expect(Buffer.byteLength(big)).toBeGreaterThan(LIMIT);
    const res = await sendUnchanged(route(), big, JSON_TYPE);
    expectError(res, 413, "PAYLOAD_TOO_LARGE");
    // Too large is decided before parsing: an oversized malformed body is a 413 as well.
    const junk = await sendUnchanged(route(), "{".repeat(LIMIT + 1), JSON_TYPE);
    expectError(junk, 413, "PAYLOAD_TOO_LARGE");
  });

  it.each([
    "text/plain",
    "text/plain; charset=utf-8",
    "application/xml",
    "text/xml",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/octet-stream",
  ])("content-type %s -> 415 UNSUPPORTED_MEDIA_TYPE, nothing written", async (type) => {
    const res = await sendUnchanged(route(), JSON.stringify(route().valid()), {
      "content-type": type,
    });
    expectError(res, 415, "UNSUPPORTED_MEDIA_TYPE");
  });

  it("a body without any content-type -> 415, nothing written", async () => {
    const res = await sendUnchanged(route(), JSON.stringify(route().valid()), {});
    expectError(res, 415, "UNSUPPORTED_MEDIA_TYPE");
  });

  it("a NUL character in a text field -> 400 naming the field, nothing written", async () => {
    const valid = route().valid();
    const key = Object.keys(valid)[0] as string;
    const value = valid[key];
    const withNul =
      typeof value === "string" ? { ...valid, [key]: "a\u0000b" } : { ...valid, name: "a\u0000b" };
    const res = await sendUnchanged(route(), JSON.stringify(withNul), JSON_TYPE);
    expectError(res, 400, "VALIDATION_FAILED");
    expect(badFields(res)).toContain(typeof value === "string" ? key : "name");
  });

  it.each([
    ["no Authorization header", undefined],
    ["an unknown key", "vtr_thisKeyDoesNotExist0000000000000000000000"],
  ])("bad body with %s -> 401 before any body check", async (_label, credential) => {
    const r = route();
    for (const [payload, headers] of [
      ["{not json", JSON_TYPE],
      [JSON.stringify(r.wrongTypes), JSON_TYPE],
      [JSON.stringify({ ...r.valid(), unknown: 1 }), JSON_TYPE],
      [JSON.stringify(r.valid()), { "content-type": "application/xml" }],
      [JSON.stringify({ name: "x".repeat(LIMIT * 2) }), JSON_TYPE],
    ] as const) {
      const res = await sendUnchanged(r, payload, headers, credential ?? "");
      expectError(res, 401, "UNAUTHORIZED");
    }
  });

  it("the same request with a valid body succeeds (the checks above are not vacuous)", async () => {
    const before = await state();
    const r = route();
    const res = await raw(r.method, r.url(), {
      headers: { authorization: `Bearer ${r.credential()}`, ...JSON_TYPE },
      payload: JSON.stringify(r.valid()),
    });
    expect([200, 201]).toContain(res.status);
    expect(await state()).not.toBe(before);
    // application/json with parameters is JSON too.
    const charset = await raw(r.method, r.url(), {
      headers: {
        authorization: `Bearer ${r.credential()}`,
        "content-type": "application/json; charset=utf-8",
      },
      payload: JSON.stringify(r.valid()),
    });
    expect([200, 201]).toContain(charset.status);
  });
});

describe("specific body rules", () => {
  it("PATCH routes refuse an empty object and a missing body", async () => {
    for (const url of [`/v1/contacts/${contactId}`, "/v1/project"]) {
      const before = await state();
      expectError(await api.patch(url, {}), 400, "VALIDATION_FAILED");
      const none = await raw("PATCH", url, {
        headers: { authorization: `Bearer ${t.adminKey}` },
      });
      expectError(none, 400, "VALIDATION_FAILED");
      expect(await state()).toBe(before);
    }
  });

  it("POST routes refuse a missing required field", async () => {
    const before = await state();
    expectInvalid(await api.post("/v1/contacts", {}), "name");
    expectInvalid(await api.post("/v1/api-keys", { name: "no role" }), "role");
    expectInvalid(await api.post("/v1/api-keys", { role: "agent" }), "name");
    const admin = client(t.app, ADMIN_TOKEN);
    expectInvalid(await admin.post("/v1/projects", {}), "name");
    expectInvalid(await admin.post("/v1/projects", { name: "" }), "name");
    expect(await state()).toBe(before);
  });

  it("nested unknown fields are refused too", async () => {
    const before = await state();
    expectInvalid(
      await api.patch("/v1/project", { settings: { defaultSessionTimeoutMinutes: 5, x: 1 } }),
      "settings.x",
    );
    expect(await state()).toBe(before);
  });
});

/** Every /v1 route that takes an API key. */
const keyedRoutes: { method: Method; url: () => string; body?: () => unknown }[] = [
  { method: "GET", url: () => "/v1/contacts" },
  { method: "POST", url: () => "/v1/contacts", body: () => ({ name: "Nope" }) },
  { method: "GET", url: () => `/v1/contacts/${contactId}` },
  { method: "PATCH", url: () => `/v1/contacts/${contactId}`, body: () => ({ name: "Nope" }) },
  { method: "DELETE", url: () => `/v1/contacts/${contactId}` },
  { method: "GET", url: () => "/v1/project" },
  { method: "PATCH", url: () => "/v1/project", body: () => ({ name: "Nope" }) },
  { method: "GET", url: () => "/v1/api-keys" },
  { method: "POST", url: () => "/v1/api-keys", body: () => ({ name: "n", role: "admin" }) },
  { method: "DELETE", url: () => `/v1/api-keys/${otherKeyId}` },
];

describe("authentication on every /v1 route", () => {
  const credentials: [string, () => Record<string, string>][] = [
    ["no Authorization header", () => ({})],
    ["an empty Authorization header", () => ({ authorization: "" })],
    ["Basic auth", () => ({ authorization: `Basic ${Buffer.from("u:p").toString("base64")}` })],
    ["Bearer without a key", () => ({ authorization: "Bearer" })],
    ["Bearer with a blank key", () => ({ authorization: "Bearer    " })],
    ["a key without the scheme", () => ({ authorization: t.adminKey })],
    ["two tokens", () => ({ authorization: `Bearer ${t.adminKey} extra` })],
    ["another scheme", () => ({ authorization: `Token ${t.adminKey}` })],
    [
      "an unknown key",
      () => ({ authorization: "Bearer vtr_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" }),
    ],
    ["a key without the vtr_ prefix", () => ({ authorization: `Bearer ${t.adminKey.slice(4)}` })],
    ["a truncated key", () => ({ authorization: `Bearer ${t.adminKey.slice(0, -1)}` })],
    ["a very long key", () => ({ authorization: `Bearer vtr_${"a".repeat(5000)}` })],
    ["a revoked key", () => ({ authorization: `Bearer ${revokedKey}` })],
    ["the ADMIN_TOKEN", () => ({ authorization: `Bearer ${ADMIN_TOKEN}` })],
  ];

  it.each(credentials)("%s -> 401 UNAUTHORIZED everywhere, nothing written", async (_l, auth) => {
    for (const route of keyedRoutes) {
      const before = await state();
      const body = route.body?.();
      const res = await raw(route.method, route.url(), {
        headers: { ...auth(), ...(body === undefined ? {} : JSON_TYPE) },
        ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
      });
      expectError(res, 401, "UNAUTHORIZED");
      expect(await state()).toBe(before);
    }
  });

  it("POST /v1/projects needs the exact ADMIN_TOKEN", async () => {
    for (const authorization of [
      undefined,
      `Bearer ${ADMIN_TOKEN}x`,
      `Bearer ${ADMIN_TOKEN.slice(0, -1)}`,
      `Bearer ${t.adminKey}`,
      `Basic ${ADMIN_TOKEN}`,
      ADMIN_TOKEN,
    ]) {
      const before = await state();
      const res = await raw("POST", "/v1/projects", {
        headers: { ...(authorization ? { authorization } : {}), ...JSON_TYPE },
        payload: JSON.stringify({ name: "Nope" }),
      });
      expectError(res, 401, "UNAUTHORIZED");
      expect(await state()).toBe(before);
    }
  });

  it("the lower-case scheme and extra spaces are accepted", async () => {
    const res = await raw("GET", "/v1/project", {
      headers: { authorization: `bearer   ${t.adminKey}` },
    });
    expect(res.status).toBe(200);
  });
});

describe("path parameters", () => {
  const malformed = [
    "not-a-uuid",
    "123",
    "01890000-0000-7000-8000-00000000000",
    "' or 1=1--",
    "%20",
  ];

  it.each(malformed)("a malformed :id (%s) -> 400 naming id on every :id route", async (id) => {
    const before = await state();
    const routes: [Method, string, unknown?][] = [
      ["GET", `/v1/contacts/${encodeURIComponent(id)}`],
      ["PATCH", `/v1/contacts/${encodeURIComponent(id)}`, { name: "x" }],
      ["DELETE", `/v1/contacts/${encodeURIComponent(id)}`],
      ["DELETE", `/v1/api-keys/${encodeURIComponent(id)}`],
    ];
    for (const [method, url, body] of routes) {
      const res = await raw(method, url, {
        headers: { authorization: `Bearer ${t.adminKey}`, ...(body ? JSON_TYPE : {}) },
        ...(body ? { payload: JSON.stringify(body) } : {}),
      });
      expectInvalid(res, "id");
    }
    expect(await state()).toBe(before);
  });

  it("a bad %-escape or an over-long segment is a 400 in the error shape", async () => {
    for (const url of ["/v1/contacts/%zz", `/v1/contacts/${"a".repeat(300)}`]) {
      const res = await raw("GET", url, {
        headers: { authorization: `Bearer ${t.adminKey}`, "x-request-id": "bad-url-1" },
      });
      expect(res.status).toBe(400);
      expectError(res, 400, res.body.error.code);
      expect(res.headers["x-request-id"]).toBe("bad-url-1");
    }
  });
});

describe("query strings", () => {
  it.each([
    "limit=abc",
    "limit=1&limit=2",
    "limit=99999999999999999999",
    "cursor[]=x",
    "createdAfter=2024-02-30",
    `q=${"x".repeat(201)}`,
    "q=a%00b",
    "email=a%00b",
    "unknown=1",
  ])("GET /v1/contacts?%s -> 400 VALIDATION_FAILED", async (query) => {
    const res = await api.get(`/v1/contacts?${query}`);
    expectError(res, 400, "VALIDATION_FAILED");
    expect(badFields(res).length).toBeGreaterThan(0);
  });
});

describe("unknown routes", () => {
  it.each<[Method, string]>([
    ["GET", "/v1/nope"],
    ["POST", "/v1/nope"],
    ["GET", "/"],
    ["GET", "/v2/contacts"],
    ["DELETE", "/v1/contacts"],
    ["POST", `/v1/contacts/01890000-0000-7000-8000-000000000000`],
    ["GET", "/v1/contacts/x/y/z"],
  ])("%s %s -> 404 ROUTE_NOT_FOUND with or without a key", async (method, url) => {
    const auths: Record<string, string>[] = [{}, { authorization: `Bearer ${t.adminKey}` }];
    for (const auth of auths) {
      const res = await raw(method, url, { headers: auth });
      expectError(res, 404, "ROUTE_NOT_FOUND");
      expect(res.body.error.message).toContain(url.split("?")[0]);
    }
  });
});

describe("x-request-id", () => {
  const requests: [string, () => Promise<JsonResponse>][] = [
    [
      "a success",
      () => raw("GET", "/v1/contacts", { headers: { authorization: `Bearer ${t.adminKey}` } }),
    ],
    ["a public route", () => raw("GET", "/health/live")],
    ["a 401", () => raw("GET", "/v1/contacts")],
    ["a 404 route", () => raw("GET", "/v1/nope")],
    [
      "a 400",
      () =>
        raw("GET", "/v1/contacts?limit=0", { headers: { authorization: `Bearer ${t.adminKey}` } }),
    ],
    [
      "a 415",
      () =>
        raw("POST", "/v1/contacts", {
          headers: { authorization: `Bearer ${t.adminKey}`, "content-type": "text/plain" },
          payload: "hi",
        }),
    ],
  ];

  it.each(requests)("%s carries a generated x-request-id, unique per request", async (_l, send) => {
    const a = await send();
    const b = await send();
    for (const res of [a, b]) {
      expect(typeof res.headers["x-request-id"]).toBe("string");
      expect((res.headers["x-request-id"] as string).length).toBeGreaterThan(8);
      if (res.status >= 400) expect(res.body.error.requestId).toBe(res.headers["x-request-id"]);
    }
    expect(a.headers["x-request-id"]).not.toBe(b.headers["x-request-id"]);
  });

  it.each(["abc-123", "trace.id:part_2", "01890000-0000-7000-8000-000000000000", "x".repeat(128)])(
    "echoes a sane incoming id (%s) on successes and errors",
    async (id) => {
      const ok = await raw("GET", "/v1/contacts", {
        headers: { authorization: `Bearer ${t.adminKey}`, "x-request-id": id },
      });
      expect(ok.status).toBe(200);
      expect(ok.headers["x-request-id"]).toBe(id);
      const denied = await raw("GET", "/v1/contacts", { headers: { "x-request-id": id } });
      expect(denied.headers["x-request-id"]).toBe(id);
      expect(denied.body.error.requestId).toBe(id);
      const missing = await raw("GET", "/v1/nope", { headers: { "x-request-id": id } });
      expect(missing.body.error.requestId).toBe(id);
    },
  );

  it.each([
    ["300 characters", "x".repeat(300)],
    ["129 characters", "y".repeat(129)],
    ["spaces", "has some spaces"],
    ["a quote and angle brackets", `"><script>`],
    ["non-ASCII", "idé"],
    ["empty", ""],
  ])("replaces an insane incoming id (%s)", async (_label, id) => {
    const auths: Record<string, string>[] = [{ authorization: `Bearer ${t.adminKey}` }, {}];
    for (const auth of auths) {
      const res = await raw("GET", "/v1/contacts", {
        headers: { ...auth, "x-request-id": Buffer.from(id, "utf8").toString("latin1") },
      });
      const sent = res.headers["x-request-id"] as string;
      expect(typeof sent).toBe("string");
      expect(sent).not.toBe(id);
      expect(sent).toMatch(/^[\w.:-]{1,128}$/);
      if (res.status >= 400) expect(res.body.error.requestId).toBe(sent);
    }
  });
});

describe("4xx never become 500", () => {
  const liveContacts = async () =>
    (
      await t.app.deps.database.db
        .selectFrom("contacts")
        .select("id")
        .where("deleted_at", "is", null)
        .orderBy("id")
        .execute()
    ).map((r) => r.id);

  it("deeply nested bodies, odd values and huge numbers are answered below 500", async () => {
    const before = await liveContacts();
    const bodies = [
      `{"name":"x","customFields":${"[".repeat(500)}${"]".repeat(500)}}`,
      `{"name":"x","customFields":{"n":1e999}}`,
      JSON.stringify({ name: "x", tags: [null] }),
      JSON.stringify({ name: "\ud800x" }),
      JSON.stringify({ name: "x", customFields: { ["k".repeat(64)]: "v".repeat(2001) } }),
    ];
    for (const payload of bodies) {
      const res = await raw("POST", "/v1/contacts", {
        headers: { authorization: `Bearer ${t.adminKey}`, ...JSON_TYPE },
        payload,
      });
      expect(res.status, `${payload.slice(0, 40)} -> ${JSON.stringify(res.body)}`).toBeLessThan(
        500,
      );
      if (res.status >= 400) expectError(res, res.status, res.body.error.code);
      else expect((await api.delete(`/v1/contacts/${res.body.id}`)).status).toBe(204);
    }
    expect(await liveContacts()).toEqual(before);
  });
});
