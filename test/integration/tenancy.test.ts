import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../support/test-app.ts";
import { client } from "../support/http.ts";
import { countRows, expectError, snapshot } from "../support/api-assertions.ts";

const ADMIN_TOKEN = "tenancy-admin-token-0123456789";
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

let t: TestApp;
let admin: ReturnType<typeof client>;
let a: { project: any; key: string; api: ReturnType<typeof client> };
let b: { project: any; key: string; api: ReturnType<typeof client> };

async function newProject(name: string) {
  const res = await admin.post("/v1/projects", { name });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return {
    project: res.body.project,
    key: res.body.apiKey as string,
    api: client(t.app, res.body.apiKey),
  };
}

beforeAll(async () => {
  t = await createTestApp({ ADMIN_TOKEN });
  admin = client(t.app, ADMIN_TOKEN);
  a = await newProject("Project A");
  b = await newProject("Project B");
});
afterAll(async () => t?.close());

describe("POST /v1/projects", () => {
  it("creates a project with its own admin key", async () => {
    const before = await countRows(t.app, "projects");
    const res = await admin.post("/v1/projects", { name: "Project C" });
    expect(res.status).toBe(201);
    expect(Object.keys(res.body).sort()).toEqual(["apiKey", "project"]);
    expect(res.body.project).toEqual({
      id: expect.any(String),
      name: "Project C",
      settings: { defaultSessionTimeoutMinutes: 30 },
      createdAt: expect.stringMatching(ISO),
      updatedAt: expect.stringMatching(ISO),
    });
    expect(res.body.apiKey).toMatch(/^vtr_[A-Za-z0-9_-]{40,}$/);
    expect(await countRows(t.app, "projects")).toBe(before + 1);

    const own = client(t.app, res.body.apiKey);
    const project = await own.get("/v1/project");
    expect(project.status).toBe(200);
    expect(project.body).toEqual(res.body.project);
    const keys = await own.get("/v1/api-keys");
    expect(keys.status).toBe(200);
    expect(keys.body.data).toHaveLength(1);
    expect(keys.body.data[0]).toMatchObject({
      role: "admin",
      prefix: (res.body.apiKey as string).slice(0, 12),
    });
  });

  it("gives each project a distinct id and key, separate from the bootstrap project", async () => {
    expect(a.project.id).not.toBe(b.project.id);
    expect(a.key).not.toBe(b.key);
    expect((await a.api.get("/v1/project")).body.id).toBe(a.project.id);
    expect((await b.api.get("/v1/project")).body.id).toBe(b.project.id);
    const boot = await client(t.app, t.adminKey).get("/v1/project");
    expect(boot.status).toBe(200);
    expect([a.project.id, b.project.id]).not.toContain(boot.body.id);
  });

  it("answers 401 without the token or with a wrong one, and writes nothing", async () => {
    const before = await snapshot(t.app, "projects");
    for (const api of [
      client(t.app),
      client(t.app, "tenancy-admin-token-WRONG-000000"),
      client(t.app, ADMIN_TOKEN.toUpperCase()),
      client(t.app, a.key),
      client(t.app, t.adminKey),
    ]) {
      expectError(await api.post("/v1/projects", { name: "Nope" }), 401, "UNAUTHORIZED");
      // The admin token is checked before the body.
      expectError(await api.post("/v1/projects", { bogus: true }), 401, "UNAUTHORIZED");
    }
    expect(await snapshot(t.app, "projects")).toBe(before);
  });

  it("the ADMIN_TOKEN is not an API key", async () => {
    expectError(await admin.get("/v1/contacts"), 401, "UNAUTHORIZED");
    expectError(await admin.get("/v1/project"), 401, "UNAUTHORIZED");
  });
});

