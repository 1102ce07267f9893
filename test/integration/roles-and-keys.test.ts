import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashApiKey } from "../../src/services/api-keys.ts";
import { createTestApp, type TestApp } from "../support/test-app.ts";
import { client, type JsonResponse } from "../support/http.ts";
import { expectError, expectInvalid, snapshot } from "../support/api-assertions.ts";

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

let t: TestApp;
let admin: ReturnType<typeof client>;
let contactId: string;

async function newKey(role: "admin" | "agent" | "readonly", name = `${role} key`) {
  const res = await admin.post("/v1/api-keys", { name, role });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return {
    id: res.body.apiKey.id as string,
    key: res.body.key as string,
    api: client(t.app, res.body.key),
  };
}

/** Writable state, without last_used_at (touched in the background). */
async function state() {
  const keys = await t.app.deps.database.db
    .selectFrom("api_keys")
    .select(["id", "name", "role", "revoked_at"])
    .orderBy("id")
    .execute();
  return [
    await snapshot(t.app, "projects"),
    await snapshot(t.app, "contacts"),
    JSON.stringify(keys),
  ].join("\n");
}

function expectForbidden(res: JsonResponse, requiredRole: string, role: string) {
  expectError(res, 403, "FORBIDDEN");
  expect(res.body.error.details).toEqual({ requiredRole, role });
}

beforeAll(async () => {
  t = await createTestApp();
  admin = client(t.app, t.adminKey);
  const c = await admin.post("/v1/contacts", { name: "Shared Contact", phone: "5511960000001" });
  expect(c.status).toBe(201);
  contactId = c.body.id;
});
afterAll(async () => t?.close());

describe("API keys", () => {
  it("POST /v1/api-keys shows the key once, with a vtr_ prefix", async () => {
    const res = await admin.post("/v1/api-keys", { name: "ci deploy", role: "agent" });
    expect(res.status).toBe(201);
    expect(Object.keys(res.body).sort()).toEqual(["apiKey", "key"]);
    expect(res.body.key).toMatch(/^vtr_[A-Za-z0-9_-]{40,}$/);
    expect(res.body.apiKey).toEqual({
      id: expect.any(String),
      name: "ci deploy",
      role: "agent",
      prefix: res.body.key.slice(0, 12),
      createdAt: expect.stringMatching(ISO),
      lastUsedAt: null,
    });
    const again = await admin.post("/v1/api-keys", { name: "ci deploy", role: "agent" });
    expect(again.body.key).not.toBe(res.body.key);
    expect(again.body.apiKey.id).not.toBe(res.body.apiKey.id);
  });

  it("GET /v1/api-keys lists keys without the secret or its hash", async () => {
    const created = await newKey("readonly", "secret check");
    // Use it so that lastUsedAt may be filled in.
    expect((await created.api.get("/v1/project")).status).toBe(200);
    const res = await admin.get("/v1/api-keys");
    expect(res.status).toBe(200);
    expect(Object.keys(res.body).sort()).toEqual(["data", "nextCursor"]);
    expect(res.body.nextCursor).toBeNull();
    const listed = res.body.data.find((k: any) => k.id === created.id);
    expect(listed).toMatchObject({
      name: "secret check",
      role: "readonly",
      prefix: created.key.slice(0, 12),
    });
    for (const item of res.body.data)
      expect(Object.keys(item).sort()).toEqual([
        "createdAt",
        "id",
        "lastUsedAt",
        "name",
        "prefix",
        "role",
      ]);
    const text = JSON.stringify(res.body);
    expect(text).not.toContain(created.key);
    expect(text).not.toContain(created.key.slice(12));
    expect(text).not.toContain(hashApiKey(created.key));
    expect(text).not.toContain(hashApiKey(t.adminKey));
    expect(text).not.toContain(t.adminKey);
  });

  it("stores only a hash of the key", async () => {
    const created = await newKey("agent", "hash check");
    const row = await t.app.deps.database.db
      .selectFrom("api_keys")
      .selectAll()
      .where("id", "=", created.id)
      .executeTakeFirstOrThrow();
    expect(row.key_hash).toBe(hashApiKey(created.key));
    expect(JSON.stringify(row)).not.toContain(created.key);
    expect(JSON.stringify(row)).not.toContain(created.key.slice(12));
  });

  it("rejects an unknown role, a blank name and unknown fields, creating nothing", async () => {
    const before = await state();
    expectInvalid(await admin.post("/v1/api-keys", { name: "x", role: "owner" }), "role");
    expectInvalid(await admin.post("/v1/api-keys", { name: "", role: "agent" }), "name");
    expectInvalid(
      await admin.post("/v1/api-keys", { name: "x".repeat(101), role: "agent" }),
      "name",
    );
    expectInvalid(
      await admin.post("/v1/api-keys", { name: "x", role: "agent", projectId: "other" }),
      "projectId",
    );
    expect(await state()).toBe(before);
  });

  it("DELETE /v1/api-keys/:id revokes: the key then answers 401 and leaves the list", async () => {
    const doomed = await newKey("admin", "doomed");
    expect((await doomed.api.get("/v1/contacts")).status).toBe(200);
    const res = await admin.delete(`/v1/api-keys/${doomed.id}`);
    expect(res.status).toBe(204);
    expect(res.body).toBeUndefined();

    expectError(await doomed.api.get("/v1/contacts"), 401, "UNAUTHORIZED");
    expectError(await doomed.api.get("/v1/project"), 401, "UNAUTHORIZED");
    expectError(await doomed.api.post("/v1/contacts", { name: "x" }), 401, "UNAUTHORIZED");
    const list = await admin.get("/v1/api-keys");
    expect(list.body.data.map((k: any) => k.id)).not.toContain(doomed.id);
    const row = await t.app.deps.database.db
      .selectFrom("api_keys")
      .select("revoked_at")
      .where("id", "=", doomed.id)
      .executeTakeFirstOrThrow();
    expect(row.revoked_at).toBeInstanceOf(Date);

    expectError(await admin.delete(`/v1/api-keys/${doomed.id}`), 404, "API_KEY_NOT_FOUND");
  });

  it("DELETE of an unknown key id answers 404 and revokes nothing", async () => {
    const before = await state();
    expectError(
      await admin.delete("/v1/api-keys/01890000-0000-7000-8000-000000000000"),
      404,
      "API_KEY_NOT_FOUND",
    );
    expectError(await admin.delete(`/v1/api-keys/${contactId}`), 404, "API_KEY_NOT_FOUND");
    expect(await state()).toBe(before);
  });

  it("an admin key can revoke itself and is refused right after", async () => {
    const self = await newKey("admin", "self");
    expect((await self.api.delete(`/v1/api-keys/${self.id}`)).status).toBe(204);
    expectError(await self.api.get("/v1/api-keys"), 401, "UNAUTHORIZED");
    expect((await admin.get("/v1/api-keys")).status).toBe(200);
  });
});

