import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  buildMessage,
  DEFAULT_ME,
  envelope,
  signWebhookBody,
  wahaEvents,
  type WahaEvent,
  type WahaSimulator,
} from "../simulators/waha-simulator.ts";
import { expectError } from "../support/api-assertions.ts";
import {
  activateChannel,
  createChannel,
  deliver,
  fixture,
  inboundResult,
  inboundSettled,
  outboxEvents,
  postInbound,
  startWhatsApp,
  type CreatedChannel,
  type WhatsAppHarness,
} from "../support/whatsapp.ts";
import { waitFor } from "../support/wait-for.ts";

/**
 * WAHA events in, end to end: signed HTTP posts to /v1/inbound/waha/:inboundId, stored,
 * processed by durable jobs into contacts, sessions and messages. Every fixture of
 * ../shared/fixtures/waha and every event builder of the simulator goes through it.
 */

const SESSION = "acme-main";
const MARIA = "5511987654321";
const MARIA_WID = `${MARIA}@c.us`;
const ME = DEFAULT_ME.id;

let h: WhatsAppHarness;
let waha: WahaSimulator;
/** allowGroups: true, activated. */
let channel: CreatedChannel;
/** allowGroups: false, never activated. */
let noGroups: CreatedChannel;

beforeAll(async () => {
  h = await startWhatsApp({ INBOUND_BODY_LIMIT_BYTES: "65536" });
  waha = await h.simulator({ sessions: [SESSION] });
  channel = await createChannel(h.api, waha, SESSION, { allowGroups: true });
  noGroups = await createChannel(h.api, waha, SESSION);
}, 120_000);
afterAll(async () => h?.close());

const db = () => h.app.deps.database.db;

async function messageByExternalId(externalId: string) {
  const row = await db()
    .selectFrom("messages")
    .select("id")
    .where("external_id", "=", externalId)
    .executeTakeFirst();
  if (!row) return undefined;
  const res = await h.api.get(`/v1/messages/${row.id}`);
  expect(res.status).toBe(200);
  return res.body;
}

