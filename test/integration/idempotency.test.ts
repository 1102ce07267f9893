import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../support/test-app.ts";
import { client, type JsonResponse } from "../support/http.ts";
import { countRows, expectError, expectInvalid, snapshot } from "../support/api-assertions.ts";

const ADMIN_TOKEN = "idempotency-admin-token-0123456789";

let t: TestApp;
let api: ReturnType<typeof client>;
let other: ReturnType<typeof client>;

let n = 0;
const uniqueKey = (label: string) => `${label}-${++n}-${Math.random().toString(36).slice(2, 10)}`;
const idem = (key: string) => ({ "idempotency-key": key });

/** The ids of live contacts carrying a tag, through the API of the given project. */
const tagged = async (c: ReturnType<typeof client>, tag: string) => {
  const res = await c.get(`/v1/contacts?tag=${encodeURIComponent(tag)}&limit=200`);
  expect(res.status).toBe(200);
  return res.body.data.map((x: any) => x.id) as string[];
};

const replayed = (res: JsonResponse) => res.headers["idempotent-replayed"];

beforeAll(async () => {
  t = await createTestApp({ ADMIN_TOKEN });
  api = client(t.app, t.adminKey);
  const project = await client(t.app, ADMIN_TOKEN).post("/v1/projects", { name: "Other" });
  expect(project.status).toBe(201);
  other = client(t.app, project.body.apiKey);
});
afterAll(async () => t?.close());

