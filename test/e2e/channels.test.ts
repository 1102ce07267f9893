import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { QR_PNG, wahaEvents, type WahaSimulator } from "../simulators/waha-simulator.ts";
import { badFields, expectError, expectInvalid } from "../support/api-assertions.ts";
import { client } from "../support/http.ts";
import { createTestApp, type TestApp } from "../support/test-app.ts";
import { waitFor } from "../support/wait-for.ts";
import {
  activateChannel,
  createChannel,
  inboundSettled,
  postInbound,
  PUBLIC_BASE_URL,
  startWhatsApp,
  type Api,
  type CreatedChannel,
  type WhatsAppHarness,
} from "../support/whatsapp.ts";

/**
 * Channels end to end against the WAHA simulator: CRUD per API.md with the secrets
 * (WAHA api key never returned nor stored in clear, inbound secret shown once), the
 * outbound guard on baseUrl, activation (starting a stopped session, pushing the webhook),
 * QR, WAHA failures as 502/503/504, deactivation, deletion and roles.
 */

const ADMIN_TOKEN = "channels-suite-admin-token-0123456789";
const WAHA_KEY = "waha-secret-api-key-7f3a9c2e1b";

let h: WhatsAppHarness;
let waha: WahaSimulator;

beforeAll(async () => {
  h = await startWhatsApp({ ADMIN_TOKEN });
  waha = await h.simulator({
    apiKey: WAHA_KEY,
    sessions: [
      "main",
      "spare",
      { name: "stopped", status: "STOPPED", authenticated: true },
      { name: "qr", status: "SCAN_QR_CODE" },
    ],
  });
}, 120_000);
afterAll(async () => h?.close());

const CHANNEL_KEYS = [
  "allowGroups",
  "createdAt",
  "id",
  "inboundUrl",
  "name",
  "pipelineId",
  "sessionTimeoutMinutes",
  "status",
  "type",
  "updatedAt",
  "waha",
];

async function channelRow(id: string) {
  return h.app.deps.database.db
    .selectFrom("channels")
    .selectAll()
    .where("id", "=", id)
    .executeTakeFirstOrThrow();
}

async function newKey(role: "agent" | "readonly"): Promise<Api> {
  const res = await h.api.post("/v1/api-keys", { name: `${role} for channels`, role });
  expect(res.status).toBe(201);
  return client(h.app, res.body.key);
}