describe("readonly role", () => {
  let ro: Awaited<ReturnType<typeof newKey>>;
  beforeAll(async () => {
    ro = await newKey("readonly");
  });

  it("reads contacts and the project", async () => {
    const list = await ro.api.get("/v1/contacts");
    expect(list.status).toBe(200);
    expect(list.body.data.map((c: any) => c.id)).toContain(contactId);
    const one = await ro.api.get(`/v1/contacts/${contactId}`);
    expect(one.status).toBe(200);
    expect(one.body.name).toBe("Shared Contact");
    expect((await ro.api.get("/v1/contacts?phone=5511960000001")).body.data).toHaveLength(1);
    expect((await ro.api.get("/v1/project")).status).toBe(200);
  });

  it("every write answers 403 FORBIDDEN and writes nothing", async () => {
    const before = await state();
    const other = await newKey("agent", "target");
    const mid = await state();
    expectForbidden(await ro.api.post("/v1/contacts", { name: "Nope" }), "agent", "readonly");
    expectForbidden(
      await ro.api.patch(`/v1/contacts/${contactId}`, { name: "Nope" }),
      "agent",
      "readonly",
    );
    expectForbidden(await ro.api.delete(`/v1/contacts/${contactId}`), "agent", "readonly");
    expectForbidden(await ro.api.patch("/v1/project", { name: "Nope" }), "admin", "readonly");
    expectForbidden(
      await ro.api.post("/v1/api-keys", { name: "n", role: "admin" }),
      "admin",
      "readonly",
    );
    expectForbidden(await ro.api.delete(`/v1/api-keys/${other.id}`), "admin", "readonly");
    expectForbidden(await ro.api.delete(`/v1/api-keys/${ro.id}`), "admin", "readonly");
    expectForbidden(await ro.api.get("/v1/api-keys"), "admin", "readonly");
    expect(await state()).toBe(mid);
    expect(mid).not.toBe(before);
    expect((await admin.get(`/v1/contacts/${contactId}`)).body.name).toBe("Shared Contact");
  });

  it("the role is checked before the body: a bad body still answers 403", async () => {
    expectForbidden(await ro.api.post("/v1/contacts", { bogus: 1 }), "agent", "readonly");
    expectForbidden(await ro.api.post("/v1/contacts", "{not json"), "agent", "readonly");
    expectForbidden(await ro.api.patch("/v1/project", {}), "admin", "readonly");
  });
});

