import { createHmac, timingSafeEqual } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { createServer, request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  postEvent,
  signWebhookBody,
  wahaEvents,
  WahaSimulator,
  type WahaEvent,
  type WahaMessage,
  type WahaSendRoute,
} from "./waha-simulator.ts";

// ---------------------------------------------------------------------------------------
// Helpers (every wait is bounded)
// ---------------------------------------------------------------------------------------

const FIXTURES_DIR = fileURLToPath(new URL("../../../shared/fixtures/waha/", import.meta.url));
const fixture = (name: string): WahaEvent<any> =>
  JSON.parse(readFileSync(`${FIXTURES_DIR}${name}.json`, "utf8"));

const CONTACT = "5511987654321@c.us";
const SESSION = "acme-main";

interface ApiResponse {
  status: number;
  headers: Headers;
  body: any;
}

function api(sim: WahaSimulator, key: string | null = sim.apiKey) {
  const call = async (
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
    timeoutMs = 5_000,
  ): Promise<ApiResponse> => {
    const response = await fetch(`${sim.baseUrl}${path}`, {
      method,
      headers: {
        ...(key === null ? {} : { "x-api-key": key }),
        ...(body === undefined ? {} : { "content-type": "application/json" }),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const type = response.headers.get("content-type") ?? "";
    const payload = type.includes("json")
      ? await response.json()
      : Buffer.from(await response.arrayBuffer());
    return { status: response.status, headers: response.headers, body: payload };
  };
  return {
    get: (path: string, headers?: Record<string, string>) => call("GET", path, undefined, headers),
    post: (path: string, body?: unknown, headers?: Record<string, string>) =>
      call("POST", path, body, headers),
    put: (path: string, body?: unknown) => call("PUT", path, body),
    call,
  };
}

/** node:http with no connection reuse, to see socket-level errors (ECONNRESET). */
function rawPost(
  url: string,
  body: unknown,
  headers: Record<string, string>,
  timeoutMs = 5_000,
): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const payload = JSON.stringify(body);
    const req = httpRequest(
      url,
      {
        method: "POST",
        agent: false,
        headers: { "content-type": "application/json", ...headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        );
        res.on("error", reject);
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error("client timeout")));
    req.on("error", reject);
    req.end(payload);
  });
}

interface Received {
  headers: IncomingHttpHeaders;
  rawBody: string;
  body: any;
}

/** A loopback webhook receiver standing in for Ventros' inbound route. */
async function startReceiver(status = 200) {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const rawBody = Buffer.concat(chunks).toString("utf8");
      received.push({ headers: req.headers, rawBody, body: JSON.parse(rawBody) });
      res.writeHead(status, { "content-type": "application/json" });
      res.end("{}");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  return {
    url: `http://127.0.0.1:${address.port}/v1/inbound/waha/inb_test`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function hmacValid(received: Received, key: string): boolean {
  const expected = Buffer.from(createHmac("sha512", key).update(received.rawBody).digest("hex"));
  const given = Buffer.from(String(received.headers["x-webhook-hmac"] ?? ""));
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** Recursive key structure: objects by key, arrays by first element, leaves as "value". */
function shape(value: unknown): unknown {
  if (Array.isArray(value)) return value.length > 0 ? [shape(value[0])] : [];
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, shape((value as Record<string, unknown>)[k])]),
    );
  }
  return "value";
}

const keys = (value: unknown) => Object.keys(value as object).sort();

// ---------------------------------------------------------------------------------------

let sim: WahaSimulator;

beforeEach(async () => {
  sim = await WahaSimulator.start({
    apiKey: "k-123",
    sessions: [SESSION, { name: "pairing", status: "SCAN_QR_CODE", qr: "2@raw-qr-value" }],
  });
});

afterEach(async () => {
  await sim.close();
});

describe("auth", () => {
  it("answers 401 without or with a wrong X-Api-Key, and records the call", async () => {
    expect((await api(sim, null).get(`/api/sessions/${SESSION}`)).status).toBe(401);
    const wrong = await api(sim, "nope").get(`/api/sessions/${SESSION}`);
    expect(wrong.status).toBe(401);
    expect(wrong.body).toEqual({ message: "Unauthorized", statusCode: 401 });
    expect(
      (await api(sim, null).post("/api/sendText", { chatId: CONTACT, text: "x" })).status,
    ).toBe(401);
    expect(sim.sent()).toHaveLength(0);
    expect((await api(sim).get(`/api/sessions/${SESSION}`)).status).toBe(200);
    expect(sim.calls(`GET /api/sessions/${SESSION}`).map((c) => c.status)).toEqual([401, 401, 200]);
  });

  it("protects media files with the key too", async () => {
    const url = sim.setFile(SESSION, "a.pdf", "%PDF-1.4");
    const path = new URL(url).pathname;
    expect((await api(sim, null).get(path)).status).toBe(401);
    const ok = await api(sim).get(path);
    expect(ok.status).toBe(200);
    expect(ok.headers.get("content-type")).toBe("application/pdf");
    expect(ok.body.toString()).toBe("%PDF-1.4");
    expect((await api(sim).get(`/api/files/${SESSION}/missing.pdf`)).status).toBe(404);
  });
});

