import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { wahaEvents, type WahaSimulator } from "../simulators/waha-simulator.ts";
import { expectError, expectInvalid } from "../support/api-assertions.ts";
import { client } from "../support/http.ts";
import { waitFor } from "../support/wait-for.ts";
import {
  activateChannel,
  createChannel,
  deliver,
  freshPhone,
  jobsFor,
  outboxEvents,
  startWhatsApp,
  type Api,
  type CreatedChannel,
  type WhatsAppHarness,
} from "../support/whatsapp.ts";

/**
 * Outbound WhatsApp messages end to end: POST /v1/messages answers 202 queued, a durable
 * job sends through the WAHA policy to the simulator, the WAHA id is stored, and WAHA's
 * acks (posted by the simulator to our inbound URL) move the status forward. Then the
 * failure modes: 5xx then recovery, 429 + Retry-After, WAHA down (breaker), a send whose
 * answer is lost (reconciled, never sent twice), a permanent refusal, and pacing.
 */

const SESSION = "acme-main";
const ADMIN_TOKEN = "outbound-suite-admin-token-0123456789";
const SEND_QUEUE = "whatsapp-message-send";

let h: WhatsAppHarness;
let waha: WahaSimulator;
let channel: CreatedChannel;
let contact: any;

beforeAll(async () => {
  h = await startWhatsApp({ ADMIN_TOKEN, WAHA_BREAKER_HALF_OPEN_MS: "8000" });
  waha = await h.simulator({ sessions: [SESSION] });
  channel = await createChannel(h.api, waha, SESSION);
  await activateChannel(h, waha, channel.id);
  contact = await newContact(h.api, "Maria Souza");
}, 120_000);
afterAll(async () => h?.close());

