import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../support/test-app.ts";
import { client } from "../support/http.ts";
import { expectError, expectInvalid } from "../support/api-assertions.ts";

let t: TestApp;
let api: ReturnType<typeof client>;

beforeAll(async () => {
  t = await createTestApp();
  api = client(t.app, t.adminKey);
});
afterAll(async () => t?.close());

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const CONTACT_KEYS = [
  "createdAt",
  "customFields",
  "email",
  "externalId",
  "firstInteractionAt",
  "id",
  "lastInteractionAt",
  "name",
  "phone",
  "tags",
  "updatedAt",
  "whatsapp",
];

let phoneCounter = 0;
/** A phone number no other test in this file uses (E.164 digits). */
const freshPhone = () => `55219${String(++phoneCounter).padStart(8, "0")}`;
const marker = () => `m${Math.random().toString(36).slice(2, 10)}`;

async function create(body: Record<string, unknown>) {
  const res = await api.post("/v1/contacts", body);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

/** Every page of a list, following nextCursor; returns the pages. */
async function walk(query: string, limit: number) {
  const pages: { data: any[]; nextCursor: string | null }[] = [];
  let cursor: string | null = null;
  do {
    const sep = query ? "&" : "";
    const url: string = `/v1/contacts?${query}${sep}limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
    const res = await api.get(url);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(Object.keys(res.body).sort()).toEqual(["data", "nextCursor"]);
    expect(res.body.data.length).toBeLessThanOrEqual(limit);
    pages.push(res.body);
    cursor = res.body.nextCursor;
    expect(pages.length).toBeLessThan(1000);
  } while (cursor !== null);
  return pages;
}

const listIds = async (query: string) => {
  const res = await api.get(`/v1/contacts?${query}`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return (res.body.data as { id: string }[]).map((c) => c.id);
};

describe("contacts", () => {
  it("creates a contact with a normalized phone and email", async () => {
    const res = await api.post("/v1/contacts", {
      name: "Ana Souza",
      phone: "+55 (11) 98888-0001",
      email: "Ana@Example.COM",
      tags: ["VIP", "vip ", "lead"],
      customFields: { plan: "gold", seats: 3 },
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      name: "Ana Souza",
      phone: "5511988880001",
      email: "ana@example.com",
      tags: ["vip", "lead"],
      customFields: { plan: "gold", seats: 3 },
      whatsapp: { wid: null, lid: null },
    });
    const got = await api.get(`/v1/contacts/${res.body.id}`);
    expect(got.status).toBe(200);
    expect(got.body).toEqual(res.body);
  });

  it("answers 409 for a second contact with the same phone in any format", async () => {
    await api.post("/v1/contacts", { name: "A", phone: "5511988880002" });
    const res = await api.post("/v1/contacts", { name: "B", phone: "+55 11 98888 0002" });
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe("CONTACT_PHONE_TAKEN");
  });
});

describe("create and get", () => {
  it("returns every field of the contact shape with defaults for a minimal contact", async () => {
    const res = await api.post("/v1/contacts", { name: "  Minimal Person  " });
    expect(res.status).toBe(201);
    expect(Object.keys(res.body).sort()).toEqual(CONTACT_KEYS);
    expect(res.body).toEqual({
      id: expect.stringMatching(UUID_V7),
      name: "Minimal Person",
      phone: null,
      email: null,
      tags: [],
      customFields: {},
      externalId: null,
      whatsapp: { wid: null, lid: null },
      firstInteractionAt: null,
      lastInteractionAt: null,
      createdAt: expect.stringMatching(ISO),
      updatedAt: expect.stringMatching(ISO),
    });
    expect(res.body.updatedAt).toBe(res.body.createdAt);
    const got = await api.get(`/v1/contacts/${res.body.id}`);
    expect(got.status).toBe(200);
    expect(got.body).toEqual(res.body);
  });

  it("stores every optional field", async () => {
    const phone = freshPhone();
    const ext = `crm-${marker()}`;
    const body = await create({
      name: "Full Person",
      phone,
      email: "full@example.com",
      tags: ["a", "b"],
      customFields: { plan: "gold", seats: 3, active: true, note: "x" },
      externalId: ext,
    });
    expect(body).toMatchObject({
      phone,
      email: "full@example.com",
      tags: ["a", "b"],
      customFields: { plan: "gold", seats: 3, active: true, note: "x" },
      externalId: ext,
    });
    expect((await api.get(`/v1/contacts/${body.id}`)).body).toEqual(body);
  });

  it("answers 404 CONTACT_NOT_FOUND for an id that does not exist", async () => {
    const id = "01890000-0000-7000-8000-000000000000";
    expectError(await api.get(`/v1/contacts/${id}`), 404, "CONTACT_NOT_FOUND");
    expectError(await api.patch(`/v1/contacts/${id}`, { name: "x" }), 404, "CONTACT_NOT_FOUND");
    expectError(await api.delete(`/v1/contacts/${id}`), 404, "CONTACT_NOT_FOUND");
  });

  it("rejects a missing or blank name and writes nothing", async () => {
    const before = await listIds("limit=200");
    expectInvalid(await api.post("/v1/contacts", { phone: freshPhone() }), "name");
    expectInvalid(await api.post("/v1/contacts", { name: "" }), "name");
    expectInvalid(await api.post("/v1/contacts", { name: "   " }), "name");
    expect(await listIds("limit=200")).toEqual(before);
  });
});

describe("phone normalization", () => {
  it.each([
    ["+55 (11) 97777-0001", "5511977770001"],
    ["5511977770002", "5511977770002"],
    ["0055 11 97777 0003", "5511977770003"],
    ["  +55.11.97777.0004  ", "5511977770004"],
    ["+1 (415) 555-0100", "14155550100"],
    ["+44 20 7946 0958", "442079460958"],
    ["+49 30 12345678", "493012345678"],
  ])("normalizes %j to %s", async (input, digits) => {
    const body = await create({ name: "Phone Format", phone: input });
    expect(body.phone).toBe(digits);
    const found = await api.get(`/v1/contacts?phone=${encodeURIComponent(digits)}`);
    expect(found.body.data.map((c: any) => c.id)).toEqual([body.id]);
  });

  it.each([
    "abc",
    "1234567",
    "+0 11 97777 0000",
    "5511977770000123456",
    "+55 11 9777x0000",
    "55-11-97777-0000#12",
    "++5511977770000",
    "",
    "5".repeat(41),
  ])("rejects %j with 400 naming phone and writes nothing", async (input) => {
    const before = await listIds("limit=200");
    const res = await api.post("/v1/contacts", { name: "Bad Phone", phone: input });
    expectInvalid(res, "phone");
    expect(await listIds("limit=200")).toEqual(before);
  });

  it("rejects an invalid phone on PATCH and keeps the old one", async () => {
    const phone = freshPhone();
    const c = await create({ name: "Keep Phone", phone });
    expectInvalid(await api.patch(`/v1/contacts/${c.id}`, { phone: "not a phone" }), "phone");
    expect((await api.get(`/v1/contacts/${c.id}`)).body).toEqual(c);
  });
});

describe("uniqueness", () => {
  it("keeps a phone unique per project in any format, and frees it after a soft delete", async () => {
    const phone = freshPhone();
    const first = await create({ name: "First", phone });
    const formatted = `+${phone.slice(0, 2)} (${phone.slice(2, 4)}) ${phone.slice(4, 9)}-${phone.slice(9)}`;
    const clash = await api.post("/v1/contacts", { name: "Second", phone: formatted });
    expectError(clash, 409, "CONTACT_PHONE_TAKEN");
    expect(await listIds(`phone=${phone}`)).toEqual([first.id]);

    const del = await api.delete(`/v1/contacts/${first.id}`);
    expect(del.status).toBe(204);
    const again = await create({ name: "Third", phone: formatted });
    expect(again.phone).toBe(phone);
    expect(await listIds(`phone=${phone}`)).toEqual([again.id]);
  });

  it("answers 409 when a PATCH takes another contact's phone", async () => {
    const a = await create({ name: "Owner", phone: freshPhone() });
    const b = await create({ name: "Taker", phone: freshPhone() });
    expectError(
      await api.patch(`/v1/contacts/${b.id}`, { phone: `+${a.phone}` }),
      409,
      "CONTACT_PHONE_TAKEN",
    );
    expect((await api.get(`/v1/contacts/${b.id}`)).body).toEqual(b);
    // Setting one's own phone again is not a conflict; null releases it.
    const same = await api.patch(`/v1/contacts/${a.id}`, { phone: a.phone });
    expect(same.status).toBe(200);
    const cleared = await api.patch(`/v1/contacts/${a.id}`, { phone: null });
    expect(cleared.status).toBe(200);
    expect(cleared.body.phone).toBeNull();
    const moved = await api.patch(`/v1/contacts/${b.id}`, { phone: a.phone });
    expect(moved.status).toBe(200);
    expect(moved.body.phone).toBe(a.phone);
  });

  it("keeps externalId unique per project, freed after delete or set to null", async () => {
    const ext = `ext-${marker()}`;
    const first = await create({ name: "Ext One", externalId: ext });
    const before = await listIds("limit=200");
    expectError(
      await api.post("/v1/contacts", { name: "Ext Two", externalId: ext }),
      409,
      "CONTACT_EXTERNAL_ID_TAKEN",
    );
    expect(await listIds("limit=200")).toEqual(before);

    const other = await create({ name: "Ext Three", externalId: `${ext}-b` });
    expectError(
      await api.patch(`/v1/contacts/${other.id}`, { externalId: ext }),
      409,
      "CONTACT_EXTERNAL_ID_TAKEN",
    );
    expect((await api.get(`/v1/contacts/${other.id}`)).body.externalId).toBe(`${ext}-b`);

    const released = await api.patch(`/v1/contacts/${first.id}`, { externalId: null });
    expect(released.status).toBe(200);
    expect(released.body.externalId).toBeNull();
    const took = await api.patch(`/v1/contacts/${other.id}`, { externalId: ext });
    expect(took.status).toBe(200);
    expect(took.body.externalId).toBe(ext);

    expect((await api.delete(`/v1/contacts/${other.id}`)).status).toBe(204);
    const reused = await create({ name: "Ext Four", externalId: ext });
    expect(reused.externalId).toBe(ext);
  });
});

describe("email and tags", () => {
  it("lower-cases and trims the email", async () => {
    const c = await create({ name: "Mail", email: "  Mixed.Case+Tag@Example.COM " });
    expect(c.email).toBe("mixed.case+tag@example.com");
    const patched = await api.patch(`/v1/contacts/${c.id}`, { email: "OTHER@EXAMPLE.ORG" });
    expect(patched.status).toBe(200);
    expect(patched.body.email).toBe("other@example.org");
    const cleared = await api.patch(`/v1/contacts/${c.id}`, { email: null });
    expect(cleared.body.email).toBeNull();
  });

  it.each(["not-an-email", "a@b", "two words@example.com", "@example.com", "ab", "x@-bad.com"])(
    "rejects the email %j with 400 naming email and writes nothing",
    async (email) => {
      const before = await listIds("limit=200");
      expectInvalid(await api.post("/v1/contacts", { name: "Bad Mail", email }), "email");
      expect(await listIds("limit=200")).toEqual(before);
    },
  );

  it("rejects an invalid email on PATCH and keeps the old one", async () => {
    const c = await create({ name: "Mail Keep", email: "keep@example.com" });
    expectInvalid(await api.patch(`/v1/contacts/${c.id}`, { email: "nope" }), "email");
    expect((await api.get(`/v1/contacts/${c.id}`)).body).toEqual(c);
  });

  it("reports every invalid field at once", async () => {
    const res = await api.post("/v1/contacts", { name: "Two Bad", phone: "x", email: "y@z" });
    expectInvalid(res, "phone", "email");
  });

  it("trims, lower-cases and de-duplicates tags, keeping first-seen order", async () => {
    const c = await create({ name: "Tags", tags: ["VIP", " vip", "Lead ", "lead", "b2b", "  "] });
    expect(c.tags).toEqual(["vip", "lead", "b2b"]);
    const patched = await api.patch(`/v1/contacts/${c.id}`, { tags: ["New", "NEW"] });
    expect(patched.body.tags).toEqual(["new"]);
    const emptied = await api.patch(`/v1/contacts/${c.id}`, { tags: [] });
    expect(emptied.body.tags).toEqual([]);
  });

  it("rejects tags that are not a list of short strings", async () => {
    expectInvalid(await api.post("/v1/contacts", { name: "T", tags: "vip" }), "tags");
    expectInvalid(await api.post("/v1/contacts", { name: "T", tags: [""] }), "tags.0");
    expectInvalid(await api.post("/v1/contacts", { name: "T", tags: ["x".repeat(65)] }), "tags.0");
    expectInvalid(
      await api.post("/v1/contacts", {
        name: "T",
        tags: Array.from({ length: 51 }, (_, i) => `t${i}`),
      }),
      "tags",
    );
  });
});

describe("patch", () => {
  it("changes only the fields sent and advances updatedAt", async () => {
    const c = await create({
      name: "Patch Me",
      phone: freshPhone(),
      email: "patch@example.com",
      tags: ["one"],
    });
    const res = await api.patch(`/v1/contacts/${c.id}`, { name: "  Patched  " });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ ...c, name: "Patched", updatedAt: res.body.updatedAt });
    expect(res.body.updatedAt >= c.updatedAt).toBe(true);
    expect(res.body.createdAt).toBe(c.createdAt);
    expect((await api.get(`/v1/contacts/${c.id}`)).body).toEqual(res.body);
  });

  it("merge-patches customFields: keys replaced or added, null removes, absent kept", async () => {
    const c = await create({
      name: "Custom",
      customFields: { plan: "gold", seats: 3, active: true, region: "sp" },
    });
    const res = await api.patch(`/v1/contacts/${c.id}`, {
      customFields: { seats: 5, plan: null, note: "renewal", missing: null },
    });
    expect(res.status).toBe(200);
    expect(res.body.customFields).toEqual({
      seats: 5,
      active: true,
      region: "sp",
      note: "renewal",
    });
    expect((await api.get(`/v1/contacts/${c.id}`)).body.customFields).toEqual({
      seats: 5,
      active: true,
      region: "sp",
      note: "renewal",
    });
    // A PATCH without customFields leaves them alone; an empty object changes nothing.
    await api.patch(`/v1/contacts/${c.id}`, { name: "Custom 2" });
    const unchanged = await api.patch(`/v1/contacts/${c.id}`, { customFields: {} });
    expect(unchanged.body.customFields).toEqual({
      seats: 5,
      active: true,
      region: "sp",
      note: "renewal",
    });
  });

  it("rejects customFields with nested values or bad keys", async () => {
    const c = await create({ name: "Custom Bad" });
    expectInvalid(
      await api.patch(`/v1/contacts/${c.id}`, { customFields: { nested: { a: 1 } } }),
      "customFields.nested",
    );
    const before = await listIds("limit=200");
    for (const key of ["bad key", "1starts-with-digit", "x".repeat(65), ""]) {
      const res = await api.post("/v1/contacts", { name: "X", customFields: { [key]: 1 } });
      expectInvalid(res, `customFields.${key}`);
    }
    expect(await listIds("limit=200")).toEqual(before);
    expectInvalid(
      await api.patch(`/v1/contacts/${c.id}`, { customFields: { "bad key": null } }),
      "customFields.bad key",
    );
    expect((await api.get(`/v1/contacts/${c.id}`)).body).toEqual(c);
  });

  it("answers 400 for an empty PATCH body and for unknown fields, changing nothing", async () => {
    const c = await create({ name: "Empty Patch" });
    expectError(await api.patch(`/v1/contacts/${c.id}`, {}), 400, "VALIDATION_FAILED");
    expectInvalid(await api.patch(`/v1/contacts/${c.id}`, { nickname: "x" }), "nickname");
    expectInvalid(await api.patch(`/v1/contacts/${c.id}`, { id: "x" }), "id");
    expectInvalid(
      await api.patch(`/v1/contacts/${c.id}`, { createdAt: "2020-01-01T00:00:00Z" }),
      "createdAt",
    );
    expectInvalid(await api.patch(`/v1/contacts/${c.id}`, { name: null }), "name");
    expect((await api.get(`/v1/contacts/${c.id}`)).body).toEqual(c);
  });
});

describe("soft delete", () => {
  it("answers 204 with no body, then 404 on get, patch and delete, and hides it from lists", async () => {
    const tag = marker();
    const phone = freshPhone();
    const c = await create({
      name: `Gone ${tag}`,
      phone,
      email: `${tag}@example.com`,
      tags: [tag],
    });
    const del = await api.delete(`/v1/contacts/${c.id}`);
    expect(del.status).toBe(204);
    expect(del.body).toBeUndefined();

    expectError(await api.get(`/v1/contacts/${c.id}`), 404, "CONTACT_NOT_FOUND");
    expectError(
      await api.patch(`/v1/contacts/${c.id}`, { name: "back" }),
      404,
      "CONTACT_NOT_FOUND",
    );
    expectError(await api.delete(`/v1/contacts/${c.id}`), 404, "CONTACT_NOT_FOUND");

    for (const query of [
      "limit=200",
      `q=${tag}`,
      `tag=${tag}`,
      `phone=${phone}`,
      `email=${tag}@example.com`,
    ]) {
      expect(await listIds(query), query).not.toContain(c.id);
    }
    // The row is kept (soft delete), only hidden.
    const row = await t.app.deps.database.db
      .selectFrom("contacts")
      .select(["id", "deleted_at"])
      .where("id", "=", c.id)
      .executeTakeFirstOrThrow();
    expect(row.deleted_at).toBeInstanceOf(Date);
  });
});

describe("list filters", () => {
  let m: string;
  let ana: any;
  let bruno: any;
  let carla: any;
  let dora: any;

  beforeAll(async () => {
    m = marker();
    ana = await create({
      name: `Ana ${m} Silva`,
      phone: "+55 (31) 91111-0001",
      email: `ana.${m}@example.com`,
      tags: [`${m}-vip`, "shared"],
    });
    bruno = await create({
      name: `Bruno ${m}`,
      phone: "5531911110002",
      email: `BRUNO.${m}@Example.com`,
      tags: [`${m}-vip`],
    });
    carla = await create({ name: `Carla ${m}`, email: `carla.${m}@example.net`, tags: ["shared"] });
    dora = await create({ name: "Dora Without Marker", phone: "5531911110004" });
  });

  it("q searches name, email and phone, case-insensitively", async () => {
    expect((await listIds(`q=${m}`)).sort()).toEqual([ana.id, bruno.id, carla.id].sort());
    expect(await listIds(`q=${encodeURIComponent(`ANA ${m.toUpperCase()}`)}`)).toEqual([ana.id]);
    expect(await listIds(`q=${encodeURIComponent(`carla.${m}@example.net`)}`)).toEqual([carla.id]);
    expect(await listIds(`q=dora%20without`)).toEqual([dora.id]);
    expect(await listIds(`q=${encodeURIComponent("(31) 91111-0004")}`)).toEqual([dora.id]);
    expect((await listIds(`q=3191111000`)).sort()).toEqual([ana.id, bruno.id, dora.id].sort());
  });

  it("q treats % and _ literally", async () => {
    expect(await listIds(`q=${encodeURIComponent("%")}`)).toEqual([]);
    expect(await listIds(`q=${encodeURIComponent(`Ana_${m}`)}`)).toEqual([]);
  });

  it("phone matches in any format; an invalid phone filter is a 400", async () => {
    expect(await listIds(`phone=${encodeURIComponent("+55 (31) 91111-0001")}`)).toEqual([ana.id]);
    expect(await listIds(`phone=${encodeURIComponent("0055 31 91111 0002")}`)).toEqual([bruno.id]);
    expect(await listIds(`phone=5531911110001`)).toEqual([ana.id]);
    expect(await listIds(`phone=5531911119999`)).toEqual([]);
    expectInvalid(await api.get(`/v1/contacts?phone=abc`), "phone");
  });

  it("email matches exactly, ignoring case", async () => {
    expect(await listIds(`email=${encodeURIComponent(`ANA.${m}@EXAMPLE.COM`)}`)).toEqual([ana.id]);
    expect(await listIds(`email=${encodeURIComponent(`bruno.${m}@example.com`)}`)).toEqual([
      bruno.id,
    ]);
    expect(await listIds(`email=${encodeURIComponent(`${m}@example.com`)}`)).toEqual([]);
  });

  it("tag matches the normalized tag", async () => {
    expect((await listIds(`tag=${m}-vip`)).sort()).toEqual([ana.id, bruno.id].sort());
    expect((await listIds(`tag=${m.toUpperCase()}-VIP`)).sort()).toEqual([ana.id, bruno.id].sort());
    expect(await listIds(`tag=${m}-none`)).toEqual([]);
  });

  it("filters combine with AND", async () => {
    expect(await listIds(`q=${m}&tag=shared`)).toEqual([ana.id, carla.id].sort().reverse());
    expect(await listIds(`tag=shared&phone=5531911110001`)).toEqual([ana.id]);
    expect(
      await listIds(`tag=${m}-vip&email=${encodeURIComponent(`carla.${m}@example.net`)}`),
    ).toEqual([]);
  });

  it("createdAfter and createdBefore bound the creation time (exclusive)", async () => {
    const mine = [ana, bruno, carla];
    const pivot = bruno.createdAt as string;
    const after = await listIds(`q=${m}&createdAfter=${encodeURIComponent(pivot)}`);
    expect(after.sort()).toEqual(
      mine
        .filter((c) => c.createdAt > pivot)
        .map((c) => c.id)
        .sort(),
    );
    const before = await listIds(`q=${m}&createdBefore=${encodeURIComponent(pivot)}`);
    expect(before.sort()).toEqual(
      mine
        .filter((c) => c.createdAt < pivot)
        .map((c) => c.id)
        .sort(),
    );

    const start = new Date(Date.parse(ana.createdAt) - 1).toISOString();
    const end = new Date(Date.parse(carla.createdAt) + 1).toISOString();
    const window = await listIds(
      `q=${m}&createdAfter=${encodeURIComponent(start)}&createdBefore=${encodeURIComponent(end)}`,
    );
    expect(window.sort()).toEqual(mine.map((c) => c.id).sort());
    expect(await listIds(`q=${m}&createdAfter=2999-01-01T00:00:00Z`)).toEqual([]);
    expect(await listIds(`q=${m}&createdBefore=2000-01-01T00:00:00Z`)).toEqual([]);
    // Any offset is accepted and compared as an instant.
    const offset = new Date(Date.parse(ana.createdAt) - 1).toISOString().replace("Z", "+00:00");
    expect((await listIds(`q=${m}&createdAfter=${encodeURIComponent(offset)}`)).sort()).toEqual(
      mine.map((c) => c.id).sort(),
    );
  });

  it("rejects malformed filters with 400 naming the field", async () => {
    expectInvalid(await api.get(`/v1/contacts?createdAfter=yesterday`), "createdAfter");
    expectInvalid(await api.get(`/v1/contacts?createdBefore=2024-13-45`), "createdBefore");
    expectInvalid(await api.get(`/v1/contacts?q=`), "q");
    expectInvalid(await api.get(`/v1/contacts?colour=red`), "colour");
  });
});

describe("pagination", () => {
  it("walks every page with limit=2: newest first, no duplicates, no gaps, null at the end", async () => {
    const tag = marker();
    const created: string[] = [];
    for (let i = 0; i < 5; i++) created.push((await create({ name: `Page ${i}`, tags: [tag] })).id);
    const pages = await walk(`tag=${tag}`, 2);
    expect(pages.map((p) => p.data.length)).toEqual([2, 2, 1]);
    expect(pages.slice(0, -1).every((p) => typeof p.nextCursor === "string")).toBe(true);
    expect(pages.at(-1)?.nextCursor).toBeNull();
    const ids = pages.flatMap((p) => p.data.map((c) => c.id));
    expect(ids).toEqual([...created].reverse());
  });

  it("ends with nextCursor null when the last page is exactly full", async () => {
    const tag = marker();
    for (let i = 0; i < 4; i++) await create({ name: `Exact ${i}`, tags: [tag] });
    const pages = await walk(`tag=${tag}`, 2);
    expect(pages.map((p) => p.data.length)).toEqual([2, 2]);
    expect(pages[1]?.nextCursor).toBeNull();
    const one = await walk(`tag=${tag}`, 4);
    expect(one.length).toBe(1);
    expect(one[0]?.nextCursor).toBeNull();
  });

  it("walks the whole unfiltered list without duplicates or gaps", async () => {
    const all = (await api.get("/v1/contacts?limit=200")).body.data.map((c: any) => c.id);
    expect(all.length).toBeGreaterThan(4);
    const ids = (await walk("", 2)).flatMap((p) => p.data.map((c) => c.id));
    expect(ids).toEqual(all);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort().reverse()).toEqual(ids);
  });

  it("a cursor stays valid when rows are deleted between pages", async () => {
    const tag = marker();
    const created: string[] = [];
    for (let i = 0; i < 5; i++) created.push((await create({ name: `Del ${i}`, tags: [tag] })).id);
    const first = await api.get(`/v1/contacts?tag=${tag}&limit=2`);
    expect(first.body.data.map((c: any) => c.id)).toEqual([created[4], created[3]]);
    await api.delete(`/v1/contacts/${created[2]}`);
    const second = await api.get(
      `/v1/contacts?tag=${tag}&limit=2&cursor=${encodeURIComponent(first.body.nextCursor)}`,
    );
    expect(second.status).toBe(200);
    expect(second.body.data.map((c: any) => c.id)).toEqual([created[1], created[0]]);
    expect(second.body.nextCursor).toBeNull();
  });

  it("defaults to 50 per page and accepts 1..200", async () => {
    const tag = marker();
    for (let i = 0; i < 52; i++) await create({ name: `Bulk ${i}`, tags: [tag] });
    const page = await api.get(`/v1/contacts?tag=${tag}`);
    expect(page.status).toBe(200);
    expect(page.body.data.length).toBe(50);
    expect(typeof page.body.nextCursor).toBe("string");
    const rest = await api.get(
      `/v1/contacts?tag=${tag}&cursor=${encodeURIComponent(page.body.nextCursor)}`,
    );
    expect(rest.body.data.length).toBe(2);
    expect(rest.body.nextCursor).toBeNull();
    expect((await api.get(`/v1/contacts?tag=${tag}&limit=200`)).body.data.length).toBe(52);
    expect((await api.get(`/v1/contacts?tag=${tag}&limit=1`)).body.data.length).toBe(1);
  });

  it.each(["0", "201", "-1", "abc", "1.5"])("rejects limit=%s with 400", async (limit) => {
    expectInvalid(await api.get(`/v1/contacts?limit=${limit}`), "limit");
  });

  it.each([
    ["garbage", "not-base64-json!"],
    ["base64 of text", Buffer.from("hello").toString("base64url")],
    [
      "an id that is not a uuid",
      Buffer.from(JSON.stringify({ id: "1 OR 1=1" })).toString("base64url"),
    ],
    ["a json array", Buffer.from("[1]").toString("base64url")],
    ["too long", "a".repeat(201)],
  ])("rejects a cursor that is %s with 400", async (_label, cursor) => {
    expectInvalid(await api.get(`/v1/contacts?cursor=${encodeURIComponent(cursor)}`), "cursor");
  });
});

describe("error field names", () => {
  it("names service-checked fields by request part, like schema errors", async () => {
    const created = await api.post("/v1/contacts", { name: "X", phone: "12" });
    expectError(created, 400, "VALIDATION_FAILED");
    expect(created.body.error.details.fields.map((f: any) => f.field)).toEqual(["body.phone"]);
    const listed = await api.get("/v1/contacts?phone=abc");
    expect(listed.body.error.details.fields.map((f: any) => f.field)).toEqual([
      "querystring.phone",
    ]);
    const cursor = await api.get("/v1/contacts?cursor=zzz");
    expect(cursor.body.error.details.fields.map((f: any) => f.field)).toEqual([
      "querystring.cursor",
    ]);
  });
});

describe("DELETE with an empty JSON body", () => {
  it("is accepted: some clients always send Content-Type: application/json", async () => {
    const created = await api.post("/v1/contacts", { name: "Empty body delete" });
    const res = await t.app.server.inject({
      method: "DELETE",
      url: `/v1/contacts/${created.body.id}`,
      headers: { authorization: `Bearer ${t.adminKey}`, "content-type": "application/json" },
    });
    expect(res.statusCode).toBe(204);
    expect((await api.get(`/v1/contacts/${created.body.id}`)).status).toBe(404);
  });
});

describe("q and phone digits", () => {
  it("matches phones only for a phone-like query, never the digits inside a word", async () => {
    const eva = await api.post("/v1/contacts", {
      name: "Eva Phone Digits",
      phone: "5531922229876",
    });
    expect(eva.status).toBe(201);
    const ids = async (q: string) =>
      (await api.get(`/v1/contacts?q=${encodeURIComponent(q)}&limit=200`)).body.data.map(
        (c: any) => c.id,
      );
    expect(await ids("9876")).toContain(eva.body.id);
    expect(await ids("+55 31 92222-9876")).toContain(eva.body.id);
    expect(await ids("abc9876xyz")).not.toContain(eva.body.id);
  });
});