describe("sessions", () => {
  it("GET answers WAHA's session object; PUT replaces the config", async () => {
    const got = await api(sim).get(`/api/sessions/${SESSION}`);
    expect(got.body).toMatchObject({
      name: SESSION,
      status: "WORKING",
      config: {},
      me: { id: "5511900000001@c.us", pushName: "Acme Support" },
      engine: { engine: "GOWS" },
    });
    const webhook = {
      url: "http://127.0.0.1:9/hook",
      events: ["message", "message.any", "message.ack", "session.status"],
      hmac: { key: "secret" },
      retries: { policy: "constant", delaySeconds: 2, attempts: 3 },
      customHeaders: [{ name: "X-Channel", value: "c1" }],
    };
    const put = await api(sim).put(`/api/sessions/${SESSION}`, {
      config: { webhooks: [webhook, { url: "http://127.0.0.1:9/other", events: ["message"] }] },
    });
    expect(put.status).toBe(200);
    const after = await api(sim).get(`/api/sessions/${SESSION}`);
    expect(after.body.config.webhooks).toEqual([
      webhook,
      {
        url: "http://127.0.0.1:9/other",
        events: ["message"],
        hmac: null,
        retries: null,
        customHeaders: null,
      },
    ]);
    const bad = await api(sim).put(`/api/sessions/${SESSION}`, {
      config: { webhooks: [{ url: "http://127.0.0.1:9/x", events: [], retries: { policy: "x" } }] },
    });
    expect(bad.status).toBe(400);
    expect((await api(sim).get("/api/sessions/nope")).status).toBe(404);
  });

  it("start/stop move the status and post session.status, signed, in order", async () => {
    const receiver = await startReceiver();
    const messagesOnly = await startReceiver();
    try {
      await api(sim).put(`/api/sessions/${SESSION}`, {
        config: {
          metadata: { "channel.id": "ch_1" },
          webhooks: [
            {
              url: receiver.url,
              events: ["session.status"],
              hmac: { key: "hk" },
              customHeaders: [{ name: "X-Channel", value: "ch_1" }],
            },
            { url: messagesOnly.url, events: ["message"] },
          ],
        },
      });
      await sim.settled();
      // PUT on a running session restarts it (WAHA documents this).
      expect(sim.session(SESSION).status).toBe("WORKING");
      const stop = await api(sim).post(`/api/sessions/${SESSION}/stop`);
      expect(stop.status).toBe(201);
      expect(stop.body.status).toBe("STOPPED");
      expect(stop.body.me).toBeNull();
      const start = await api(sim).post(`/api/sessions/${SESSION}/start`);
      expect(start.body.status).toBe("STARTING");
      await sim.settled();
      expect(sim.session(SESSION).status).toBe("WORKING");

      const statuses = receiver.received.map((r) => r.body.payload.status);
      expect(statuses).toEqual([
        "STOPPED",
        "STARTING",
        "WORKING",
        "STOPPED",
        "STARTING",
        "WORKING",
      ]);
      for (const r of receiver.received) {
        expect(hmacValid(r, "hk")).toBe(true);
        expect(r.headers["x-webhook-hmac-algorithm"]).toBe("sha512");
        expect(r.headers["x-channel"]).toBe("ch_1");
        expect(r.body).toMatchObject({ event: "session.status", session: SESSION });
        expect(r.body.metadata).toEqual({ "channel.id": "ch_1" });
        expect(r.body.payload.statuses.at(-1).status).toBe(r.body.payload.status);
        expect(r.body.id).toMatch(/^evt_[0-9a-z]{26}$/);
      }
      expect(messagesOnly.received).toHaveLength(0);
      expect(sim.deliveries({ event: "session.status" }).every((d) => d.status === 200)).toBe(true);
    } finally {
      await receiver.close();
      await messagesOnly.close();
    }
  });

  it("creates sessions (POST /api/sessions and the older POST /api/sessions/start)", async () => {
    const created = await api(sim).post("/api/sessions", { name: "new-one" });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: "new-one", status: "STARTING" });
    await sim.settled();
    // A new, unpaired session waits for a QR scan.
    expect(sim.session("new-one").status).toBe("SCAN_QR_CODE");
    expect((await api(sim).post("/api/sessions", { name: "new-one" })).status).toBe(422);

    const postponed = await api(sim).post("/api/sessions", { name: "later", start: false });
    expect(postponed.body.status).toBe("STOPPED");

    const legacy = await api(sim).post("/api/sessions/start", {
      name: "legacy",
      config: { webhooks: [{ url: "http://127.0.0.1:9/h", events: ["message"] }] },
    });
    expect(legacy.status).toBe(201);
    expect(legacy.body.config.webhooks[0].url).toBe("http://127.0.0.1:9/h");
    const stopped = await api(sim).post("/api/sessions/stop", { name: "legacy" });
    expect(stopped.body.status).toBe("STOPPED");
  });
});