describe("contact isolation", () => {
  let bContact: any;
  let bOther: any;

  beforeAll(async () => {
    const res = await b.api.post("/v1/contacts", {
      name: "Bea From B",
      phone: "+55 11 97000-0001",
      email: "bea@b.example",
      tags: ["b-only", "shared-tag"],
      customFields: { tier: "b" },
      externalId: "ext-shared",
    });
    expect(res.status).toBe(201);
    bContact = res.body;
    bOther = (await b.api.post("/v1/contacts", { name: "Bob From B", tags: ["shared-tag"] })).body;
    const mine = await a.api.post("/v1/contacts", { name: "Alice From A", tags: ["shared-tag"] });
    expect(mine.status).toBe(201);
  });

  it("GET, PATCH and DELETE with another project's id answer 404 and change nothing", async () => {
    const before = await snapshot(t.app, "contacts");
    expectError(await a.api.get(`/v1/contacts/${bContact.id}`), 404, "CONTACT_NOT_FOUND");
    expectError(
      await a.api.patch(`/v1/contacts/${bContact.id}`, {
        name: "Hijacked",
        customFields: { tier: null },
      }),
      404,
      "CONTACT_NOT_FOUND",
    );
    expectError(await a.api.delete(`/v1/contacts/${bContact.id}`), 404, "CONTACT_NOT_FOUND");
    expectError(await a.api.delete(`/v1/contacts/${bOther.id}`), 404, "CONTACT_NOT_FOUND");
    // The bootstrap project's admin key is no different.
    const boot = client(t.app, t.adminKey);
    expectError(await boot.get(`/v1/contacts/${bContact.id}`), 404, "CONTACT_NOT_FOUND");
    expectError(await boot.delete(`/v1/contacts/${bContact.id}`), 404, "CONTACT_NOT_FOUND");

    expect(await snapshot(t.app, "contacts")).toBe(before);
    const still = await b.api.get(`/v1/contacts/${bContact.id}`);
    expect(still.status).toBe(200);
    expect(still.body).toEqual(bContact);
  });

  it("the 404 for another project's id is the same as for an id that never existed", async () => {
    const foreign = await a.api.get(`/v1/contacts/${bContact.id}`);
    const missing = await a.api.get(`/v1/contacts/01890000-0000-7000-8000-000000000000`);
    expect(foreign.status).toBe(missing.status);
    expect({ ...foreign.body.error, requestId: "" }).toEqual({
      ...missing.body.error,
      requestId: "",
    });
  });

  it("lists and every filter never show another project's rows", async () => {
    const bIds = [bContact.id, bOther.id];
    const queries = [
      "",
      "limit=200",
      "q=Bea",
      "q=From",
      "q=bea%40b.example",
      "q=5511970000001",
      "phone=%2B55%2011%2097000-0001",
      "phone=5511970000001",
      "email=bea%40b.example",
      "tag=b-only",
      "tag=shared-tag",
      "createdAfter=2000-01-01T00:00:00Z",
      `createdBefore=${encodeURIComponent(new Date(Date.now() + 86_400_000).toISOString())}`,
    ];
    for (const query of queries) {
      const res = await a.api.get(`/v1/contacts?${query}`);
      expect(res.status, query).toBe(200);
      for (const c of res.body.data) expect(bIds, query).not.toContain(c.id);
    }
    const shared = await a.api.get("/v1/contacts?tag=shared-tag");
    expect(shared.body.data.map((c: any) => c.name)).toEqual(["Alice From A"]);
    const bShared = await b.api.get("/v1/contacts?tag=shared-tag");
    expect(bShared.body.data.map((c: any) => c.id)).toEqual([bOther.id, bContact.id]);
  });

  it("a cursor from another project's list does not reveal its rows", async () => {
    const page = await b.api.get("/v1/contacts?limit=1");
    expect(page.body.nextCursor).toEqual(expect.any(String));
    const res = await a.api.get(
      `/v1/contacts?limit=200&cursor=${encodeURIComponent(page.body.nextCursor)}`,
    );
    expect(res.status).toBe(200);
    for (const c of res.body.data) expect([bContact.id, bOther.id]).not.toContain(c.id);
  });

  it("the same phone and externalId may exist in both projects", async () => {
    const res = await a.api.post("/v1/contacts", {
      name: "Same Phone In A",
      phone: "5511970000001",
      externalId: "ext-shared",
    });
    expect(res.status).toBe(201);
    expect(res.body.phone).toBe(bContact.phone);
    expect(res.body.id).not.toBe(bContact.id);
    expect(
      (await a.api.get("/v1/contacts?phone=5511970000001")).body.data.map((c: any) => c.id),
    ).toEqual([res.body.id]);
    expect(
      (await b.api.get("/v1/contacts?phone=5511970000001")).body.data.map((c: any) => c.id),
    ).toEqual([bContact.id]);
    // Still unique within a project.
    expectError(
      await a.api.post("/v1/contacts", { name: "Dup", phone: "+55 11 97000 0001" }),
      409,
      "CONTACT_PHONE_TAKEN",
    );
    expectError(
      await b.api.post("/v1/contacts", { name: "Dup", externalId: "ext-shared" }),
      409,
      "CONTACT_EXTERNAL_ID_TAKEN",
    );
  });

  it("deleting in one project leaves the other's contact with the same phone alone", async () => {
    const aCopy = (await a.api.get("/v1/contacts?phone=5511970000001")).body.data[0];
    expect((await a.api.delete(`/v1/contacts/${aCopy.id}`)).status).toBe(204);
    expect((await b.api.get(`/v1/contacts/${bContact.id}`)).body).toEqual(bContact);
    expect((await b.api.get("/v1/contacts?phone=5511970000001")).body.data).toHaveLength(1);
  });
});