async function newContact(api: Api, name: string) {
  const res = await api.post("/v1/contacts", { name, phone: freshPhone() });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

async function queue(api: Api, body: Record<string, unknown>) {
  const res = await api.post("/v1/messages", body);
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  expect(res.body).toMatchObject({
    direction: "outbound",
    status: "queued",
    externalId: null,
    sentAt: null,
    failureReason: null,
  });
  return res.body;
}

async function message(id: string, api: Api = h.api) {
  const res = await api.get(`/v1/messages/${id}`);
  expect(res.status).toBe(200);
  return res.body;
}

async function waitStatus(id: string, status: string, timeoutMs = 30_000, api: Api = h.api) {
  return waitFor(
    async () => {
      const current = await message(id, api);
      return current.status === status ? current : undefined;
    },
    timeoutMs,
    { what: `message ${id} ${status}` },
  );
}

const chatOf = (c: { phone: string }) => `${c.phone}@c.us`;

async function integration(api: Api, name: string) {
  const res = await api.get("/v1/integrations");
  expect(res.status).toBe(200);
  return (res.body.data as any[]).find((i) => i.name === name);
}

/** A WAHA of its own (own origin, so its own breaker), a channel on it and a contact. */
async function isolated(name: string) {
  const sim = await h.simulator({ sessions: [SESSION] });
  const ch = await createChannel(h.api, sim, SESSION);
  const to = await newContact(h.api, name);
  return { sim, ch, to, policy: `waha:${new URL(sim.baseUrl).host}` };
}

const text = (to: any, ch: CreatedChannel, body: string) => ({
  contactId: to.id,
  channelId: ch.id,
  type: "text",
  text: body,
});

describe("every message type", () => {
  // Media hosted on the WAHA origin (loopback, allow-listed; the simulator never fetches).
  const media = (name: string, mimetype: string) => ({
    url: waha.fileUrl(SESSION, name),
    mimetype,
    filename: name,
  });
  const buildCases = (): Array<{
    body: Record<string, unknown>;
    route: string;
    request: Record<string, unknown>;
  }> => [
    {
      body: { type: "text", text: "Olá! Tudo bem?" },
      route: "sendText",
      request: { text: "Olá! Tudo bem?" },
    },
    {
      body: { type: "image", text: "Nosso catálogo", media: media("catalogo.jpg", "image/jpeg") },
      route: "sendImage",
      request: { caption: "Nosso catálogo", file: media("catalogo.jpg", "image/jpeg") },
    },
    {
      body: { type: "video", text: "Demonstração", media: media("demo.mp4", "video/mp4") },
      route: "sendVideo",
      request: { caption: "Demonstração", file: media("demo.mp4", "video/mp4") },
    },
    {
      body: { type: "audio", media: media("jingle.mp3", "audio/mpeg") },
      route: "sendFile",
      request: { file: media("jingle.mp3", "audio/mpeg") },
    },
    {
      body: { type: "voice", media: media("nota.ogg", "audio/ogg; codecs=opus") },
      route: "sendVoice",
      request: { file: media("nota.ogg", "audio/ogg; codecs=opus") },
    },
    {
      body: {
        type: "document",
        text: "Segue o contrato",
        media: media("contrato.pdf", "application/pdf"),
      },
      route: "sendFile",
      request: { caption: "Segue o contrato", file: media("contrato.pdf", "application/pdf") },
    },
    {
      body: {
        type: "location",
        location: { latitude: -23.5613, longitude: -46.6565, name: "Av. Paulista, 1000" },
      },
      route: "sendLocation",
      request: { latitude: -23.5613, longitude: -46.6565, title: "Av. Paulista, 1000" },
    },
    {
      body: {
        type: "contact",
        vcard:
          "BEGIN:VCARD\nVERSION:3.0\nFN:João Lima\nTEL;type=CELL;waid=5521988887777:+55 21 98888-7777\nEND:VCARD",
      },
      route: "sendContactVcard",
      request: {
        contacts: [
          {
            vcard:
              "BEGIN:VCARD\nVERSION:3.0\nFN:João Lima\nTEL;type=CELL;waid=5521988887777:+55 21 98888-7777\nEND:VCARD",
          },
        ],
      },
    },
  ];
  let cases: ReturnType<typeof buildCases> = [];
  const queued: Array<{ id: string; route: string; request: Record<string, unknown> }> = [];

  it("POST /v1/messages answers 202 queued for each type", async () => {
    cases = buildCases();
    for (const c of cases) {
      const m = await queue(h.api, { contactId: contact.id, channelId: channel.id, ...c.body });
      expect(m).toMatchObject({ type: c.body["type"], channelId: channel.id });
      queued.push({ id: m.id, route: c.route, request: c.request });
    }
  });

  it("each goes out once on the right WAHA route and becomes sent with the WAHA id", async () => {
    for (const q of queued) {
      const sent = await waitStatus(q.id, "sent");
      expect(sent.externalId).toMatch(/^true_\d+@c\.us_3EB0[0-9A-F]{16}$/);
      const records = waha.sent().filter((r) => r.message.id === sent.externalId);
      expect(records).toHaveLength(1);
      const record = records[0]!;
      expect(record.route).toBe(q.route);
      expect(record.call.headers["x-api-key"]).toBe(waha.apiKey);
      expect(record.request).toMatchObject({
        session: SESSION,
        chatId: chatOf(contact),
        ...q.request,
      });
      expect(record.request.reply_to).toBeUndefined();
      expect(sent.sentAt).toBe(new Date(record.message.timestamp * 1000).toISOString());
    }
    expect(waha.sent({ chatId: chatOf(contact) })).toHaveLength(cases.length);
    const voice = waha.sent({ route: "sendVoice" })[0]!;
    expect(voice.request.convert).toBe(true);
  });

  it("a reply names the quoted WhatsApp message in reply_to", async () => {
    const incoming = wahaEvents.text({
      session: SESSION,
      from: chatOf(contact),
      body: "Qual o prazo de entrega?",
    });
    await deliver(h.app, channel, incoming);
    const list = await h.api.get(`/v1/messages?contactId=${contact.id}&direction=inbound`);
    const quoted = list.body.data.find((m: any) => m.externalId === incoming.payload.id);
    const m = await queue(h.api, {
      ...text(contact, channel, "Cinco dias úteis."),
      replyToId: quoted.id,
    });
    expect(m.replyToId).toBe(quoted.id);
    const sent = await waitStatus(m.id, "sent");
    const record = waha.sent().find((r) => r.message.id === sent.externalId)!;
    expect(record.request).toMatchObject({
      chatId: chatOf(contact),
      text: "Cinco dias úteis.",
      reply_to: incoming.payload.id,
    });
    expect(record.message.replyTo?.id).toBe(incoming.payload.id);
  });

  it("WAHA's acks (posted to our inbound URL) move it to delivered, read, played", async () => {
    const first = await message(queued[0]!.id);
    await waha.ack(SESSION, first.externalId, "DEVICE");
    await waitStatus(first.id, "delivered");
    await waha.ack(SESSION, first.externalId, "READ");
    const read = await waitStatus(first.id, "read");
    expect(read.deliveredAt).not.toBeNull();
    expect(read.readAt).not.toBeNull();
    // Stale DEVICE after READ: stays read.
    await waha.ack(SESSION, first.externalId, "DEVICE");
    await waha.settled();
    const voice = await message(queued[4]!.id);
    await waha.ack(SESSION, voice.externalId, "PLAYED");
    const played = await waitStatus(voice.id, "played");
    expect(played.playedAt).not.toBeNull();
    expect((await message(first.id)).status).toBe("read");
    for (const d of waha.deliveries({ event: "message.ack" })) expect(d.status).toBe(200);
  });
});

describe("validation", () => {
  let other: { api: Api; contact: any };

  beforeAll(async () => {
    const created = await client(h.app, ADMIN_TOKEN).post("/v1/projects", { name: "Other" });
    expect(created.status).toBe(201);
    const api = client(h.app, created.body.apiKey);
    other = { api, contact: await newContact(api, "Outro Projeto") };
  });

  const count = async () =>
    Number(
      (
        await h.app.deps.database.db
          .selectFrom("messages")
          .select((eb) => eb.fn.countAll<string>().as("n"))
          .executeTakeFirstOrThrow()
      ).n,
    );

  it("refuses missing content with 400 naming the field", async () => {
    const before = await count();
    const base = { contactId: contact.id, channelId: channel.id };
    expectInvalid(await h.api.post("/v1/messages", { ...base, type: "text" }), "text");
    expectInvalid(await h.api.post("/v1/messages", { ...base, type: "image" }), "media.url");
    expectInvalid(await h.api.post("/v1/messages", { ...base, type: "location" }), "location");
    expectInvalid(await h.api.post("/v1/messages", { ...base, type: "contact" }), "vcard");
    expectInvalid(
      await h.api.post("/v1/messages", { ...base, type: "sticker", text: "x" }),
      "type",
    );
    expect(await count()).toBe(before);
  });

  it("unknown contact or channel: 404", async () => {
    const before = await count();
    const nobody = "0190c6b0-0000-7000-8000-000000000000";
    expectError(
      await h.api.post("/v1/messages", { ...text(contact, channel, "x"), contactId: nobody }),
      404,
      "CONTACT_NOT_FOUND",
    );
    expectError(
      await h.api.post("/v1/messages", { ...text(contact, channel, "x"), channelId: nobody }),
      404,
      "CHANNEL_NOT_FOUND",
    );
    expectError(
      await h.api.post("/v1/messages", { ...text(contact, channel, "x"), replyToId: nobody }),
      404,
      "REPLY_TO_NOT_FOUND",
    );
    expect(await count()).toBe(before);
  });

  it("another project's contact, channel or message: 404, nothing queued", async () => {
    const before = await count();
    expectError(
      await other.api.post("/v1/messages", text(contact, channel, "x")),
      404,
      "CONTACT_NOT_FOUND",
    );
    expectError(
      await other.api.post("/v1/messages", text(other.contact, channel, "x")),
      404,
      "CHANNEL_NOT_FOUND",
    );
    const mine = (await h.api.get(`/v1/messages?contactId=${contact.id}&limit=1`)).body.data[0];
    expectError(await other.api.get(`/v1/messages/${mine.id}`), 404, "MESSAGE_NOT_FOUND");
    expect((await other.api.get("/v1/messages")).body.data).toEqual([]);
    expect(await count()).toBe(before);
  });
});

describe("failure modes", () => {
  it("WAHA answers 500 twice then recovers: delivered exactly once", async () => {
    const { sim, ch, to, policy } = await isolated("Quinhentos");
    sim.faults.error(500, { route: "sendText", times: 2 });
    const m = await queue(h.api, text(to, ch, "Depois de dois 500"));
    const sent = await waitStatus(m.id, "sent");
    expect(sim.calls("sendText").map((c) => c.status)).toEqual([500, 500, 201]);
    const records = sim.sent({ chatId: chatOf(to) });
    expect(records).toHaveLength(1);
    expect(sent.externalId).toBe(records[0]!.message.id);
    const report = await integration(h.api, policy);
    expect(report.counts.retries).toBeGreaterThanOrEqual(2);
    expect(report.breaker.state).toBe("closed");
  });

  it("429 with Retry-After: the next attempt waits at least that long", async () => {
    const { sim, ch, to } = await isolated("Limite");
    sim.faults.rateLimit(1, { route: "sendText" });
    const m = await queue(h.api, text(to, ch, "Depois do 429"));
    await waitStatus(m.id, "sent");
    const calls = sim.calls("sendText");
    expect(calls.map((c) => c.status)).toEqual([429, 201]);
    // Times of the two recorded requests relative to each other (Retry-After: 1 s).
    expect(calls[1]!.time - calls[0]!.time).toBeGreaterThanOrEqual(995);
    expect(sim.sent({ chatId: chatOf(to) })).toHaveLength(1);
  });

  it("WAHA down: the breaker opens after the configured failures, sends fail fast without reaching WAHA, messages wait, then go out once each", async () => {
    const { sim, ch, to, policy } = await isolated("Fora do ar 1");
    sim.faults.error(500, { route: "sendText", times: 10_000 });
    const first = await queue(h.api, text(to, ch, "Primeira"));

    // Three failed attempts (WAHA_BREAKER_MIN_REQUESTS, all failures) open the breaker.
    await waitFor(
      async () => (await integration(h.api, policy))?.breaker.state === "open",
      30_000,
      {
        what: "breaker open",
      },
    );
    expect(sim.calls("sendText")).toHaveLength(3);
    const metrics = await h.app.server.inject({ method: "GET", url: "/metrics" });
    expect(metrics.body).toContain(`ventros_circuit_breaker_state{integration="${policy}"} 2`);
    expect((await message(first.id)).status).toBe("queued");

    // While open: a direct call is refused by our policy, classified, never reaching WAHA.
    const callsBefore = sim.calls().length;
    const target = { baseUrl: sim.baseUrl, apiKey: sim.apiKey, session: SESSION };
    await expect(
      h.app.deps.gateway.send(target, {
        chatId: chatOf(to),
        type: "text",
        text: "direto",
        media: null,
        location: null,
        vcard: null,
        replyToExternalId: null,
      }),
    ).rejects.toMatchObject({
      code: "INTEGRATION_CIRCUIT_OPEN",
      rejectedBy: "circuit_open",
      classification: "retryable",
    });
    expect(sim.calls().length).toBe(callsBefore);

    // More messages while it is open: their jobs run, are refused, and wait.
    const to2 = await newContact(h.api, "Fora do ar 2");
    const to3 = await newContact(h.api, "Fora do ar 3");
    const second = await queue(h.api, text(to2, ch, "Segunda"));
    const third = await queue(h.api, text(to3, ch, "Terceira"));
    for (const m of [second, third]) {
      await waitFor(
        async () => (await jobsFor(h.app, SEND_QUEUE, "messageId", m.id)).length >= 2,
        20_000,
        {
          what: `send job of ${m.id} refused and rescheduled`,
        },
      );
    }
    const report = await integration(h.api, policy);
    expect(report.breaker.state).toBe("open");
    expect(report.counts.byOutcome.rejected_open).toBeGreaterThanOrEqual(3);
    expect(sim.calls("sendText")).toHaveLength(3);
    expect(sim.calls("sendText").filter((c) => c.body?.chatId !== chatOf(to))).toEqual([]);
    for (const m of [first, second, third]) expect((await message(m.id)).status).toBe("queued");

    // WAHA recovers: after the half-open probe, every message goes out exactly once.
    sim.faults.clear();
    for (const m of [first, second, third]) await waitStatus(m.id, "sent", 60_000);
    for (const who of [to, to2, to3]) expect(sim.sent({ chatId: chatOf(who) })).toHaveLength(1);
    expect((await integration(h.api, policy)).breaker.state).toBe("closed");
  }, 120_000);

  it("a send that timed out after WAHA applied it is reconciled from chat history, never sent twice", async () => {
    const { sim, ch, to } = await isolated("Sem resposta");
    sim.faults.applyThenHang({ route: "sendText" });
    const m = await queue(h.api, text(to, ch, "Chegou mas a resposta se perdeu"));
    const sent = await waitStatus(m.id, "sent", 60_000);
    const records = sim.sent({ chatId: chatOf(to) });
    expect(records).toHaveLength(1);
    expect(records[0]!.call.outcome).toBe("hang");
    expect(sent.externalId).toBe(records[0]!.message.id);
    expect(sim.calls("sendText")).toHaveLength(1);
    const lookups = sim.calls({ method: "GET", path: /\/chats\/.+\/messages$/ });
    expect(lookups.length).toBeGreaterThanOrEqual(1);
    expect(lookups[0]!.path).toBe(`/api/${SESSION}/chats/${chatOf(to)}/messages`);
  }, 90_000);

  it("a send that timed out before WAHA applied it is looked up, then sent once", async () => {
    const { sim, ch, to } = await isolated("Travou");
    sim.faults.hang({ route: "sendText" });
    const m = await queue(h.api, text(to, ch, "Não chegou na primeira"));
    const sent = await waitStatus(m.id, "sent", 60_000);
    const records = sim.sent({ chatId: chatOf(to) });
    expect(records).toHaveLength(1);
    expect(sent.externalId).toBe(records[0]!.message.id);
    expect(sim.calls("sendText").map((c) => c.outcome)).toEqual(["hang", "answered"]);
    expect(sim.calls({ method: "GET", path: /\/chats\/.+\/messages$/ }).length).toBeGreaterThan(0);
  }, 90_000);

  it("reconciling never mistakes an earlier message in the chat for the lost one", async () => {
    const { sim, ch, to } = await isolated("Anterior");
    // A message already sent and recorded in this chat, with the same (empty) text.
    const before = await queue(h.api, {
      contactId: to.id,
      channelId: ch.id,
      type: "image",
      media: { url: sim.fileUrl(SESSION, "a.jpg"), mimetype: "image/jpeg" },
    });
    const earlier = await waitStatus(before.id, "sent");
    // The next image times out before WAHA took it: the lookup must not match the first.
    sim.faults.hang({ route: "sendImage" });
    const m = await queue(h.api, {
      contactId: to.id,
      channelId: ch.id,
      type: "image",
      media: { url: sim.fileUrl(SESSION, "b.jpg"), mimetype: "image/jpeg" },
    });
    const sent = await waitStatus(m.id, "sent", 60_000);
    expect(sent.externalId).not.toBe(earlier.externalId);
    const records = sim.sent({ chatId: chatOf(to), route: "sendImage" });
    expect(records.map((r) => r.request.file.url)).toEqual([
      sim.fileUrl(SESSION, "a.jpg"),
      sim.fileUrl(SESSION, "b.jpg"),
    ]);
    expect(sent.externalId).toBe(records[1]!.message.id);
  }, 90_000);

  it("a permanent refusal (400) fails the message with a reason, without retrying", async () => {
    const { sim, ch, to } = await isolated("Recusado");
    sim.faults.error(400, {
      route: "sendText",
      body: {
        statusCode: 400,
        message: ["chatId is not a valid WhatsApp id"],
        error: "Bad Request",
      },
    });
    const m = await queue(h.api, text(to, ch, "Vai falhar"));
    const failed = await waitStatus(m.id, "failed");
    expect(failed.failureReason).toMatch(/400/);
    expect(failed.externalId).toBeNull();
    expect(sim.calls("sendText")).toHaveLength(1);
    expect(sim.sent()).toHaveLength(0);
    const changes = await outboxEvents(h.app, ["message.status_changed"]);
    expect(
      changes.some(
        (e) =>
          e.aggregate_id === m.id &&
          (e.data as any).to === "failed" &&
          (e.data as any).failureReason,
      ),
    ).toBe(true);
  });
});

describe("pacing", () => {
  let p: WhatsAppHarness;

  beforeAll(async () => {
    p = await startWhatsApp({ WAHA_MIN_SEND_GAP_MS: "300", WAHA_CONTACT_HOURLY_LIMIT: "1" });
  }, 120_000);
  afterAll(async () => p?.close());

  it("sends on one WAHA session are spaced by WAHA_MIN_SEND_GAP_MS; a contact's hourly budget defers the rest", async () => {
    const sim = await p.simulator({ sessions: [SESSION] });
    const ch = await createChannel(p.api, sim, SESSION);
    const x = await newContact(p.api, "Xavier");
    const y = await newContact(p.api, "Yara");
    const a = await queue(p.api, text(x, ch, "Para X"));
    const b = await queue(p.api, text(y, ch, "Para Y"));
    await waitStatus(a.id, "sent", 30_000, p.api);
    await waitStatus(b.id, "sent", 30_000, p.api);
    const [first, second] = sim.calls("sendText");
    expect(sim.calls("sendText")).toHaveLength(2);
    // Our guarantee is on the moments we start the sends (the claimed slots); the gap seen
    // by WAHA also carries each request's own network time, so it gets a small margin.
    const attempts = await p.app.deps.database.db
      .selectFrom("messages")
      .select("send_attempted_at")
      .where("id", "in", [a.id, b.id])
      .orderBy("send_attempted_at")
      .execute();
    const [startA, startB] = attempts.map((r) => r.send_attempted_at!.getTime());
    expect(startB! - startA!).toBeGreaterThanOrEqual(300);
    expect(second!.time - first!.time).toBeGreaterThanOrEqual(250);

    const c = await queue(p.api, text(x, ch, "De novo para X"));
    await waitFor(
      async () =>
        (await jobsFor(p.app, SEND_QUEUE, "messageId", c.id)).some(
          (j) => j.start_after.getTime() > Date.now() + 30 * 60_000,
        ),
      20_000,
      { what: "the third message deferred by the hourly budget" },
    );
    expect((await message(c.id, p.api)).status).toBe("queued");
    expect(sim.sent({ chatId: chatOf(x) })).toHaveLength(1);
    expect(sim.calls("sendText")).toHaveLength(2);
  }, 90_000);
});