describe("sending", () => {
  const image = { mimetype: "image/jpeg", url: "https://cdn.example.com/p.jpg", filename: "p.jpg" };
  const cases: Array<[string, Record<string, unknown>, Partial<WahaMessage>]> = [
    ["sendText", { text: "Olá" }, { body: "Olá", hasMedia: false }],
    ["sendImage", { file: image, caption: "foto" }, { body: "foto", hasMedia: true }],
    [
      "sendFile",
      {
        file: {
          mimetype: "application/pdf",
          data: Buffer.from("%PDF").toString("base64"),
          filename: "c.pdf",
        },
      },
      { body: "c.pdf", hasMedia: true },
    ],
    [
      "sendVoice",
      { file: { mimetype: "audio/ogg; codecs=opus", url: "https://cdn.example.com/v.opus" } },
      { hasMedia: true },
    ],
    [
      "sendVideo",
      { file: { mimetype: "video/mp4", url: "https://cdn.example.com/v.mp4" }, caption: "vid" },
      { body: "vid", hasMedia: true },
    ],
    [
      "sendLocation",
      { latitude: -23.56, longitude: -46.65, title: "Paulista" },
      { location: { latitude: -23.56, longitude: -46.65, description: "Paulista" } },
    ],
    [
      "sendContactVcard",
      {
        contacts: [
          { fullName: "Ana", phoneNumber: "+55 11 91111-2222", whatsappId: "5511911112222" },
        ],
      },
      { hasMedia: false },
    ],
  ];

  it.each(cases)(
    "%s answers 201 with the sent message and records it",
    async (route, extra, expected) => {
      const before = Math.floor(Date.now() / 1000);
      const res = await api(sim).post(`/api/${route}`, {
        session: SESSION,
        chatId: CONTACT,
        ...extra,
      });
      expect(res.status).toBe(201);
      const message = res.body as WahaMessage;
      expect(message.id).toMatch(new RegExp(`^true_${CONTACT}_3EB0[0-9A-F]{16}$`));
      expect(Number.isInteger(message.timestamp)).toBe(true);
      expect(message.timestamp).toBeGreaterThanOrEqual(before);
      expect(message.timestamp).toBeLessThan(1e11); // seconds, not milliseconds
      expect(message).toMatchObject({
        from: "5511900000001@c.us",
        fromMe: true,
        to: CONTACT,
        source: "api",
        ack: 1,
        ackName: "SERVER",
        ...expected,
      });
      const [sent] = sim.sent({ route: route as WahaSendRoute });
      expect(sent).toBeDefined();
      expect(sent!.message.id).toBe(message.id);
      expect(sent!.request).toMatchObject(extra);
      expect(sent!.call.outcome).toBe("answered");
      const [call] = sim.calls(route);
      expect(call!.headers["x-api-key"]).toBe("k-123");
      expect(call!.body.chatId).toBe(CONTACT);
      expect(call!.time).toBeGreaterThan(0);
      if (message.hasMedia) {
        // Media of sent messages is served back from the simulator's file route.
        const file = await api(sim).get(new URL(message.media!.url).pathname);
        expect(file.status).toBe(200);
      }
    },
  );

  it("builds a vCard for contacts and keeps reply_to", async () => {
    const first = await api(sim).post("/api/sendText", {
      session: SESSION,
      chatId: CONTACT,
      text: "A",
    });
    const reply = await api(sim).post("/api/sendText", {
      session: SESSION,
      chatId: CONTACT,
      text: "B",
      reply_to: first.body.id,
    });
    expect(reply.body.replyTo).toMatchObject({ id: first.body.id, body: "A" });
    const card = await api(sim).post("/api/sendContactVcard", {
      session: SESSION,
      chatId: CONTACT,
      contacts: [
        { fullName: "Ana", phoneNumber: "+55 11 91111-2222", whatsappId: "5511911112222" },
      ],
    });
    expect(card.body.vCards[0]).toContain("FN:Ana");
    expect(card.body.vCards[0]).toContain("waid=5511911112222");
  });

  it("sendSeen answers and is recorded apart from sent messages", async () => {
    const res = await api(sim).post("/api/sendSeen", {
      session: SESSION,
      chatId: CONTACT,
      messageIds: ["false_5511987654321@c.us_AAA"],
    });
    expect(res.status).toBe(201);
    expect(sim.seen()).toMatchObject([
      { session: SESSION, chatId: CONTACT, messageIds: ["false_5511987654321@c.us_AAA"] },
    ]);
    expect(sim.sent()).toHaveLength(0);
  });

  const invalid: Array<[string, Record<string, unknown>]> = [
    ["sendText", { text: "no chat" }],
    ["sendText", { chatId: CONTACT }],
    ["sendImage", { chatId: CONTACT, caption: "no file" }],
    ["sendImage", { chatId: CONTACT, file: { mimetype: "image/jpeg" } }],
    ["sendFile", { chatId: CONTACT, file: { url: "https://x.example/a.pdf" } }],
    ["sendVoice", { file: { mimetype: "audio/ogg", url: "https://x.example/a.ogg" } }],
    ["sendVideo", { chatId: CONTACT, file: { mimetype: "video/mp4", url: "ftp://x/a.mp4" } }],
    ["sendLocation", { chatId: CONTACT, latitude: "x", longitude: 1 }],
    ["sendContactVcard", { chatId: CONTACT, contacts: [] }],
    ["sendContactVcard", { chatId: CONTACT, contacts: [{ fullName: "no phone" }] }],
    ["sendSeen", {}],
  ];

  it.each(invalid)("%s with %j answers 400 and sends nothing", async (route, body) => {
    const res = await api(sim).post(`/api/${route}`, { session: SESSION, ...body });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ statusCode: 400, error: "Bad Request" });
    expect(Array.isArray(res.body.message)).toBe(true);
    expect(sim.sent()).toHaveLength(0);
  });

  it("answers 400 to malformed JSON, 404 to an unknown session, 422 when not WORKING", async () => {
    const malformed = await api(sim).post("/api/sendText", "{not json");
    expect(malformed.status).toBe(400);
    const unknown = await api(sim).post("/api/sendText", {
      session: "ghost",
      chatId: CONTACT,
      text: "x",
    });
    expect(unknown.status).toBe(404);
    sim.setStatus(SESSION, "FAILED");
    const notWorking = await api(sim).post("/api/sendText", {
      session: SESSION,
      chatId: CONTACT,
      text: "x",
    });
    expect(notWorking.status).toBe(422);
    expect(notWorking.body).toMatchObject({ status: "FAILED", expected: ["WORKING"] });
    expect(sim.sent()).toHaveLength(0);
  });
});

