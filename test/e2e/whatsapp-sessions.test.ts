import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { wahaEvents, type WahaSimulator } from "../simulators/waha-simulator.ts";
import { expectError } from "../support/api-assertions.ts";
import { client } from "../support/http.ts";
import { waitFor } from "../support/wait-for.ts";
import {
  createChannel,
  deliver,
  jobsFor,
  startWhatsApp,
  type CreatedChannel,
  type WhatsAppHarness,
} from "../support/whatsapp.ts";

/**
 * Conversation sessions end to end: started by inbound messages, extended by activity,
 * ended by their durable timeout job (driven here with a fake "now"), by a real delayed
 * job, or by hand; timeout resolution (pipeline over channel over project default); first
 * response.
 */

const SESSION = "acme-main";
const ADMIN_TOKEN = "sessions-suite-admin-token-0123456789";
const MINUTE = 60_000;

let h: WhatsAppHarness;
let waha: WahaSimulator;
/** No timeout of its own: the project default applies. */
let channel: CreatedChannel;
/** sessionTimeoutMinutes: 10. */
let shortChannel: CreatedChannel;

beforeAll(async () => {
  h = await startWhatsApp({ ADMIN_TOKEN });
  waha = await h.simulator({ sessions: [SESSION] });
  channel = await createChannel(h.api, waha, SESSION);
  shortChannel = await createChannel(h.api, waha, SESSION, { sessionTimeoutMinutes: 10 });
}, 120_000);
afterAll(async () => h?.close());

let phones = 0;
/** A new WhatsApp contact for each scenario, so sessions never mix. */
const newWid = () => `55119777${String(++phones).padStart(5, "0")}@c.us`;

async function contactOf(wid: string) {
  const res = await h.api.get(`/v1/contacts?phone=${wid.split("@")[0]}`);
  expect(res.body.data).toHaveLength(1);
  return res.body.data[0];
}