describe("project and key isolation", () => {
  it("PATCH /v1/project changes only the caller's project", async () => {
    const bBefore = (await b.api.get("/v1/project")).body;
    const res = await a.api.patch("/v1/project", {
      name: "Project A renamed",
      settings: { defaultSessionTimeoutMinutes: 90 },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      id: a.project.id,
      name: "Project A renamed",
      settings: { defaultSessionTimeoutMinutes: 90 },
    });
    expect((await b.api.get("/v1/project")).body).toEqual(bBefore);
  });

  it("API key lists are per project and another project's key id answers 404", async () => {
    const extra = await b.api.post("/v1/api-keys", { name: "b agent", role: "agent" });
    expect(extra.status).toBe(201);
    const aKeys = (await a.api.get("/v1/api-keys")).body.data.map((k: any) => k.id);
    const bKeys = (await b.api.get("/v1/api-keys")).body.data.map((k: any) => k.id);
    expect(bKeys).toContain(extra.body.apiKey.id);
    expect(aKeys.filter((id: string) => bKeys.includes(id))).toEqual([]);

    const before = await snapshot(t.app, "api_keys");
    expectError(
      await a.api.delete(`/v1/api-keys/${extra.body.apiKey.id}`),
      404,
      "API_KEY_NOT_FOUND",
    );
    for (const id of bKeys)
      expectError(await a.api.delete(`/v1/api-keys/${id}`), 404, "API_KEY_NOT_FOUND");
    expect(await snapshot(t.app, "api_keys")).toBe(before);
    expect((await client(t.app, extra.body.key).get("/v1/contacts")).status).toBe(200);
    expect((await b.api.get("/v1/project")).status).toBe(200);
  });

  it("a key only ever sees its own project", async () => {
    const created = await b.api.post("/v1/api-keys", { name: "b reader", role: "readonly" });
    const reader = client(t.app, created.body.key);
    expect((await reader.get("/v1/project")).body.id).toBe(b.project.id);
    const ids = (await reader.get("/v1/contacts?limit=200")).body.data.map((c: any) => c.id);
    const bIds = (await b.api.get("/v1/contacts?limit=200")).body.data.map((c: any) => c.id);
    expect(ids).toEqual(bIds);
  });
});

describe("without ADMIN_TOKEN", () => {
  let plain: TestApp;
  beforeAll(async () => {
    plain = await createTestApp();
  });
  afterAll(async () => plain?.close());

  it("POST /v1/projects answers 403 ADMIN_DISABLED whatever the credentials", async () => {
    const before = await snapshot(plain.app, "projects");
    for (const key of [undefined, ADMIN_TOKEN, plain.adminKey, "x".repeat(32)]) {
      const api = client(plain.app, key);
      expectError(await api.post("/v1/projects", { name: "Nope" }), 403, "ADMIN_DISABLED");
    }
    expect(await snapshot(plain.app, "projects")).toBe(before);
    expect(await countRows(plain.app, "projects")).toBe(1);
  });
});