describe("faults", () => {
  const send = (text = "hi") =>
    api(sim).post("/api/sendText", { session: SESSION, chatId: CONTACT, text });

  it("adds the configured latency", async () => {
    const latencyMs = 250;
    sim.faults.latency(latencyMs, { route: "sendText", times: 1 });
    const started = performance.now();
    const res = await send();
    const elapsed = performance.now() - started;
    expect(res.status).toBe(201);
    expect(elapsed).toBeGreaterThanOrEqual(latencyMs - 2); // relative to configuration only
    expect(sim.lastCall("sendText")!.fault).toBe("latency");
    expect(sim.faults.pending()).toEqual([]);
    // Routes the fault does not name are untouched.
    sim.faults.latency(latencyMs, { route: "sendImage" });
    await send();
    expect(sim.lastCall("sendText")!.fault).toBeUndefined();
  });

  it("answers 500 N times, then recovers and sends once", async () => {
    sim.faults.error(500, { route: "sendText", times: 2 });
    expect((await send()).status).toBe(500);
    const second = await send();
    expect(second.status).toBe(500);
    expect(second.body).toMatchObject({ statusCode: 500 });
    expect((await send()).status).toBe(201);
    expect(sim.sent()).toHaveLength(1);
    expect(sim.calls("sendText").map((c) => c.status)).toEqual([500, 500, 201]);
  });

  it("answers 429 with Retry-After", async () => {
    sim.faults.rateLimit(7, { route: "POST /api/sendText" });
    const limited = await send();
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toBe("7");
    expect((await send()).status).toBe(201);
  });

  it("resets the connection: the client sees ECONNRESET and nothing is sent", async () => {
    sim.faults.reset({ route: "sendText" });
    const error = await rawPost(
      `${sim.baseUrl}/api/sendText`,
      { session: SESSION, chatId: CONTACT, text: "x" },
      { "x-api-key": sim.apiKey },
    ).then(
      () => null,
      (e: NodeJS.ErrnoException) => e,
    );
    expect(error).not.toBeNull();
    expect(["ECONNRESET", "EPIPE"]).toContain(error!.code);
    expect(sim.lastCall("sendText")!.outcome).toBe("reset");
    expect(sim.sent()).toHaveLength(0);
  });

  it("hangs: the client times out on its AbortSignal and nothing is sent", async () => {
    sim.faults.hang({ route: "sendText" });
    const error = await api(sim)
      .call("POST", "/api/sendText", { session: SESSION, chatId: CONTACT, text: "x" }, {}, 300)
      .then(
        () => null,
        (e: Error) => e,
      );
    expect(error?.name).toBe("TimeoutError");
    expect(sim.lastCall("sendText")!.outcome).toBe("hang");
    expect(sim.sent()).toHaveLength(0);
    expect((await send()).status).toBe(201);
  });

  it("apply then reset: the send happened and is in the chat history", async () => {
    sim.faults.applyThenReset({ route: "sendText" });
    const error = await rawPost(
      `${sim.baseUrl}/api/sendText`,
      { session: SESSION, chatId: CONTACT, text: "lost answer" },
      { "x-api-key": sim.apiKey },
    ).then(
      () => null,
      (e: NodeJS.ErrnoException) => e,
    );
    expect(["ECONNRESET", "EPIPE"]).toContain(error?.code);
    const [sent] = sim.sent();
    expect(sent!.call.outcome).toBe("reset");
    expect(sent!.call.status).toBe(201);
    // A client reconciles by looking the message up in the chat.
    const history = await api(sim).get(
      `/api/${SESSION}/chats/${encodeURIComponent(CONTACT)}/messages?limit=10&downloadMedia=false`,
    );
    expect(history.body.map((m: WahaMessage) => m.id)).toContain(sent!.message.id);
    expect(history.body[0]).toMatchObject({ body: "lost answer", fromMe: true });
  });

  it("apply then hang: the client times out, the message is in the history", async () => {
    sim.faults.applyThenHang({ route: "sendText" });
    const error = await api(sim)
      .call("POST", "/api/sendText", { session: SESSION, chatId: CONTACT, text: "maybe" }, {}, 300)
      .then(
        () => null,
        (e: Error) => e,
      );
    expect(error?.name).toBe("TimeoutError");
    expect(sim.sent()[0]!.call.outcome).toBe("hang");
    expect(sim.history(SESSION, CONTACT).map((m) => m.body)).toEqual(["maybe"]);
  });

  it("consumes faults in order, per route, and can clear them", async () => {
    sim.faults.error(503, { route: "sendText" }).rateLimit(1, { route: "sendText" });
    sim.faults.error(500, { route: "sendImage" });
    expect((await send()).status).toBe(503);
    expect((await send()).status).toBe(429);
    expect((await send()).status).toBe(201);
    expect(sim.faults.pending()).toEqual([{ kind: "status", route: "sendImage", remaining: 1 }]);
    sim.faults.error(500, { times: Infinity }); // global: WAHA down
    expect((await api(sim).get(`/api/sessions/${SESSION}`)).status).toBe(500);
    sim.faults.clear();
    expect((await send()).status).toBe(201);
    expect((await api(sim).get(`/api/sessions/${SESSION}`)).status).toBe(200);
  });

  it("close() ends hanging requests", async () => {
    sim.faults.hang({ times: Infinity });
    const pending = api(sim)
      .call("POST", "/api/sendText", { session: SESSION, chatId: CONTACT, text: "x" }, {}, 5_000)
      .then(
        () => "answered",
        (e: Error) => e.name,
      );
    await expect.poll(() => sim.calls("sendText").length, { timeout: 2_000 }).toBe(1);
    await sim.close();
    expect(await pending).not.toBe("answered");
    expect(await pending).not.toBe("TimeoutError");
  });
});