describe("Idempotency-Key on POST /v1/contacts", () => {
  it("a repeat returns the first status and body, marked as replayed, and creates one row", async () => {
    const key = uniqueKey("create");
    const body = { name: "Idem Once", phone: "+55 11 95000-0001", tags: ["idem-once"] };
    const first = await api.post("/v1/contacts", body, idem(key));
    expect(first.status).toBe(201);
    expect(replayed(first)).toBeUndefined();

    const second = await api.post("/v1/contacts", body, idem(key));
    expect(second.status).toBe(201);
    expect(second.body).toEqual(first.body);
    expect(replayed(second)).toBe("true");
    const third = await api.post("/v1/contacts", body, idem(key));
    expect(third.body).toEqual(first.body);
    expect(replayed(third)).toBe("true");

    expect(await tagged(api, "idem-once")).toEqual([first.body.id]);
    // Each answer still has its own request id.
    expect(second.headers["x-request-id"]).not.toBe(first.headers["x-request-id"]);
  });

  it("without a key, the same body creates twice (only the key deduplicates)", async () => {
    const body = { name: "No Key", tags: ["idem-nokey"] };
    expect((await api.post("/v1/contacts", body)).status).toBe(201);
    expect((await api.post("/v1/contacts", body)).status).toBe(201);
    expect(await tagged(api, "idem-nokey")).toHaveLength(2);
  });

  it("the same key with a different body answers 422 IDEMPOTENCY_KEY_REUSED and writes nothing", async () => {
    const key = uniqueKey("reuse");
    const first = await api.post(
      "/v1/contacts",
      { name: "Reuse A", tags: ["idem-reuse"] },
      idem(key),
    );
    expect(first.status).toBe(201);
    const before = await snapshot(t.app, "contacts");
    const res = await api.post(
      "/v1/contacts",
      { name: "Reuse B", tags: ["idem-reuse"] },
      idem(key),
    );
    expectError(res, 422, "IDEMPOTENCY_KEY_REUSED");
    expect(replayed(res)).toBeUndefined();
    // The same key on another route is a different request too.
    const elsewhere = await api.post("/v1/api-keys", { name: "x", role: "agent" }, idem(key));
    expectError(elsewhere, 422, "IDEMPOTENCY_KEY_REUSED");
    expect(await snapshot(t.app, "contacts")).toBe(before);
    expect(await tagged(api, "idem-reuse")).toEqual([first.body.id]);
    // The original answer is still what the key replays.
    const again = await api.post(
      "/v1/contacts",
      { name: "Reuse A", tags: ["idem-reuse"] },
      idem(key),
    );
    expect(again.status).toBe(201);
    expect(again.body).toEqual(first.body);
  });

  it("keys are per project: the same key in another project is independent", async () => {
    const key = uniqueKey("shared");
    const body = { name: "Same Key", phone: "5511950000002", tags: ["idem-project"] };
    const mine = await api.post("/v1/contacts", body, idem(key));
    const theirs = await other.post("/v1/contacts", body, idem(key));
    expect(mine.status).toBe(201);
    expect(theirs.status).toBe(201);
    expect(replayed(theirs)).toBeUndefined();
    expect(theirs.body.id).not.toBe(mine.body.id);
    expect(await tagged(api, "idem-project")).toEqual([mine.body.id]);
    expect(await tagged(other, "idem-project")).toEqual([theirs.body.id]);
    // And a different body under that key in the other project is not a reuse here.
    const diff = await other.post("/v1/contacts", { name: "Different" }, idem(uniqueKey("x")));
    expect(diff.status).toBe(201);
    expect((await api.post("/v1/contacts", body, idem(key))).body).toEqual(mine.body);
    expect((await other.post("/v1/contacts", body, idem(key))).body).toEqual(theirs.body);
  });

  it("a replayed 409 stays a 409 even after the conflict is gone", async () => {
    const owner = await api.post("/v1/contacts", { name: "Owner", phone: "5511950000003" });
    expect(owner.status).toBe(201);
    const key = uniqueKey("conflict");
    const body = { name: "Late", phone: "5511950000003", tags: ["idem-409"] };
    const first = await api.post("/v1/contacts", body, idem(key));
    expectError(first, 409, "CONTACT_PHONE_TAKEN");

    expect((await api.delete(`/v1/contacts/${owner.body.id}`)).status).toBe(204);
    const second = await api.post("/v1/contacts", body, idem(key));
    expect(second.status).toBe(409);
    expect(second.body).toEqual(first.body);
    expect(replayed(second)).toBe("true");
    expect(await tagged(api, "idem-409")).toEqual([]);
    // A new key runs the request again, which now succeeds.
    const fresh = await api.post("/v1/contacts", body, idem(uniqueKey("conflict")));
    expect(fresh.status).toBe(201);
  });

  it("a replayed 400 stays the same answer", async () => {
    const key = uniqueKey("invalid");
    const body = { name: "Bad Phone", phone: "12" };
    const first = await api.post("/v1/contacts", body, idem(key));
    expectInvalid(first, "phone");
    const second = await api.post("/v1/contacts", body, idem(key));
    expect(second.status).toBe(400);
    expect(second.body).toEqual(first.body);

    // A schema-level 400 is answered the same way every time as well.
    const schemaKey = uniqueKey("schema");
    const a = await api.post("/v1/contacts", { name: 5 }, idem(schemaKey));
    const b = await api.post("/v1/contacts", { name: 5 }, idem(schemaKey));
    expectInvalid(a, "name");
    expect(b.status).toBe(400);
    expect({ ...b.body.error, requestId: "" }).toEqual({ ...a.body.error, requestId: "" });
    // ...and it does not burn the key: the corrected request runs.
    const fixed = await api.post(
      "/v1/contacts",
      { name: "Fixed", tags: ["idem-fixed"] },
      idem(schemaKey),
    );
    expect(fixed.status).toBe(201);
    expect(await tagged(api, "idem-fixed")).toEqual([fixed.body.id]);
  });

  it("a request refused by auth does not claim the key", async () => {
    const key = uniqueKey("auth");
    const body = { name: "After 401", tags: ["idem-auth"] };
    expectError(await client(t.app).post("/v1/contacts", body, idem(key)), 401, "UNAUTHORIZED");
    expectError(
      await client(t.app, "vtr_unknownKey000000000000000000000000000000").post(
        "/v1/contacts",
        body,
        idem(key),
      ),
      401,
      "UNAUTHORIZED",
    );
    const res = await api.post("/v1/contacts", body, idem(key));
    expect(res.status).toBe(201);
    expect(replayed(res)).toBeUndefined();
    expect(await tagged(api, "idem-auth")).toEqual([res.body.id]);
  });

  it("two concurrent requests with one key create exactly one contact", async () => {
    const key = uniqueKey("race");
    const body = { name: "Racer", phone: "5511950000004", tags: ["idem-race"] };
    const answers = await Promise.all([
      api.post("/v1/contacts", body, idem(key)),
      api.post("/v1/contacts", body, idem(key)),
    ]);
    const created = answers.filter((r) => r.status === 201 && replayed(r) === undefined);
    expect(created).toHaveLength(1);
    const winner = created[0] as JsonResponse;
    for (const r of answers) {
      if (r === winner) continue;
      if (r.status === 409) {
        expectError(r, 409, "IDEMPOTENCY_KEY_IN_PROGRESS");
        expect(r.headers["retry-after"]).toBeDefined();
      } else {
        expect(r.status).toBe(201);
        expect(replayed(r)).toBe("true");
        expect(r.body).toEqual(winner.body);
      }
    }
    expect(await tagged(api, "idem-race")).toEqual([winner.body.id]);
    const later = await api.post("/v1/contacts", body, idem(key));
    expect(later.status).toBe(201);
    expect(later.body).toEqual(winner.body);
    expect(replayed(later)).toBe("true");
  });

  it("many concurrent requests with one key still create exactly one contact", async () => {
    const key = uniqueKey("stampede");
    const body = { name: "Stampede", tags: ["idem-stampede"] };
    const answers = await Promise.all(
      Array.from({ length: 8 }, () => api.post("/v1/contacts", body, idem(key))),
    );
    const fresh = answers.filter((r) => r.status === 201 && replayed(r) === undefined);
    expect(fresh).toHaveLength(1);
    for (const r of answers) {
      expect([201, 409]).toContain(r.status);
      if (r.status === 409) expect(r.body.error.code).toBe("IDEMPOTENCY_KEY_IN_PROGRESS");
      else expect(r.body).toEqual(fresh[0]?.body);
    }
    expect(await tagged(api, "idem-stampede")).toHaveLength(1);
  });
});

