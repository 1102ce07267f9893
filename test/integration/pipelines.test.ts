import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../support/test-app.ts";
import { client } from "../support/http.ts";
import { expectError, expectInvalid } from "../support/api-assertions.ts";

const ADMIN_TOKEN = "pipelines-suite-admin-token-0123456789";
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const PIPELINE_KEYS = ["createdAt", "id", "name", "sessionTimeoutMinutes", "statuses", "updatedAt"];
const MISSING = "01900000-0000-7000-8000-000000000000";

let t: TestApp;
let api: ReturnType<typeof client>;

beforeAll(async () => {
  t = await createTestApp({ ADMIN_TOKEN });
  api = client(t.app, t.adminKey);
});
afterAll(async () => t?.close());

async function create(body: Record<string, unknown>) {
  const res = await api.post("/v1/pipelines", body);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

async function addStatus(id: string, body: Record<string, unknown>) {
  const res = await api.post(`/v1/pipelines/${id}/statuses`, body);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

describe("pipelines", () => {
  it("creates, gets and patches a pipeline", async () => {
    const created = await create({ name: " Sales ", sessionTimeoutMinutes: 15 });
    expect(Object.keys(created).sort()).toEqual(PIPELINE_KEYS);
    expect(created).toMatchObject({ name: "Sales", sessionTimeoutMinutes: 15, statuses: [] });
    expect(created.createdAt).toMatch(ISO);

    const got = await api.get(`/v1/pipelines/${created.id}`);
    expect(got.status).toBe(200);
    expect(got.body).toEqual(created);

    const patched = await api.patch(`/v1/pipelines/${created.id}`, { name: "Sales BR" });
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    expect(patched.body).toMatchObject({ name: "Sales BR", sessionTimeoutMinutes: 15 });

    const cleared = await api.patch(`/v1/pipelines/${created.id}`, {
      sessionTimeoutMinutes: null,
    });
    expect(cleared.body).toMatchObject({ name: "Sales BR", sessionTimeoutMinutes: null });
    expect((await create({ name: "No timeout" })).sessionTimeoutMinutes).toBeNull();
  });

  it("adds statuses at the end by default or at a position, in order", async () => {
    const { id } = await create({ name: "Funnel" });
    await addStatus(id, { name: "New", type: "open" });
    await addStatus(id, { name: "Won", type: "won", color: "#22c55e" });
    await addStatus(id, { name: "Lost", type: "lost", position: 99 });
    const pipeline = await addStatus(id, { name: "Qualified", type: "open", position: 1 });
    expect(pipeline.statuses.map((s: any) => [s.name, s.type, s.position, s.color])).toEqual([
      ["New", "open", 0, null],
      ["Qualified", "open", 1, null],
      ["Won", "won", 2, "#22c55e"],
      ["Lost", "lost", 3, null],
    ]);
    expect(Object.keys(pipeline.statuses[0]).sort()).toEqual([
      "color",
      "id",
      "name",
      "position",
      "type",
    ]);
    expect((await api.get(`/v1/pipelines/${id}`)).body.statuses).toEqual(pipeline.statuses);
  });

  it("status names are unique per pipeline (409), whatever their case", async () => {
    const { id } = await create({ name: "Support" });
    await addStatus(id, { name: "Open", type: "open" });
    const taken = await api.post(`/v1/pipelines/${id}/statuses`, { name: "open", type: "open" });
    expectError(taken, 409, "PIPELINE_STATUS_TAKEN");
    expect((await api.get(`/v1/pipelines/${id}`)).body.statuses).toHaveLength(1);
    // Another pipeline may use the same name.
    const other = await create({ name: "Support 2" });
    await addStatus(other.id, { name: "Open", type: "open" });
  });

  it("lists newest first and pages with a cursor", async () => {
    const ids = [
      (await create({ name: "P1" })).id,
      (await create({ name: "P2" })).id,
      (await create({ name: "P3" })).id,
    ];
    const first = await api.get("/v1/pipelines?limit=2");
    expect(first.status).toBe(200);
    expect(first.body.data.map((p: any) => p.id)).toEqual([ids[2], ids[1]]);
    expect(first.body.nextCursor).toEqual(expect.any(String));
    const second = await api.get(
      `/v1/pipelines?limit=2&cursor=${encodeURIComponent(first.body.nextCursor)}`,
    );
    expect(second.body.data[0].id).toBe(ids[0]);
    const all = await api.get("/v1/pipelines?limit=200");
    const funnel = all.body.data.find((p: any) => p.name === "Funnel");
    expect(funnel.statuses).toHaveLength(4);
    expectInvalid(await api.get("/v1/pipelines?cursor=bogus"), "cursor");
  });

  it("rejects invalid input with 400 and names the fields", async () => {
    const { id } = await create({ name: "Valid" });
    expectInvalid(await api.post("/v1/pipelines", {}), "name");
    expectInvalid(await api.post("/v1/pipelines", { name: "   " }), "name");
    expectInvalid(
      await api.post("/v1/pipelines", { name: "x", sessionTimeoutMinutes: 0 }),
      "sessionTimeoutMinutes",
    );
    expectInvalid(
      await api.post("/v1/pipelines", { name: "x", sessionTimeoutMinutes: 1441 }),
      "sessionTimeoutMinutes",
    );
    expectInvalid(await api.post("/v1/pipelines", { name: "x", bogus: 1 }), "bogus");
    expectError(await api.patch(`/v1/pipelines/${id}`, {}), 400, "VALIDATION_FAILED");
    expectInvalid(
      await api.patch(`/v1/pipelines/${id}`, { sessionTimeoutMinutes: 2.5 }),
      "sessionTimeoutMinutes",
    );
    const statuses = `/v1/pipelines/${id}/statuses`;
    expectInvalid(await api.post(statuses, { name: "A", type: "closed" }), "type");
    expectInvalid(await api.post(statuses, { type: "open" }), "name");
    expectInvalid(await api.post(statuses, { name: "A", type: "open", color: "red" }), "color");
    expectInvalid(await api.post(statuses, { name: "A", type: "open", position: -1 }), "position");
    expectInvalid(await api.get("/v1/pipelines/not-a-uuid"), "id");
    expect((await api.get(`/v1/pipelines/${id}`)).body.statuses).toEqual([]);
  });

  it("another project's pipeline answers 404 like one that never existed", async () => {
    const admin = client(t.app, ADMIN_TOKEN);
    const res = await admin.post("/v1/projects", { name: "Other project" });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const other = client(t.app, res.body.apiKey);
    const mine = await create({ name: "Mine", sessionTimeoutMinutes: 7 });

    for (const id of [mine.id, MISSING]) {
      expectError(await other.get(`/v1/pipelines/${id}`), 404, "PIPELINE_NOT_FOUND");
      expectError(
        await other.patch(`/v1/pipelines/${id}`, { name: "Stolen" }),
        404,
        "PIPELINE_NOT_FOUND",
      );
      expectError(
        await other.post(`/v1/pipelines/${id}/statuses`, { name: "X", type: "open" }),
        404,
        "PIPELINE_NOT_FOUND",
      );
    }
    expect((await other.get("/v1/pipelines")).body).toEqual({ data: [], nextCursor: null });
    expect((await api.get(`/v1/pipelines/${mine.id}`)).body).toEqual(mine);
  });

  it("readonly keys read, only admin keys write", async () => {
    const { id } = await create({ name: "Roles" });
    const keyOf = async (role: string) => {
      const res = await api.post("/v1/api-keys", { name: `${role} pipelines`, role });
      expect(res.status).toBe(201);
      return client(t.app, res.body.key);
    };
    const readonly = await keyOf("readonly");
    const agent = await keyOf("agent");
    expect((await readonly.get("/v1/pipelines")).status).toBe(200);
    expect((await readonly.get(`/v1/pipelines/${id}`)).status).toBe(200);
    for (const key of [readonly, agent]) {
      expectError(await key.post("/v1/pipelines", { name: "Nope" }), 403, "FORBIDDEN");
      expectError(await key.patch(`/v1/pipelines/${id}`, { name: "Nope" }), 403, "FORBIDDEN");
      expectError(
        await key.post(`/v1/pipelines/${id}/statuses`, { name: "Nope", type: "open" }),
        403,
        "FORBIDDEN",
      );
    }
    expectError(await client(t.app).get("/v1/pipelines"), 401, "UNAUTHORIZED");
    expect((await api.get(`/v1/pipelines/${id}`)).body).toMatchObject({
      name: "Roles",
      statuses: [],
    });
  });
});