describe("QR", () => {
  it("serves PNG, base64 JSON or raw value only in SCAN_QR_CODE", async () => {
    const png = await api(sim).get("/api/pairing/auth/qr");
    expect(png.status).toBe(200);
    expect(png.headers.get("content-type")).toBe("image/png");
    expect((png.body as Buffer).subarray(0, 8).toString("hex")).toBe("89504e470d0a1a0a");

    const json = await api(sim).get("/api/pairing/auth/qr", { accept: "application/json" });
    expect(json.body.mimetype).toBe("image/png");
    expect(Buffer.from(json.body.data, "base64").subarray(1, 4).toString()).toBe("PNG");

    const raw = await api(sim).get("/api/pairing/auth/qr?format=raw");
    expect(raw.body).toEqual({ value: "2@raw-qr-value" });

    const working = await api(sim).get(`/api/${SESSION}/auth/qr`);
    expect(working.status).toBe(422);
    expect(working.body.message).toBe(
      "Can get QR code only in SCAN_QR_CODE status. The current status is 'WORKING'",
    );
    expect((await api(sim).get("/api/ghost/auth/qr")).status).toBe(404);

    sim.scanQr("pairing");
    expect(sim.session("pairing").status).toBe("WORKING");
    expect((await api(sim).get("/api/pairing/auth/qr")).status).toBe(422);
  });
});