describe("agent role", () => {
  let agent: Awaited<ReturnType<typeof newKey>>;
  beforeAll(async () => {
    agent = await newKey("agent");
  });

  it("creates, updates, lists and deletes contacts", async () => {
    const created = await agent.api.post("/v1/contacts", {
      name: "By Agent",
      phone: "5511960000002",
    });
    expect(created.status).toBe(201);
    const patched = await agent.api.patch(`/v1/contacts/${created.body.id}`, { tags: ["handled"] });
    expect(patched.status).toBe(200);
    expect(patched.body.tags).toEqual(["handled"]);
    const listed = await agent.api.get("/v1/contacts?tag=handled");
    expect(listed.body.data.map((c: any) => c.id)).toEqual([created.body.id]);
    expect((await agent.api.delete(`/v1/contacts/${created.body.id}`)).status).toBe(204);
    expectError(await admin.get(`/v1/contacts/${created.body.id}`), 404, "CONTACT_NOT_FOUND");
  });

  it("reads the project but cannot change it or manage keys", async () => {
    expect((await agent.api.get("/v1/project")).status).toBe(200);
    const before = await state();
    expectForbidden(
      await agent.api.patch("/v1/project", { settings: { defaultSessionTimeoutMinutes: 10 } }),
      "admin",
      "agent",
    );
    expectForbidden(await agent.api.get("/v1/api-keys"), "admin", "agent");
    expectForbidden(
      await agent.api.post("/v1/api-keys", { name: "escalate", role: "admin" }),
      "admin",
      "agent",
    );
    expectForbidden(await agent.api.delete(`/v1/api-keys/${agent.id}`), "admin", "agent");
    expect(await state()).toBe(before);
  });
});

describe("admin role", () => {
  it("may create keys of every role, which then work with their own rights", async () => {
    for (const role of ["admin", "agent", "readonly"] as const) {
      const k = await newKey(role, `${role} made by admin`);
      expect((await k.api.get("/v1/contacts")).status).toBe(200);
      const write = await k.api.post("/v1/contacts", { name: `Made by ${role}` });
      expect(write.status).toBe(role === "readonly" ? 403 : 201);
    }
  });
});

describe("project settings", () => {
  it("GET /v1/project returns the project with its settings", async () => {
    const res = await admin.get("/v1/project");
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      id: expect.any(String),
      name: "Default",
      settings: { defaultSessionTimeoutMinutes: 30 },
      createdAt: expect.stringMatching(ISO),
      updatedAt: expect.stringMatching(ISO),
    });
  });

  it.each([1, 1440, 720])("PATCH accepts defaultSessionTimeoutMinutes=%i", async (minutes) => {
    const res = await admin.patch("/v1/project", {
      settings: { defaultSessionTimeoutMinutes: minutes },
    });
    expect(res.status).toBe(200);
    expect(res.body.settings.defaultSessionTimeoutMinutes).toBe(minutes);
    expect((await admin.get("/v1/project")).body).toEqual(res.body);
  });

  it.each([0, 1441, -1, 1.5, "60", null])(
    "PATCH refuses defaultSessionTimeoutMinutes=%j with 400 and keeps the old value",
    async (minutes) => {
      const before = (await admin.get("/v1/project")).body;
      const res = await admin.patch("/v1/project", {
        settings: { defaultSessionTimeoutMinutes: minutes },
      });
      expectInvalid(res, "settings.defaultSessionTimeoutMinutes");
      expect((await admin.get("/v1/project")).body).toEqual(before);
    },
  );

  it("PATCH renames the project and advances updatedAt; bad names are refused", async () => {
    const before = (await admin.get("/v1/project")).body;
    const res = await admin.patch("/v1/project", { name: "Renamed" });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: before.id, name: "Renamed", settings: before.settings });
    expect(res.body.updatedAt >= before.updatedAt).toBe(true);
    expect(res.body.createdAt).toBe(before.createdAt);
    const after = (await admin.get("/v1/project")).body;
    expectInvalid(await admin.patch("/v1/project", { name: "" }), "name");
    expectInvalid(await admin.patch("/v1/project", { name: "x".repeat(201) }), "name");
    expectInvalid(await admin.patch("/v1/project", { id: "other" }), "id");
    expectError(await admin.patch("/v1/project", {}), 400, "VALIDATION_FAILED");
    expect((await admin.get("/v1/project")).body).toEqual(after);
  });
});