async function countRows(table: "inbound_events" | "messages" | "contacts") {
  const row = await db()
    .selectFrom(table)
    .select((eb) => eb.fn.countAll<string>().as("n"))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

async function contactByPhone(phone: string) {
  const res = await h.api.get(`/v1/contacts?phone=${phone}`);
  expect(res.status).toBe(200);
  expect(res.body.data).toHaveLength(1);
  return res.body.data[0];
}

async function sessionsOf(contactId: string, channelId = channel.id) {
  const res = await h.api.get(`/v1/sessions?contactId=${contactId}&channelId=${channelId}`);
  expect(res.status).toBe(200);
  return res.body.data as any[];
}

const iso = (seconds: number) => new Date(seconds * 1000).toISOString();

describe("activation", () => {
  it("pushes our inbound URL, events and HMAC key to WAHA and becomes active", async () => {
    expect(channel.status).toBe("inactive");
    expect(channel.inboundUrl).toMatch(
      /^https:\/\/ventros\.example\.test\/v1\/inbound\/waha\/\S+$/,
    );
    await activateChannel(h, waha, channel.id);

    const puts = waha.calls(`PUT /api/sessions/${SESSION}`);
    expect(puts).toHaveLength(1);
    expect(puts[0]!.headers["x-api-key"]).toBe(waha.apiKey);
    const webhooks = puts[0]!.body.config.webhooks;
    expect(webhooks).toHaveLength(1);
    expect(webhooks[0]).toMatchObject({
      url: channel.inboundUrl,
      hmac: { key: channel.inboundSecret },
    });
    expect([...webhooks[0].events].sort()).toEqual(
      [
        "message",
        "message.any",
        "message.ack",
        "message.reaction",
        "message.edited",
        "message.revoked",
        "session.status",
      ].sort(),
    );
    // WAHA holds the config now, and its status posts (the restart after a config change)
    // reached us signed with that key.
    expect(waha.session(SESSION).config.webhooks?.[0]?.url).toBe(channel.inboundUrl);
    const posts = waha.deliveries({ event: "session.status" });
    expect(posts.length).toBeGreaterThan(0);
    for (const post of posts) expect(post.status, JSON.stringify(post)).toBe(200);
    const res = await h.api.get(`/v1/channels/${channel.id}`);
    expect(res.body.status).toBe("active");
  });
});

describe("fixtures", () => {
  const names = [
    "message-text",
    "message-image-caption",
    "message-voice",
    "message-document",
    "message-location",
    "message-vcard",
    "message-group-mention",
    "message-from-me-other-device",
  ];
  // The samples, moved to now (after the activation above, so they are current events).
  let now = 0;
  let events: Record<string, WahaEvent<any>> = {};
  let ids: Record<string, string> = {};
  const at = (name: string) => iso(events[name]!.payload.timestamp as number);
  let maria: any;

  beforeAll(() => {
    now = Date.now();
    events = Object.fromEntries(names.map((n) => [n, fixture(n, now)]));
    ids = Object.fromEntries(names.map((n) => [n, events[n]!.payload.id as string]));
  });

  it("each message sample is accepted with 200 and processed", async () => {
    for (const name of names) {
      const answer = await deliver(h.app, channel, events[name]!);
      expect(answer).toEqual({ received: true, duplicate: false });
      const stored = await inboundResult(h.app, events[name]!.id);
      expect(stored, name).toMatchObject({ status: "processed", channel_id: channel.id });
    }
  });

  it("makes one contact: phone digits, name from pushName, WhatsApp id, interaction times", async () => {
    maria = await contactByPhone(MARIA);
    expect(maria).toMatchObject({
      name: "Maria Souza",
      phone: MARIA,
      whatsapp: { wid: MARIA_WID },
      firstInteractionAt: at("message-text"),
      lastInteractionAt: at("message-from-me-other-device"),
    });
  });

  it("makes one active session with the counts and the first response time", async () => {
    const sessions = await sessionsOf(maria.id);
    expect(sessions).toHaveLength(1);
    expect(sessions[0]).toMatchObject({
      contactId: maria.id,
      channelId: channel.id,
      status: "active",
      endReason: null,
      endedAt: null,
      startedAt: at("message-text"),
      lastActivityAt: at("message-from-me-other-device"),
      messageCount: 8,
      inboundCount: 7,
      outboundCount: 1,
      timeoutMinutes: 30,
      // Our answer (from the phone) came 7 s after Maria's first message.
      firstResponseSeconds: 7,
    });
  });

  it("stores each message with its type and content", async () => {
    const sessionId = (await sessionsOf(maria.id))[0].id;
    const common = {
      channelId: channel.id,
      contactId: maria.id,
      sessionId,
      direction: "inbound",
      status: "delivered",
      enrichments: [],
    };
    const text = await messageByExternalId(ids["message-text"]!);
    expect(text).toMatchObject({
      ...common,
      type: "text",
      text: "Olá! Quero saber o preço do plano anual.",
      media: null,
      sentAt: at("message-text"),
      deliveredAt: at("message-text"),
    });
    expect(await messageByExternalId(ids["message-image-caption"]!)).toMatchObject({
      ...common,
      type: "image",
      text: "Segue a foto do produto",
      media: {
        url: "http://127.0.0.1:3000/api/files/acme-main/3EB0A1B2C3D4E5F60002.jpeg",
        mimetype: "image/jpeg",
        filename: null,
      },
    });
    expect(await messageByExternalId(ids["message-voice"]!)).toMatchObject({
      ...common,
      type: "voice",
      text: null,
      media: {
        url: "http://127.0.0.1:3000/api/files/acme-main/3EB0A1B2C3D4E5F60003.oga",
        mimetype: "audio/ogg; codecs=opus",
        filename: null,
      },
    });
    expect(await messageByExternalId(ids["message-document"]!)).toMatchObject({
      ...common,
      type: "document",
      // The body is only the file name, not a caption.
      text: null,
      media: {
        url: "http://127.0.0.1:3000/api/files/acme-main/3EB0A1B2C3D4E5F60004.pdf",
        mimetype: "application/pdf",
        filename: "contrato.pdf",
      },
    });
    expect(await messageByExternalId(ids["message-location"]!)).toMatchObject({
      ...common,
      type: "location",
      text: null,
      media: null,
      location: {
        latitude: -23.5613,
        longitude: -46.6565,
        name: "Av. Paulista, 1000",
        address: "São Paulo",
      },
    });
    const vcard = await messageByExternalId(ids["message-vcard"]!);
    expect(vcard).toMatchObject({ ...common, type: "contact", media: null });
    expect(vcard.vcard).toContain("FN:João Lima");
    expect(vcard.vcard).toContain("waid=5521988887777");
    expect(await messageByExternalId(ids["message-group-mention"]!)).toMatchObject({
      ...common,
      type: "text",
      text: "@5511900000001 alguém pode me ajudar?",
      group: { id: "120363000000000001@g.us", mentions: [ME] },
    });
    const mine = await messageByExternalId(ids["message-from-me-other-device"]!);
    expect(mine).toMatchObject({
      ...common,
      direction: "outbound",
      type: "text",
      text: "Oi Maria, o plano anual custa R$ 1.200.",
      status: "sent",
      sentAt: at("message-from-me-other-device"),
      deliveredAt: null,
      group: null,
    });
    const list = await h.api.get(`/v1/messages?contactId=${maria.id}&limit=200`);
    expect(list.body.data).toHaveLength(8);
    const inboundOnly = await h.api.get(`/v1/messages?contactId=${maria.id}&direction=outbound`);
    expect(inboundOnly.body.data.map((m: any) => m.externalId)).toEqual([
      ids["message-from-me-other-device"],
    ]);
  });

  it("emits message.received, message.sent, contact.created and session.started", async () => {
    const rows = await outboxEvents(h.app, [
      "message.received",
      "message.sent",
      "contact.created",
      "session.started",
    ]);
    const mine = rows.filter((r) => JSON.stringify(r.data).includes(maria.id));
    const count = (type: string) => mine.filter((r) => r.type === type).length;
    expect(count("message.received")).toBe(7);
    expect(count("message.sent")).toBe(1);
    expect(count("contact.created")).toBe(1);
    expect(count("session.started")).toBe(1);
    const created = mine.find((r) => r.type === "contact.created")!;
    expect(created.aggregate_id).toBe(maria.id);
    expect(created.data).toMatchObject({ contact: { phone: MARIA, name: "Maria Souza" } });
    const received = mine.find((r) => r.type === "message.received")!;
    expect(received.data).toMatchObject({
      contactId: maria.id,
      message: { direction: "inbound", externalId: ids["message-text"] },
    });
  });

  it("acks (samples): DEVICE then READ move our message forward, never back", async () => {
    const id = ids["message-from-me-other-device"]!;
    const device = fixture("message-ack-device", now);
    await deliver(h.app, channel, device);
    let message = await messageByExternalId(id);
    expect(message).toMatchObject({
      status: "delivered",
      deliveredAt: new Date(device.timestamp).toISOString(),
      readAt: null,
    });
    const read = fixture("message-ack-read", now);
    await deliver(h.app, channel, read);
    message = await messageByExternalId(id);
    expect(message).toMatchObject({
      status: "read",
      deliveredAt: new Date(device.timestamp).toISOString(),
      readAt: new Date(read.timestamp).toISOString(),
    });
    // A late DEVICE ack (WAHA resends) does not move it back.
    const late = wahaEvents.ack({ session: SESSION, messageId: id, ack: "DEVICE" });
    await deliver(h.app, channel, late);
    expect((await inboundResult(h.app, late.id))?.result).toMatch(/^ignored: read does not move/);
    expect((await messageByExternalId(id)).status).toBe("read");
  });

  it("reaction (sample) is recorded on the message, and removed by an empty reaction", async () => {
    const id = ids["message-from-me-other-device"]!;
    const reaction = fixture("message-reaction", now);
    await deliver(h.app, channel, reaction);
    let message = await messageByExternalId(id);
    expect(message.reactions).toEqual([
      { emoji: "👍", by: MARIA_WID, at: iso(reaction.payload.timestamp) },
    ]);
    await deliver(
      h.app,
      channel,
      wahaEvents.reaction({ session: SESSION, messageId: id, from: MARIA_WID, text: "" }),
    );
    message = await messageByExternalId(id);
    expect(message.reactions).toEqual([]);
  });

  it("edited and revoked are recorded on the message they name", async () => {
    const edited = wahaEvents.edited({
      session: SESSION,
      from: MARIA_WID,
      editedMessageId: ids["message-text"]!,
      body: "Olá! Quero saber o preço do plano mensal.",
    });
    await deliver(h.app, channel, edited);
    expect((await inboundResult(h.app, edited.id))?.result).toBe("message edited");
    expect(await messageByExternalId(ids["message-text"]!)).toMatchObject({
      text: "Olá! Quero saber o preço do plano mensal.",
      editedAt: iso(edited.payload.timestamp),
      revokedAt: null,
    });

    const revoked = wahaEvents.revoked({
      session: SESSION,
      from: MARIA_WID,
      revokedMessageId: ids["message-image-caption"]!,
    });
    await deliver(h.app, channel, revoked);
    expect((await inboundResult(h.app, revoked.id))?.result).toBe("message revoked");
    const image = await messageByExternalId(ids["message-image-caption"]!);
    expect(image.revokedAt).not.toBeNull();
    expect(image.editedAt).toBeNull();
  });

  it("session.status samples move the channel status (WORKING -> active, FAILED -> failed)", async () => {
    // Status events are ordered by their own time, and the WORKING sample is dated one
    // second before "now": let time pass since the channel's last status change, as
    // it would between real events, so the sample is not (rightly) ignored as stale.
    const row = await h.app.deps.database.db
      .selectFrom("channels")
      .select("status_changed_at")
      .where("id", "=", channel.id)
      .executeTakeFirstOrThrow();
    const since = row.status_changed_at?.getTime() ?? 0;
    // (fixture() works in whole seconds, so two seconds make the sample strictly newer)
    await waitFor(async () => Date.now() > since + 2_100, 5_000, {
      what: "two seconds after the last status",
    });
    const working = fixture("session-status-working", Date.now());
    const failed = fixture("session-status-failed", Date.now());
    expect(failed.timestamp).toBeGreaterThan(working.timestamp);
    await deliver(h.app, channel, working);
    expect(await inboundResult(h.app, working.id)).toMatchObject({ result: "channel active" });
    expect((await h.api.get(`/v1/channels/${channel.id}`)).body.status).toBe("active");
    await deliver(h.app, channel, failed);
    expect((await h.api.get(`/v1/channels/${channel.id}`)).body.status).toBe("failed");
  });
});

describe("builders: every other message kind", () => {
  const FROM = "5511911112222@c.us";
  const base = { session: SESSION, from: FROM, pushName: "Bruno Builder" } as const;
  let bruno: any;
  let first: WahaEvent<any>;

  it("text arriving as `message` creates the contact and a session", async () => {
    first = wahaEvents.text({ ...base, event: "message", body: "Oi, tudo bem?" });
    await deliver(h.app, channel, first);
    bruno = await contactByPhone("5511911112222");
    expect(bruno).toMatchObject({ name: "Bruno Builder", whatsapp: { wid: FROM } });
    expect(await messageByExternalId(first.payload.id)).toMatchObject({
      type: "text",
      text: "Oi, tudo bem?",
      direction: "inbound",
      contactId: bruno.id,
    });
  });

  it("video, audio, sticker, captioned document, contacts array and reply", async () => {
    const media = { ...base, mediaBaseUrl: waha.baseUrl };
    const cases: Array<{ event: WahaEvent<any>; expected: Record<string, unknown> }> = [
      {
        event: wahaEvents.video({ ...media, caption: "Olha o vídeo" }),
        expected: { type: "video", text: "Olha o vídeo", media: { mimetype: "video/mp4" } },
      },
      {
        event: wahaEvents.audio(media),
        expected: { type: "audio", text: null, media: { mimetype: "audio/mpeg" } },
      },
      {
        event: wahaEvents.sticker(media),
        expected: { type: "sticker", text: null, media: { mimetype: "image/webp" } },
      },
      {
        event: wahaEvents.image({ ...media, caption: "" }),
        expected: { type: "image", text: null, media: { mimetype: "image/jpeg" } },
      },
      {
        event: wahaEvents.document({
          ...media,
          caption: "Segue o contrato assinado",
          filename: "assinado.pdf",
        }),
        expected: {
          type: "document",
          text: "Segue o contrato assinado",
          media: { mimetype: "application/pdf", filename: "assinado.pdf" },
        },
      },
      {
        event: wahaEvents.vcard({
          ...base,
          contacts: [
            { displayName: "Ana", vcard: "BEGIN:VCARD\nVERSION:3.0\nFN:Ana\nEND:VCARD" },
            { displayName: "Caio", vcard: "BEGIN:VCARD\nVERSION:3.0\nFN:Caio\nEND:VCARD" },
          ],
        }),
        expected: { type: "contact", media: null },
      },
      {
        event: wahaEvents.reply({ ...base, body: "Esse mesmo", replyTo: first.payload.id }),
        expected: { type: "text", text: "Esse mesmo" },
      },
    ];
    for (const { event, expected } of cases) {
      await deliver(h.app, channel, event);
      const message = await messageByExternalId(event.payload.id);
      expect(message, JSON.stringify(expected)).toMatchObject({
        ...expected,
        direction: "inbound",
        contactId: bruno.id,
      });
      if (event.payload.media) expect(message.media.url).toBe(event.payload.media.url);
    }
    const contacts = await messageByExternalId(cases[5]!.event.payload.id);
    expect(contacts.vcard).toContain("FN:Ana");
    expect(contacts.vcard).toContain("FN:Caio");
    const reply = await messageByExternalId(cases[6]!.event.payload.id);
    expect(reply.replyToId).toBe((await messageByExternalId(first.payload.id)).id);
    const sessions = await sessionsOf(bruno.id);
    expect(sessions).toHaveLength(1);
    expect(sessions[0]).toMatchObject({ status: "active", messageCount: 8, inboundCount: 8 });
  });

  it("Click-to-WhatsApp ad fields are stored as attribution (posted by WAHA itself)", async () => {
    const ad = {
      title: "Plano anual com 20% off",
      body: "Fale com a gente no WhatsApp",
      mediaType: "IMAGE",
      sourceType: "ad",
      sourceID: "120210000000000001",
      sourceURL: "https://fb.me/1AbCdEf",
      ctwaClid: "Afc1234567890abcdef",
    };
    const event = wahaEvents.text({ ...base, body: "Vi o anúncio, quero saber mais" });
    event.payload._data.Message = {
      extendedTextMessage: {
        text: event.payload.body,
        contextInfo: { externalAdReply: ad },
      },
    };
    // Through the simulator: a real HTTP post to our inbound URL, signed with our key.
    const [delivery] = await waha.emit(event);
    expect(delivery?.status, JSON.stringify(delivery)).toBe(200);
    await inboundSettled(h.app);
    const message = await messageByExternalId(event.payload.id);
    expect(message).toMatchObject({ type: "text", attribution: ad });
    // A plain message has none.
    expect((await messageByExternalId(first.payload.id)).attribution).toBeNull();
  });
});

describe("acks in and out of order", () => {
  it("an ack that arrives before its message is kept and applied when it arrives", async () => {
    const message = wahaEvents.fromMeOtherDevice({
      session: SESSION,
      to: MARIA_WID,
      body: "Mandei pelo celular",
    });
    const id = message.payload.id as string;
    const read = wahaEvents.ack({ session: SESSION, messageId: id, ack: "READ" });
    await deliver(h.app, channel, read);
    expect((await inboundResult(h.app, read.id))?.result).toBe(
      "ack kept until its message arrives",
    );
    const device = wahaEvents.ack({ session: SESSION, messageId: id, ack: "DEVICE" });
    await deliver(h.app, channel, device);
    expect(await messageByExternalId(id)).toBeUndefined();

    await deliver(h.app, channel, message);
    expect(await messageByExternalId(id)).toMatchObject({
      direction: "outbound",
      status: "read",
      deliveredAt: expect.any(String),
      readAt: new Date(read.timestamp).toISOString(),
    });
    const waiting = await h.app.deps.database.db
      .selectFrom("pending_acks")
      .selectAll()
      .where("external_id", "=", id)
      .execute();
    expect(waiting).toEqual([]);
  });

  it("a voice note we sent moves to played, with delivered and read times filled", async () => {
    const payload = buildMessage({
      kind: "voice",
      chatId: MARIA_WID,
      fromMe: true,
      me: DEFAULT_ME,
      session: SESSION,
      mediaBaseUrl: waha.baseUrl,
    });
    const voice = envelope("message.any", payload, { session: SESSION });
    await deliver(h.app, channel, voice);
    expect(await messageByExternalId(payload.id)).toMatchObject({
      type: "voice",
      direction: "outbound",
      status: "sent",
    });
    const played = wahaEvents.ack({ session: SESSION, messageId: payload.id, ack: "PLAYED" });
    await deliver(h.app, channel, played);
    const when = new Date(played.timestamp).toISOString();
    expect(await messageByExternalId(payload.id)).toMatchObject({
      status: "played",
      deliveredAt: when,
      readAt: when,
      playedAt: when,
    });
    // READ after PLAYED is stale.
    await deliver(
      h.app,
      channel,
      wahaEvents.ack({ session: SESSION, messageId: payload.id, ack: "READ" }),
    );
    expect((await messageByExternalId(payload.id)).status).toBe("played");
  });
});

describe("what is not stored twice or at all", () => {
  it("the same event id twice is answered as a duplicate and applied once", async () => {
    const event = wahaEvents.text({ session: SESSION, from: MARIA_WID, body: "Duas vezes?" });
    const first = await deliver(h.app, channel, event);
    expect(first.duplicate).toBe(false);
    const again = await postInbound(h.app, channel.inboundPath, event, {
      secret: channel.inboundSecret,
    });
    expect({ status: again.status, body: again.body }).toEqual({
      status: 200,
      body: { received: true, duplicate: true },
    });
    await inboundSettled(h.app);
    const rows = await db()
      .selectFrom("messages")
      .select("id")
      .where("external_id", "=", event.payload.id)
      .execute();
    expect(rows).toHaveLength(1);
  });

  it("the same message as `message` and `message.any` is stored once", async () => {
    const any = wahaEvents.text({ session: SESSION, from: MARIA_WID, body: "Pelos dois eventos" });
    const plain = { ...structuredClone(any), id: `${any.id}x`, event: "message" };
    const before = (await sessionsOf((await contactByPhone(MARIA)).id))[0].messageCount;
    const answers = await Promise.all([
      postInbound(h.app, channel.inboundPath, plain, { secret: channel.inboundSecret }),
      postInbound(h.app, channel.inboundPath, any, { secret: channel.inboundSecret }),
    ]);
    for (const answer of answers)
      expect({ status: answer.status, body: answer.body }).toEqual({
        status: 200,
        body: { received: true, duplicate: false },
      });
    await inboundSettled(h.app);
    const rows = await db()
      .selectFrom("messages")
      .select("id")
      .where("external_id", "=", any.payload.id)
      .execute();
    expect(rows).toHaveLength(1);
    const results = [
      (await inboundResult(h.app, any.id))?.result,
      (await inboundResult(h.app, plain.id))?.result,
    ].sort();
    expect(results).toEqual(["ignored: duplicate message", "inbound text recorded"]);
    const after = (await sessionsOf((await contactByPhone(MARIA)).id))[0].messageCount;
    expect(after).toBe(before + 1);
  });

  it("status@broadcast is not a conversation message", async () => {
    const contactsBefore = await countRows("contacts");
    const status = wahaEvents.image({ session: SESSION, from: "status@broadcast" });
    await deliver(h.app, channel, status);
    expect(await inboundResult(h.app, status.id)).toMatchObject({
      status: "ignored",
      result: "ignored: status broadcast",
    });
    expect(await messageByExternalId(status.payload.id)).toBeUndefined();
    expect(await countRows("contacts")).toBe(contactsBefore);
  });

  it("group messages are ignored on a channel without allowGroups", async () => {
    const group = wahaEvents.group({
      session: SESSION,
      participant: "5511933334444@c.us",
      pushName: "Gui Grupo",
    });
    await deliver(h.app, noGroups, group);
    expect(await inboundResult(h.app, group.id)).toMatchObject({
      status: "ignored",
      result: "ignored: group messages are not enabled on this channel",
      channel_id: noGroups.id,
    });
    expect(await messageByExternalId(group.payload.id)).toBeUndefined();
    const res = await h.api.get("/v1/contacts?phone=5511933334444");
    expect(res.body.data).toEqual([]);
  });

  it("refuses bad and missing signatures, unknown ids, malformed and oversize bodies", async () => {
    const before = {
      events: await countRows("inbound_events"),
      messages: await countRows("messages"),
    };
    const event = wahaEvents.text({ session: SESSION, from: MARIA_WID, body: "não deve entrar" });
    const path = channel.inboundPath;

    const wrongKey = await postInbound(h.app, path, event, { secret: "not-the-channel-secret" });
    expectError(wrongKey, 401, "SIGNATURE_INVALID");
    const tampered = JSON.stringify(event);
    const signedOther = await postInbound(h.app, path, event, {
      secret: channel.inboundSecret,
      rawBody: tampered.replace("não deve entrar", "adulterado!!!!!"),
      headers: {
        "x-webhook-hmac": signWebhookBody(tampered, channel.inboundSecret),
      },
    });
    expect(signedOther.status).toBe(401);
    const missing = await postInbound(h.app, path, event);
    expectError(missing, 401, "SIGNATURE_MISSING");
    const unknown = await postInbound(h.app, "/v1/inbound/waha/no-such-inbound-id", event, {
      secret: channel.inboundSecret,
    });
    expectError(unknown, 404, "CHANNEL_NOT_FOUND");
    const malformed = await postInbound(h.app, path, event, {
      secret: channel.inboundSecret,
      rawBody: '{"event": "message", "payload": {',
    });
    expectError(malformed, 400, "MALFORMED_JSON");
    const notAnEvent = await postInbound(h.app, path, event, {
      secret: channel.inboundSecret,
      rawBody: JSON.stringify({ hello: "world" }),
    });
    expectError(notAnEvent, 400, "INVALID_EVENT");
    const huge = { ...event, padding: "x".repeat(70_000) };
    const oversize = await postInbound(h.app, path, huge, { secret: channel.inboundSecret });
    expectError(oversize, 413, "PAYLOAD_TOO_LARGE");

    await inboundSettled(h.app);
    expect(await countRows("inbound_events")).toBe(before.events);
    expect(await countRows("messages")).toBe(before.messages);
  });
});

describe("session.status", () => {
  it("moves the channel status: STOPPED, SCAN_QR_CODE, FAILED, WORKING", async () => {
    const expected = [
      ["STOPPED", "disconnected"],
      ["SCAN_QR_CODE", "activating"],
      ["FAILED", "failed"],
      ["WORKING", "active"],
    ] as const;
    let at = Date.now();
    for (const [status, channelStatus] of expected) {
      at += 1;
      await deliver(
        h.app,
        channel,
        wahaEvents.sessionStatus({ session: SESSION, status, timestampMs: at }),
      );
      const res = await h.api.get(`/v1/channels/${channel.id}`);
      expect(res.body.status, status).toBe(channelStatus);
    }
    const changes = await outboxEvents(h.app, ["channel.status_changed"]);
    expect(changes.length).toBeGreaterThanOrEqual(expected.length);
    expect(changes.at(-1)!.data).toMatchObject({
      channelId: channel.id,
      from: "failed",
      to: "active",
    });
  });

  it("a status event older than the last change is stale and ignored (out-of-order processing)", async () => {
    const stale = wahaEvents.sessionStatus({
      session: SESSION,
      status: "STOPPED",
      timestampMs: Date.now() - 60_000,
    });
    await deliver(h.app, channel, stale);
    expect(await inboundResult(h.app, stale.id)).toMatchObject({
      status: "ignored",
      result: "ignored: stale session status STOPPED",
    });
    expect((await h.api.get(`/v1/channels/${channel.id}`)).body.status).toBe("active");
  });

  it("WAHA's own posts (a restart through the simulator) end with the channel active", async () => {
    waha.setStatus(SESSION, "STOPPED");
    waha.setStatus(SESSION, "STARTING");
    waha.setStatus(SESSION, "WORKING");
    await waha.settled(10_000);
    await inboundSettled(h.app);
    await waitFor(
      async () => (await h.api.get(`/v1/channels/${channel.id}`)).body.status === "active",
      10_000,
      { what: "channel active again" },
    );
  });
});