async function sessionsOf(contactId: string, query = "") {
  const res = await h.api.get(`/v1/sessions?contactId=${contactId}${query}`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.data as any[];
}

async function getSession(id: string) {
  const res = await h.api.get(`/v1/sessions/${id}`);
  expect(res.status).toBe(200);
  return res.body;
}

/** An inbound text from `from`, `secondsAgo` before now, through the inbound route. */
async function inbound(to: CreatedChannel, from: string, secondsAgo = 0, body = "Olá") {
  const timestampMs = Date.now() - secondsAgo * 1000;
  const event = wahaEvents.text({ session: SESSION, from, body, timestampMs });
  await deliver(h.app, to, event);
  return { event, at: new Date(event.payload.timestamp * 1000) };
}

describe("inactivity timeout with controlled time", () => {
  const wid = newWid();
  let sessionId: string;
  let lastActivity: Date;

  it("a recent message starts an active session with one timeout job", async () => {
    const { at } = await inbound(channel, wid, 60);
    const contact = await contactOf(wid);
    const sessions = await sessionsOf(contact.id);
    expect(sessions).toHaveLength(1);
    const session = sessions[0];
    expect(session).toMatchObject({
      status: "active",
      endReason: null,
      endedAt: null,
      startedAt: at.toISOString(),
      lastActivityAt: at.toISOString(),
      timeoutMinutes: 30,
      messageCount: 1,
    });
    sessionId = session.id;
    lastActivity = at;
    const jobs = await jobsFor(h.app, "session-timeout", "sessionId", sessionId);
    expect(jobs).toHaveLength(1);
    expect(jobs[0]!.start_after.getTime()).toBe(at.getTime() + 30 * MINUTE);
  });

  it("a check before the deadline keeps it active and schedules the next check", async () => {
    const fakeNow = new Date(lastActivity.getTime() + 29 * MINUTE);
    await h.app.deps.conversations.checkTimeout(sessionId, fakeNow);
    expect(await getSession(sessionId)).toMatchObject({ status: "active", endedAt: null });
    const jobs = await jobsFor(h.app, "session-timeout", "sessionId", sessionId);
    expect(jobs).toHaveLength(2);
    expect(jobs[1]!.start_after.getTime()).toBe(lastActivity.getTime() + 30 * MINUTE);
  });

  it("more activity moves the deadline: a check at the old deadline keeps it active", async () => {
    const { at } = await inbound(channel, wid, 0, "Ainda estou aqui");
    expect(at.getTime()).toBeGreaterThan(lastActivity.getTime() + 30_000);
    const oldDeadline = new Date(lastActivity.getTime() + 30 * MINUTE);
    lastActivity = at;
    await h.app.deps.conversations.checkTimeout(sessionId, oldDeadline);
    expect(await getSession(sessionId)).toMatchObject({
      status: "active",
      messageCount: 2,
      lastActivityAt: at.toISOString(),
    });
  });

  it("a check after the deadline ends it at lastActivity + timeout", async () => {
    const fakeNow = new Date(lastActivity.getTime() + 31 * MINUTE);
    await h.app.deps.conversations.checkTimeout(sessionId, fakeNow);
    expect(await getSession(sessionId)).toMatchObject({
      status: "ended",
      endReason: "inactivity_timeout",
      endedAt: new Date(lastActivity.getTime() + 30 * MINUTE).toISOString(),
      lastActivityAt: lastActivity.toISOString(),
    });
    const ended = await h.app.deps.database.db
      .selectFrom("outbox_events")
      .select("data")
      .where("type", "=", "session.ended")
      .where("aggregate_id", "=", sessionId)
      .execute();
    expect(ended).toHaveLength(1);
    expect(ended[0]!.data).toMatchObject({ endReason: "inactivity_timeout", messageCount: 2 });
    // A later check (the job firing again) changes nothing.
    await h.app.deps.conversations.checkTimeout(sessionId, new Date(fakeNow.getTime() + MINUTE));
    expect((await getSession(sessionId)).endReason).toBe("inactivity_timeout");
  });

  it("a new message after the end starts a new session", async () => {
    await inbound(channel, wid, 0, "Voltei");
    const contact = await contactOf(wid);
    const sessions = await sessionsOf(contact.id);
    expect(sessions).toHaveLength(2);
    const active = sessions.filter((s) => s.status === "active");
    expect(active).toHaveLength(1);
    expect(active[0].id).not.toBe(sessionId);
    expect(active[0]).toMatchObject({ messageCount: 1, endReason: null });
    expect(sessions.find((s) => s.id === sessionId).status).toBe("ended");
  });
});

describe("timeout resolution", () => {
  it("channel sessionTimeoutMinutes wins over the project default, which PATCH /v1/project sets", async () => {
    const patched = await h.api.patch("/v1/project", {
      settings: { defaultSessionTimeoutMinutes: 45 },
    });
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    expect(patched.body.settings.defaultSessionTimeoutMinutes).toBe(45);

    const onDefault = newWid();
    await inbound(channel, onDefault);
    const [viaProject] = await sessionsOf((await contactOf(onDefault)).id);
    expect(viaProject.timeoutMinutes).toBe(45);

    const onShort = newWid();
    const { at } = await inbound(shortChannel, onShort);
    const [viaChannel] = await sessionsOf((await contactOf(onShort)).id);
    expect(viaChannel.timeoutMinutes).toBe(10);
    const jobs = await jobsFor(h.app, "session-timeout", "sessionId", viaChannel.id);
    expect(jobs.at(-1)!.start_after.getTime()).toBe(at.getTime() + 10 * MINUTE);
    await h.app.deps.conversations.checkTimeout(
      viaChannel.id,
      new Date(at.getTime() + 11 * MINUTE),
    );
    expect(await getSession(viaChannel.id)).toMatchObject({
      status: "ended",
      endedAt: new Date(at.getTime() + 10 * MINUTE).toISOString(),
    });

    const restored = await h.api.patch("/v1/project", {
      settings: { defaultSessionTimeoutMinutes: 30 },
    });
    expect(restored.status).toBe(200);
  });

  it("resolves pipeline > channel > project default (5, then 20, then 30)", async () => {
    const project = await h.api.patch("/v1/project", {
      settings: { defaultSessionTimeoutMinutes: 30 },
    });
    expect(project.status).toBe(200);
    const pipeline = await h.api.post("/v1/pipelines", { name: "Sales", sessionTimeoutMinutes: 5 });
    expect(pipeline.status, JSON.stringify(pipeline.body)).toBe(201);
    const piped = await createChannel(h.api, waha, SESSION, {
      sessionTimeoutMinutes: 20,
      pipelineId: pipeline.body.id,
    });
    expect(piped).toMatchObject({ sessionTimeoutMinutes: 20, pipelineId: pipeline.body.id });
    const timeoutOfNewSession = async () => {
      const wid = newWid();
      await inbound(piped, wid);
      const [session] = await sessionsOf((await contactOf(wid)).id);
      return session.timeoutMinutes;
    };

    expect(await timeoutOfNewSession()).toBe(5);
    const cleared = await h.api.patch(`/v1/pipelines/${pipeline.body.id}`, {
      sessionTimeoutMinutes: null,
    });
    expect(cleared.status, JSON.stringify(cleared.body)).toBe(200);
    expect(await timeoutOfNewSession()).toBe(20);
    const unset = await h.api.patch(`/v1/channels/${piped.id}`, { sessionTimeoutMinutes: null });
    expect(unset.body).toMatchObject({ sessionTimeoutMinutes: null, pipelineId: pipeline.body.id });
    expect(await timeoutOfNewSession()).toBe(30);

    // pipelineId must name a pipeline of the same project; null detaches it.
    const created = await client(h.app, ADMIN_TOKEN).post("/v1/projects", { name: "Pipes" });
    const foreign = await client(h.app, created.body.apiKey).post("/v1/pipelines", { name: "X" });
    expect(foreign.status).toBe(201);
    expectError(
      await h.api.patch(`/v1/channels/${piped.id}`, { pipelineId: foreign.body.id }),
      404,
      "PIPELINE_NOT_FOUND",
    );
    expectError(
      await h.api.post("/v1/channels", {
        name: "Foreign pipeline",
        type: "waha",
        waha: { baseUrl: waha.baseUrl, apiKey: waha.apiKey, session: SESSION },
        pipelineId: foreign.body.id,
      }),
      404,
      "PIPELINE_NOT_FOUND",
    );
    const detached = await h.api.patch(`/v1/channels/${piped.id}`, { pipelineId: null });
    expect(detached.status).toBe(200);
    expect(detached.body.pipelineId).toBeNull();
  });

  it("one contact has one active session per channel", async () => {
    const wid = newWid();
    await inbound(channel, wid);
    await inbound(shortChannel, wid);
    await inbound(channel, wid, 0, "de novo");
    const contact = await contactOf(wid);
    const all = await sessionsOf(contact.id, "&status=active");
    expect(all).toHaveLength(2);
    expect(all.map((s) => s.channelId).sort()).toEqual([channel.id, shortChannel.id].sort());
    expect(all.find((s) => s.channelId === channel.id).messageCount).toBe(2);
  });
});

describe("ending by hand, first response", () => {
  it("POST /v1/sessions/:id/close ends it as manual_close (or with a given reason)", async () => {
    const wid = newWid();
    await inbound(channel, wid);
    const [session] = await sessionsOf((await contactOf(wid)).id);
    const before = Date.now();
    const closed = await h.api.post(`/v1/sessions/${session.id}/close`, {});
    const after = Date.now();
    expect(closed.status, JSON.stringify(closed.body)).toBe(200);
    expect(closed.body).toMatchObject({
      id: session.id,
      status: "ended",
      endReason: "manual_close",
    });
    const endedAt = Date.parse(closed.body.endedAt);
    expect(endedAt).toBeGreaterThanOrEqual(before - 1);
    expect(endedAt).toBeLessThanOrEqual(after + 1);
    // Closing again changes nothing.
    const again = await h.api.post(`/v1/sessions/${session.id}/close`, { reason: "other" });
    expect(again.body).toMatchObject({ endReason: "manual_close", endedAt: closed.body.endedAt });

    const other = newWid();
    await inbound(channel, other);
    const [second] = await sessionsOf((await contactOf(other)).id);
    const reasoned = await h.api.post(`/v1/sessions/${second.id}/close`, { reason: "spam" });
    expect(reasoned.body).toMatchObject({ status: "ended", endReason: "spam" });
  });

  it("our first answer (POST /v1/messages) sets firstResponseSeconds", async () => {
    const wid = newWid();
    const { at } = await inbound(channel, wid, 90, "Alguém aí?");
    const contact = await contactOf(wid);
    const before = Date.now();
    const sent = await h.api.post("/v1/messages", {
      contactId: contact.id,
      channelId: channel.id,
      type: "text",
      text: "Oi! Como posso ajudar?",
    });
    const after = Date.now();
    expect(sent.status, JSON.stringify(sent.body)).toBe(202);
    const session = await getSession(sent.body.sessionId);
    expect(session).toMatchObject({
      status: "active",
      messageCount: 2,
      inboundCount: 1,
      outboundCount: 1,
    });
    const low = Math.floor((before - at.getTime()) / 1000) - 1;
    const high = Math.ceil((after - at.getTime()) / 1000) + 1;
    expect(session.firstResponseSeconds).toBeGreaterThanOrEqual(low);
    expect(session.firstResponseSeconds).toBeLessThanOrEqual(high);
    expect(session.totalWaitSeconds).toBe(session.firstResponseSeconds);
    // A second answer does not change the first response.
    await h.api.post("/v1/messages", {
      contactId: contact.id,
      channelId: channel.id,
      type: "text",
      text: "Estou à disposição.",
    });
    expect((await getSession(session.id)).firstResponseSeconds).toBe(session.firstResponseSeconds);
    // The replies go out through WAHA (the simulator records them).
    await waitFor(() => waha.sent({ chatId: wid }).length === 2, 20_000, {
      what: "both replies sent",
    });
  });
});

describe("the real delayed job", () => {
  it("ends a session whose deadline has already passed (an old message)", async () => {
    const wid = newWid();
    // Two hours old: the session's deadline (30 min after) is long gone.
    const { at } = await inbound(channel, wid, 2 * 3600, "Mensagem antiga");
    const [session] = await sessionsOf((await contactOf(wid)).id);
    expect(session.startedAt).toBe(at.toISOString());
    const ended = await waitFor(
      async () => {
        const current = await getSession(session.id);
        return current.status === "ended" ? current : undefined;
      },
      30_000,
      { what: "the timeout job to end the session" },
    );
    expect(ended).toMatchObject({
      endReason: "inactivity_timeout",
      endedAt: new Date(at.getTime() + 30 * MINUTE).toISOString(),
    });
  });
});

describe("GET /v1/sessions", () => {
  it("filters by contact, channel and status, and pages", async () => {
    const wid = newWid();
    await inbound(channel, wid);
    await inbound(shortChannel, wid);
    const contact = await contactOf(wid);
    const [onShort] = await sessionsOf(contact.id, `&channelId=${shortChannel.id}`);
    await h.api.post(`/v1/sessions/${onShort.id}/close`, {});

    const all = await sessionsOf(contact.id);
    expect(all).toHaveLength(2);
    const active = await sessionsOf(contact.id, "&status=active");
    expect(active.map((s) => s.channelId)).toEqual([channel.id]);
    const ended = await sessionsOf(contact.id, "&status=ended");
    expect(ended.map((s) => s.id)).toEqual([onShort.id]);
    const byChannel = await sessionsOf(contact.id, `&channelId=${channel.id}`);
    expect(byChannel.map((s) => s.status)).toEqual(["active"]);

    const page = await h.api.get(`/v1/sessions?contactId=${contact.id}&limit=1`);
    expect(page.body.data).toHaveLength(1);
    expect(page.body.nextCursor).toEqual(expect.any(String));
    const next = await h.api.get(
      `/v1/sessions?contactId=${contact.id}&limit=1&cursor=${encodeURIComponent(page.body.nextCursor)}`,
    );
    expect(next.body.data).toHaveLength(1);
    expect(next.body.nextCursor).toBeNull();
    expect(next.body.data[0].id).not.toBe(page.body.data[0].id);

    const everything = await h.api.get(`/v1/sessions?channelId=${shortChannel.id}&limit=200`);
    expect(everything.body.data.every((s: any) => s.channelId === shortChannel.id)).toBe(true);
    const bad = await h.api.get("/v1/sessions?status=paused");
    expect(bad.status).toBe(400);
  });

  it("another project's session answers 404 and is never listed", async () => {
    const wid = newWid();
    await inbound(channel, wid);
    const [mine] = await sessionsOf((await contactOf(wid)).id);
    const created = await client(h.app, ADMIN_TOKEN).post("/v1/projects", { name: "Other" });
    expect(created.status).toBe(201);
    const other = client(h.app, created.body.apiKey);
    expectError(await other.get(`/v1/sessions/${mine.id}`), 404, "SESSION_NOT_FOUND");
    expectError(await other.post(`/v1/sessions/${mine.id}/close`, {}), 404, "SESSION_NOT_FOUND");
    const list = await other.get("/v1/sessions?limit=200");
    expect(list.body.data).toEqual([]);
    const filtered = await other.get(`/v1/sessions?channelId=${channel.id}`);
    expect(filtered.body.data).toEqual([]);
    expect((await getSession(mine.id)).status).toBe("active");
  });
});