describe("CRUD and secrets", () => {
  let created: CreatedChannel;
  let createdText: string;

  it("create answers 201 with the channel, inboundUrl and the inboundSecret, never the apiKey", async () => {
    const res = await h.api.post("/v1/channels", {
      name: "Atendimento",
      type: "waha",
      waha: { baseUrl: `${waha.baseUrl}/`, apiKey: WAHA_KEY, session: "main" },
      sessionTimeoutMinutes: 20,
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    created = { ...res.body, inboundPath: new URL(res.body.inboundUrl).pathname };
    createdText = JSON.stringify(res.body);
    expect(Object.keys(res.body).sort()).toEqual([...CHANNEL_KEYS, "inboundSecret"].sort());
    expect(res.body).toMatchObject({
      name: "Atendimento",
      type: "waha",
      status: "inactive",
      waha: { baseUrl: waha.baseUrl, session: "main" },
      sessionTimeoutMinutes: 20,
      allowGroups: false,
    });
    expect(Object.keys(res.body.waha).sort()).toEqual(["baseUrl", "session"]);
    expect(res.body.inboundUrl).toMatch(
      new RegExp(`^${PUBLIC_BASE_URL.replace(/\./g, "\\.")}/v1/inbound/waha/[A-Za-z0-9_-]{16,}$`),
    );
    expect(res.body.inboundSecret).toMatch(/^[0-9a-f]{64}$/);
    expect(createdText).not.toContain(WAHA_KEY);
  });

  it("the database holds ciphertext, never the apiKey or the inbound secret", async () => {
    const row = await channelRow(created.id);
    const stored = JSON.stringify(row);
    expect(stored).not.toContain(WAHA_KEY);
    expect(stored).not.toContain(created.inboundSecret);
    expect(row.waha_api_key_enc).not.toBe(WAHA_KEY);
    expect(row.waha_api_key_enc.length).toBeGreaterThan(WAHA_KEY.length);
    // It decrypts to the key (what the WAHA client uses).
    expect(h.app.deps.channels.targetOf(row).apiKey).toBe(WAHA_KEY);
  });

  it("get and list never show the apiKey nor the inbound secret again", async () => {
    const one = await h.api.get(`/v1/channels/${created.id}`);
    expect(one.status).toBe(200);
    expect(Object.keys(one.body).sort()).toEqual(CHANNEL_KEYS);
    const { inboundSecret: _secret, inboundPath: _path, ...shown } = created;
    expect(one.body).toEqual(shown);
    const list = await h.api.get("/v1/channels");
    expect(list.status).toBe(200);
    expect(list.body.data.map((c: any) => c.id)).toContain(created.id);
    for (const text of [JSON.stringify(one.body), JSON.stringify(list.body)]) {
      expect(text).not.toContain(WAHA_KEY);
      expect(text).not.toContain(created.inboundSecret);
    }
  });

  it("patch changes settings; a new apiKey is sealed and used, never shown", async () => {
    const res = await h.api.patch(`/v1/channels/${created.id}`, {
      name: "Atendimento SP",
      allowGroups: true,
      sessionTimeoutMinutes: null,
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({
      name: "Atendimento SP",
      allowGroups: true,
      sessionTimeoutMinutes: null,
    });
    expect(Object.keys(res.body).sort()).toEqual(CHANNEL_KEYS);

    const wrong = await h.api.patch(`/v1/channels/${created.id}`, {
      waha: { apiKey: "a-wrong-key-for-waha" },
    });
    expect(wrong.status).toBe(200);
    expect(JSON.stringify(wrong.body)).not.toContain("a-wrong-key-for-waha");
    expect(JSON.stringify(await channelRow(created.id))).not.toContain("a-wrong-key-for-waha");
    // WAHA refuses the wrong key (401): a provider refusal, 502, not our 401.
    const refused = await h.api.post(`/v1/channels/${created.id}/activate`);
    expectError(refused, 502, "PROVIDER_REJECTED");
    expect(waha.lastCall()?.status).toBe(401);

    const right = await h.api.patch(`/v1/channels/${created.id}`, { waha: { apiKey: WAHA_KEY } });
    expect(right.status).toBe(200);
    await activateChannel(h, waha, created.id);
  });

  it("rejects invalid bodies with 400 naming the fields", async () => {
    const waha_ = { baseUrl: waha.baseUrl, apiKey: WAHA_KEY, session: "main" };
    expectInvalid(await h.api.post("/v1/channels", { name: "x", type: "waha" }), "waha");
    expectInvalid(
      await h.api.post("/v1/channels", { name: "x", type: "twilio", waha: waha_ }),
      "type",
    );
    expectInvalid(
      await h.api.post("/v1/channels", {
        name: "x",
        type: "waha",
        waha: { ...waha_, session: "has spaces" },
      }),
      "waha.session",
    );
    expectInvalid(
      await h.api.post("/v1/channels", {
        name: "x",
        type: "waha",
        waha: { ...waha_, baseUrl: "not a url" },
      }),
      "waha.baseUrl",
    );
    expectInvalid(
      await h.api.post("/v1/channels", {
        name: "x",
        type: "waha",
        waha: waha_,
        sessionTimeoutMinutes: 0,
      }),
      "sessionTimeoutMinutes",
    );
    const patch = await h.api.patch(`/v1/channels/${created.id}`, { apiKey: "top-level" });
    expect(patch.status).toBe(400);
    expect(badFields(patch)).toContain("apiKey");
  });

  it("another project's channel answers 404", async () => {
    const other = await client(h.app, ADMIN_TOKEN).post("/v1/projects", { name: "Outro" });
    expect(other.status).toBe(201);
    const api = client(h.app, other.body.apiKey);
    expectError(await api.get(`/v1/channels/${created.id}`), 404, "CHANNEL_NOT_FOUND");
    expectError(
      await api.patch(`/v1/channels/${created.id}`, { name: "hijack" }),
      404,
      "CHANNEL_NOT_FOUND",
    );
    expectError(await api.post(`/v1/channels/${created.id}/activate`), 404, "CHANNEL_NOT_FOUND");
    expectError(await api.delete(`/v1/channels/${created.id}`), 404, "CHANNEL_NOT_FOUND");
    expect((await api.get("/v1/channels")).body.data).toEqual([]);
  });
});

describe("the outbound guard on baseUrl", () => {
  let bare: TestApp;

  beforeAll(async () => {
    // No OUTBOUND_ALLOW_CIDRS: loopback and private WAHA hosts are refused.
    bare = await createTestApp({ PUBLIC_BASE_URL });
  }, 120_000);
  afterAll(async () => bare?.close());

  it("refuses non-public addresses with 422 OUTBOUND_URL_NOT_ALLOWED, storing nothing", async () => {
    const api = client(bare.app, bare.adminKey);
    for (const baseUrl of [
      "http://127.0.0.1:1",
      "http://[::1]:1",
      "http://10.0.0.5:3000",
      "http://169.254.169.254",
      "http://192.168.1.20:3000",
      "http://localhost:3000",
      "http://0.0.0.0:3000",
      "http://admin:hunter2@127.0.0.1:1",
    ]) {
      const res = await api.post("/v1/channels", {
        name: "Bloqueado",
        type: "waha",
        waha: { baseUrl, apiKey: WAHA_KEY, session: "main" },
      });
      expectError(res, 422, "OUTBOUND_URL_NOT_ALLOWED");
      expect(JSON.stringify(res.body)).not.toContain("hunter2");
    }
    expect((await api.get("/v1/channels")).body.data).toEqual([]);
  });

  it("an allow-list admits only its ranges: patching baseUrl to another private host is refused", async () => {
    const channel = await createChannel(h.api, waha, "spare");
    const res = await h.api.patch(`/v1/channels/${channel.id}`, {
      waha: { baseUrl: "http://10.1.2.3:3000" },
    });
    expectError(res, 422, "OUTBOUND_URL_NOT_ALLOWED");
    expect((await h.api.get(`/v1/channels/${channel.id}`)).body.waha.baseUrl).toBe(waha.baseUrl);
  });
});

describe("activation, QR, deactivation", () => {
  it("a STOPPED session is started, the webhook pushed, and the channel ends active", async () => {
    const channel = await createChannel(h.api, waha, "stopped");
    const res = await h.api.post(`/v1/channels/${channel.id}/activate`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(["activating", "active"]).toContain(res.body.status);
    const start = waha.calls("POST /api/sessions/stopped/start");
    expect(start).toHaveLength(1);
    const put = waha.calls("PUT /api/sessions/stopped");
    expect(put).toHaveLength(1);
    expect(put[0]!.seq).toBeGreaterThan(start[0]!.seq);
    expect(put[0]!.body.config.webhooks[0]).toMatchObject({
      url: channel.inboundUrl,
      hmac: { key: channel.inboundSecret },
    });
    await waha.settled(10_000);
    await inboundSettled(h.app);
    await waitFor(
      async () => (await h.api.get(`/v1/channels/${channel.id}`)).body.status === "active",
      15_000,
      { what: "the started channel active" },
    );
    expect(waha.session("stopped").status).toBe("WORKING");
  });

  it("QR: 200 {mimetype, data} while WAHA waits for a scan, 422 otherwise", async () => {
    const qrChannel = await createChannel(h.api, waha, "qr");
    const qr = await h.api.get(`/v1/channels/${qrChannel.id}/qr`);
    expect(qr.status, JSON.stringify(qr.body)).toBe(200);
    expect(qr.body).toEqual({ mimetype: "image/png", data: QR_PNG.toString("base64") });

    const working = await createChannel(h.api, waha, "main");
    const refused = await h.api.get(`/v1/channels/${working.id}/qr`);
    expectError(refused, 422, "CHANNEL_QR_NOT_AVAILABLE");
    expect(refused.body.error.details).toEqual({ sessionStatus: "WORKING" });

    // Activating a session that waits for a scan leaves it activating; the scan makes it active.
    const activated = await h.api.post(`/v1/channels/${qrChannel.id}/activate`);
    expect(activated.status).toBe(200);
    expect(activated.body.status).toBe("activating");
    await waha.settled(10_000);
    await inboundSettled(h.app);
    expect((await h.api.get(`/v1/channels/${qrChannel.id}`)).body.status).toBe("activating");
    waha.scanQr("qr");
    await waha.settled(10_000);
    await inboundSettled(h.app);
    await waitFor(
      async () => (await h.api.get(`/v1/channels/${qrChannel.id}`)).body.status === "active",
      15_000,
      { what: "the scanned channel active" },
    );
  });

  it("deactivate removes our webhook from WAHA and marks the channel inactive", async () => {
    const channel = await createChannel(h.api, waha, "spare");
    await activateChannel(h, waha, channel.id);
    const before = waha.calls("PUT /api/sessions/spare").length;
    const res = await h.api.post(`/v1/channels/${channel.id}/deactivate`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.status).toBe("inactive");
    const puts = waha.calls("PUT /api/sessions/spare");
    expect(puts).toHaveLength(before + 1);
    expect(puts.at(-1)!.body.config.webhooks).toEqual([]);
    expect(waha.session("spare").config.webhooks).toEqual([]);
  });
});

describe("WAHA unavailable: 502/503/504 in the error format, never 500", () => {
  const isolatedChannel = async (options: Parameters<WhatsAppHarness["simulator"]>[0] = {}) => {
    const sim = await h.simulator({ apiKey: WAHA_KEY, sessions: ["main"], ...options });
    return { sim, channel: await createChannel(h.api, sim, "main") };
  };

  it("WAHA down (connection refused): 503, then the open breaker: 503 without calling", async () => {
    const { sim, channel } = await isolatedChannel();
    await sim.close();
    const res = await h.api.post(`/v1/channels/${channel.id}/activate`);
    expectError(res, 503, "PROVIDER_UNREACHABLE");
    // Three failed attempts opened this WAHA's breaker: the next call is refused by us.
    const again = await h.api.post(`/v1/channels/${channel.id}/activate`);
    expectError(again, 503, "INTEGRATION_CIRCUIT_OPEN");
    expect((await h.api.get(`/v1/channels/${channel.id}`)).body.status).toBe("inactive");
  });

  it("WAHA answering 500: 502", async () => {
    const { sim, channel } = await isolatedChannel();
    sim.faults.error(500, { route: "GET /api/sessions/main", times: 3 });
    expectError(await h.api.post(`/v1/channels/${channel.id}/activate`), 502, "PROVIDER_ERROR");
    expect(sim.calls("GET /api/sessions/main")).toHaveLength(3);
    expect(sim.calls("PUT /api/sessions/main")).toHaveLength(0);
  });

  it("WAHA not answering: 504 after the per-attempt timeouts", async () => {
    const { sim, channel } = await isolatedChannel();
    sim.faults.hang({ route: "GET /api/sessions/main", times: 3 });
    expectError(
      await h.api.post(`/v1/channels/${channel.id}/activate`),
      504,
      "INTEGRATION_TIMEOUT",
    );
    expect((await h.api.get(`/v1/channels/${channel.id}`)).body.status).toBe("inactive");
  });

  it("QR with WAHA down: 503", async () => {
    const { sim, channel } = await isolatedChannel();
    await sim.close();
    const res = await h.api.get(`/v1/channels/${channel.id}/qr`);
    expect([502, 503, 504]).toContain(res.status);
    expect(res.body.error.code).toMatch(/^(PROVIDER|INTEGRATION)_/);
  });
});

describe("delete and roles", () => {
  it("delete answers 204; the channel and its inbound URL are gone (404)", async () => {
    const channel = await createChannel(h.api, waha, "spare");
    const res = await h.api.delete(`/v1/channels/${channel.id}`);
    expect(res.status).toBe(204);
    expectError(await h.api.get(`/v1/channels/${channel.id}`), 404, "CHANNEL_NOT_FOUND");
    expectError(await h.api.delete(`/v1/channels/${channel.id}`), 404, "CHANNEL_NOT_FOUND");
    expectError(await h.api.post(`/v1/channels/${channel.id}/activate`), 404, "CHANNEL_NOT_FOUND");
    expect(
      (await h.api.get("/v1/channels?limit=200")).body.data.map((c: any) => c.id),
    ).not.toContain(channel.id);
    const inbound = await postInbound(
      h.app,
      channel.inboundPath,
      wahaEvents.text({ session: "spare" }),
      { secret: channel.inboundSecret },
    );
    expectError(inbound, 404, "CHANNEL_NOT_FOUND");
  });

  it("only admins manage channels: agent and readonly get 403, no key 401", async () => {
    const agent = await newKey("agent");
    const readonly = await newKey("readonly");
    const body = {
      name: "Sem permissão",
      type: "waha",
      waha: { baseUrl: waha.baseUrl, apiKey: WAHA_KEY, session: "main" },
    };
    const forbidden = await agent.post("/v1/channels", body);
    expectError(forbidden, 403, "FORBIDDEN");
    expect(forbidden.body.error.details).toEqual({ requiredRole: "admin", role: "agent" });
    expectError(await readonly.post("/v1/channels", body), 403, "FORBIDDEN");
    const channel = await createChannel(h.api, waha, "spare");
    expectError(await agent.patch(`/v1/channels/${channel.id}`, { name: "x" }), 403, "FORBIDDEN");
    expectError(await agent.post(`/v1/channels/${channel.id}/activate`), 403, "FORBIDDEN");
    expectError(await agent.delete(`/v1/channels/${channel.id}`), 403, "FORBIDDEN");
    expectError(await agent.get(`/v1/channels/${channel.id}/qr`), 403, "FORBIDDEN");
    // Reading is for every role.
    expect((await readonly.get(`/v1/channels/${channel.id}`)).status).toBe(200);
    expect((await agent.get("/v1/channels")).status).toBe(200);
    expectError(await client(h.app).get("/v1/channels"), 401, "UNAUTHORIZED");
  });
});