describe("history", () => {
  it("lists chats and messages newest first, including sent and received ones", async () => {
    const other = "5521900000000@c.us";
    const t0 = Math.floor(Date.now() / 1000) - 100;
    await sim.emit(
      wahaEvents.text({ session: SESSION, from: CONTACT, body: "first", timestamp: t0 }),
    );
    await sim.emit(
      wahaEvents.text({
        session: SESSION,
        from: other,
        pushName: "Rui",
        body: "older chat",
        timestamp: t0 - 50,
      }),
    );
    const sent = await api(sim).post("/api/sendText", {
      session: SESSION,
      chatId: CONTACT,
      text: "second",
    });

    const chats = await api(sim).get(`/api/${SESSION}/chats`);
    expect(chats.status).toBe(200);
    expect(chats.body.map((c: any) => c.id)).toEqual([CONTACT, other]);
    expect(chats.body[0]).toEqual({
      id: CONTACT,
      name: "Maria Souza",
      conversationTimestamp: sent.body.timestamp,
    });

    const path = `/api/${SESSION}/chats/${encodeURIComponent(CONTACT)}/messages`;
    const messages = await api(sim).get(`${path}?limit=10&downloadMedia=false`);
    expect(messages.body.map((m: WahaMessage) => m.body)).toEqual(["second", "first"]);
    expect((await api(sim).get(`${path}?limit=1`)).body).toHaveLength(1);
    expect(
      (await api(sim).get(`${path}?filter.fromMe=false`)).body.map((m: WahaMessage) => m.body),
    ).toEqual(["first"]);
    const one = await api(sim).get(`${path}/${encodeURIComponent(sent.body.id)}`);
    expect(one.body.id).toBe(sent.body.id);

    await sim.ack(SESSION, sent.body.id, "READ");
    expect(sim.history(SESSION, CONTACT)[0]).toMatchObject({ ack: 3, ackName: "READ" });
  });

  it("reset() forgets calls, sends, faults and history", async () => {
    sim.faults.error(500, { times: 5 });
    await api(sim).get(`/api/sessions/${SESSION}`);
    sim.reset();
    expect(sim.calls()).toHaveLength(0);
    expect(sim.faults.pending()).toHaveLength(0);
    await api(sim).post("/api/sendText", { session: SESSION, chatId: CONTACT, text: "x" });
    sim.reset();
    expect(sim.sent()).toHaveLength(0);
    expect(sim.history(SESSION, CONTACT)).toHaveLength(0);
  });
});