describe("Idempotency-Key format", () => {
  it.each([
    ["300 characters", "k".repeat(300)],
    ["256 characters", "k".repeat(256)],
    ["a space", "has space"],
    ["empty", ""],
    ["non-ASCII", Buffer.from("chavé", "utf8").toString("latin1")],
  ])("a key with %s -> 400 naming the header, nothing written", async (_label, key) => {
    const contacts = await snapshot(t.app, "contacts");
    const keys = await countRows(t.app, "idempotency_keys");
    const res = await api.post(
      "/v1/contacts",
      { name: "Bad Key", tags: ["idem-badkey"] },
      idem(key),
    );
    expectInvalid(res, "headers.idempotency-key");
    expect(await snapshot(t.app, "contacts")).toBe(contacts);
    expect(await countRows(t.app, "idempotency_keys")).toBe(keys);
  });

  it("a key of 255 visible characters is accepted", async () => {
    const key = `${"k".repeat(250)}${String(Date.now()).slice(-5)}`;
    expect(key).toHaveLength(255);
    const body = { name: "Long Key", tags: ["idem-255"] };
    const first = await api.post("/v1/contacts", body, idem(key));
    expect(first.status).toBe(201);
    const second = await api.post("/v1/contacts", body, idem(key));
    expect(second.body).toEqual(first.body);
    expect(replayed(second)).toBe("true");
  });
});

describe("Idempotency-Key on other POST routes", () => {
  it("POST /v1/api-keys replays the answer without the key and creates one", async () => {
    const key = uniqueKey("apikey");
    const body = { name: "idem key", role: "readonly" };
    const first = await api.post("/v1/api-keys", body, idem(key));
    expect(first.status).toBe(201);
    expect(first.body.key).toMatch(/^vtr_/);
    const second = await api.post("/v1/api-keys", body, idem(key));
    expect(second.status).toBe(201);
    // The secret is shown once: never stored with the idempotency record, null on replay.
    expect(second.body).toEqual({ ...first.body, key: null });
    expect(replayed(second)).toBe("true");
    const stored = await t.app.deps.database.db
      .selectFrom("idempotency_keys")
      .select("response_body")
      .where("key", "=", key)
      .executeTakeFirstOrThrow();
    expect(JSON.stringify(stored.response_body)).not.toContain(first.body.key);
    const list = await api.get("/v1/api-keys");
    expect(list.body.data.filter((k: any) => k.name === "idem key")).toHaveLength(1);
  });

  it("POST /v1/projects with the ADMIN_TOKEN replays the same project", async () => {
    const admin = client(t.app, ADMIN_TOKEN);
    const key = uniqueKey("project");
    const before = await countRows(t.app, "projects");
    const first = await admin.post("/v1/projects", { name: "Idem Project" }, idem(key));
    expect(first.status).toBe(201);
    const second = await admin.post("/v1/projects", { name: "Idem Project" }, idem(key));
    expect(second.status).toBe(201);
    expect(second.body).toEqual({ ...first.body, apiKey: null });
    expect(replayed(second)).toBe("true");
    expect(await countRows(t.app, "projects")).toBe(before + 1);
    expectError(
      await admin.post("/v1/projects", { name: "Other Name" }, idem(key)),
      422,
      "IDEMPOTENCY_KEY_REUSED",
    );
    expect(await countRows(t.app, "projects")).toBe(before + 1);
  });
});
