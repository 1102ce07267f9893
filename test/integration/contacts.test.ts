import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../support/test-app.ts";
import { client } from "../support/http.ts";

let t: TestApp;
let api: ReturnType<typeof client>;

beforeAll(async () => {
  t = await createTestApp();
  api = client(t.app, t.adminKey);
});
afterAll(async () => t?.close());

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