describe("webhooks to Ventros", () => {
  it("postEvent signs the exact raw body with HMAC-SHA512 and sends WAHA's headers", async () => {
    const receiver = await startReceiver();
    try {
      const event = wahaEvents.text({ session: SESSION });
      const result = await postEvent(receiver.url, event, { hmacKey: "inbound-secret" });
      expect(result.status).toBe(200);
      const [got] = receiver.received;
      expect(got!.rawBody).toBe(JSON.stringify(event));
      expect(hmacValid(got!, "inbound-secret")).toBe(true);
      expect(hmacValid(got!, "another-secret")).toBe(false);
      expect(got!.headers["x-webhook-hmac"]).toBe(signWebhookBody(got!.rawBody, "inbound-secret"));
      expect(got!.headers["x-webhook-hmac-algorithm"]).toBe("sha512");
      expect(got!.headers["content-type"]).toBe("application/json");
      expect(got!.headers["x-webhook-request-id"]).toBe(result.requestId);
      expect(String(got!.headers["x-webhook-timestamp"])).toMatch(/^\d{13}$/);

      await postEvent(receiver.url, event);
      expect(receiver.received[1]!.headers["x-webhook-hmac"]).toBeUndefined();
      await expect(postEvent("http://10.0.0.1/x", event)).rejects.toThrow(/loopback/);
    } finally {
      await receiver.close();
    }
  });

  it("emit() posts to the session's subscribed webhooks with the configured key", async () => {
    const receiver = await startReceiver();
    try {
      await api(sim).put(`/api/sessions/${SESSION}`, {
        config: { webhooks: [{ url: receiver.url, events: ["message"], hmac: { key: "k" } }] },
      });
      await sim.settled();
      const deliveries = await sim.emit(
        wahaEvents.text({ session: SESSION, event: "message", body: "oi" }),
      );
      expect(deliveries).toMatchObject([{ status: 200, event: "message" }]);
      expect(await sim.emit(wahaEvents.reaction({ session: SESSION, messageId: "x" }))).toEqual([]);
      expect(receiver.received).toHaveLength(1);
      expect(hmacValid(receiver.received[0]!, "k")).toBe(true);
      expect(receiver.received[0]!.body.payload.body).toBe("oi");
    } finally {
      await receiver.close();
    }
  });
});

describe("event builders match the fixtures", () => {
  const envelopeOf = (f: WahaEvent<any>) => ({
    session: f.session,
    eventId: f.id,
    timestampMs: f.timestamp,
  });
  const key = (f: WahaEvent<any>) => String(f.payload.id).split("_")[2];

  const builders: Record<string, (f: WahaEvent<any>) => WahaEvent<any>> = {
    "message-text": (f) =>
      wahaEvents.text({
        ...envelopeOf(f),
        messageId: key(f),
        timestamp: f.payload.timestamp,
        body: f.payload.body,
      }),
    "message-image-caption": (f) =>
      wahaEvents.image({
        ...envelopeOf(f),
        messageId: key(f),
        timestamp: f.payload.timestamp,
        caption: f.payload.body,
      }),
    "message-voice": (f) =>
      wahaEvents.voice({ ...envelopeOf(f), messageId: key(f), timestamp: f.payload.timestamp }),
    "message-document": (f) =>
      wahaEvents.document({
        ...envelopeOf(f),
        messageId: key(f),
        timestamp: f.payload.timestamp,
        filename: "contrato.pdf",
        pageCount: 3,
      }),
    "message-location": (f) =>
      wahaEvents.location({ ...envelopeOf(f), messageId: key(f), timestamp: f.payload.timestamp }),
    "message-vcard": (f) =>
      wahaEvents.vcard({ ...envelopeOf(f), messageId: key(f), timestamp: f.payload.timestamp }),
    "message-group-mention": (f) =>
      wahaEvents.group({
        ...envelopeOf(f),
        messageId: key(f),
        timestamp: f.payload.timestamp,
        participant: CONTACT,
      }),
    "message-from-me-other-device": (f) =>
      wahaEvents.fromMeOtherDevice({
        ...envelopeOf(f),
        messageId: key(f),
        timestamp: f.payload.timestamp,
        body: f.payload.body,
      }),
    "message-ack-device": (f) =>
      wahaEvents.ack({ ...envelopeOf(f), messageId: f.payload.id, ack: "DEVICE" }),
    "message-ack-read": (f) =>
      wahaEvents.ack({ ...envelopeOf(f), messageId: f.payload.id, ack: "READ" }),
    "message-reaction": (f) =>
      wahaEvents.reaction({
        ...envelopeOf(f),
        reactionId: key(f),
        timestamp: f.payload.timestamp,
        messageId: f.payload.reaction.messageId,
        text: f.payload.reaction.text,
      }),
    "session-status-working": (f) =>
      wahaEvents.sessionStatus({
        ...envelopeOf(f),
        status: "WORKING",
        statuses: f.payload.statuses,
      }),
    "session-status-failed": (f) =>
      wahaEvents.sessionStatus({
        ...envelopeOf(f),
        status: "FAILED",
        statuses: f.payload.statuses,
      }),
  };

  /** Builders called with defaults only (random ids, now), per fixture. */
  const defaults: Record<string, () => WahaEvent<any>> = {
    "message-text": () => wahaEvents.text(),
    "message-image-caption": () => wahaEvents.image(),
    "message-voice": () => wahaEvents.voice(),
    "message-document": () => wahaEvents.document(),
    "message-location": () => wahaEvents.location(),
    "message-vcard": () => wahaEvents.vcard(),
    "message-group-mention": () => wahaEvents.group(),
    "message-from-me-other-device": () => wahaEvents.fromMeOtherDevice(),
    "message-ack-device": () => wahaEvents.ack({ messageId: `true_${CONTACT}_ABC` }),
    "message-ack-read": () => wahaEvents.ack({ messageId: `true_${CONTACT}_ABC`, ack: "READ" }),
    "message-reaction": () => wahaEvents.reaction({ messageId: `true_${CONTACT}_ABC` }),
    "session-status-working": () => wahaEvents.sessionStatus({ status: "WORKING" }),
    "session-status-failed": () => wahaEvents.sessionStatus({ status: "FAILED" }),
  };

  it("covers every fixture file", () => {
    const files = readdirSync(FIXTURES_DIR)
      .filter((f) => f.endsWith(".json"))
      .map((f) => f.replace(/\.json$/, ""))
      .sort();
    expect(Object.keys(builders).sort()).toEqual(files);
  });

  it.each(Object.keys(builders))(
    "%s: same shape with defaults, same content with its values",
    (name) => {
      const expected = fixture(name);
      expect(shape(defaults[name]!())).toEqual(shape(expected));
      expect(builders[name]!(expected)).toEqual(expected);
    },
  );

  it("video, audio and sticker have the media fixtures' shape", () => {
    const image = fixture("message-image-caption");
    const voice = fixture("message-voice");
    for (const event of [wahaEvents.video({ caption: "v" }), wahaEvents.sticker()]) {
      expect(keys(event)).toEqual(keys(image));
      expect(shape(event.payload.media)).toEqual(shape(image.payload.media));
      expect(keys(event.payload)).toEqual(keys(image.payload));
      expect(keys(event.payload._data.Info)).toEqual(keys(image.payload._data.Info));
    }
    const audio = wahaEvents.audio();
    expect(shape(audio)).toEqual(shape(voice));
    expect((audio.payload._data.Message as any).audioMessage.PTT).toBe(false);
    expect(audio.payload._data.Info.MediaType).toBe("audio");
  });

  it("reply, edited and revoked follow the text fixture and WAHA's documented fields", () => {
    const text = fixture("message-text");
    const quoted = `true_${CONTACT}_3EB0A1B2C3D4E5F60008`;
    const reply = wahaEvents.reply({ replyTo: { id: quoted, body: "o plano anual" } });
    expect(keys(reply.payload)).toEqual(keys(text.payload));
    expect(reply.payload.replyTo).toMatchObject({ id: quoted, body: "o plano anual" });
    expect((reply.payload._data.Message as any).extendedTextMessage.contextInfo.stanzaID).toBe(
      "3EB0A1B2C3D4E5F60008",
    );

    const edited = wahaEvents.edited({ editedMessageId: quoted, body: "novo" });
    expect(keys(edited)).toEqual(keys(text));
    expect(edited.event).toBe("message.edited");
    expect(keys(edited.payload)).toEqual([...keys(text.payload), "editedMessageId"].sort());
    expect(edited.payload).toMatchObject({ editedMessageId: "3EB0A1B2C3D4E5F60008", body: "novo" });

    const revoked = wahaEvents.revoked({ revokedMessageId: quoted });
    expect(keys(revoked)).toEqual(keys(text));
    expect(keys(revoked.payload)).toEqual(["after", "before", "revokedMessageId"]);
    expect(keys(revoked.payload.after)).toEqual(keys(text.payload));
    expect(revoked.payload).toMatchObject({
      revokedMessageId: "3EB0A1B2C3D4E5F60008",
      before: null,
    });
  });

  it("uses seconds in payloads and milliseconds in envelopes", () => {
    const event = wahaEvents.image({ mediaBaseUrl: sim.baseUrl, session: SESSION });
    expect(String(event.timestamp)).toMatch(/^\d{13}$/);
    expect(String(event.payload.timestamp)).toMatch(/^\d{10}$/);
    expect(event.id).toMatch(/^evt_[0-9a-z]{26}$/);
    expect(event.payload.media!.url.startsWith(`${sim.baseUrl}/api/files/${SESSION}/`)).toBe(true);
  });
});
