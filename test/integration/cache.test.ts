import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { UnitOfWork } from "../../src/services/unit-of-work.ts";
import { wahaEvents, type WahaSimulator } from "../simulators/waha-simulator.ts";
import { expectError } from "../support/api-assertions.ts";
import { metricValue, readsDuring } from "../support/cache-metrics.ts";
import { client } from "../support/http.ts";
import { waitFor } from "../support/wait-for.ts";
import {
  createChannel,
  deliver,
  freshPhone,
  inboundSettled,
  postInbound,
  startWhatsApp,
  type Api,
  type CreatedChannel,
  type WhatsAppHarness,
} from "../support/whatsapp.ts";

/**
 * The read-through cache on the embedded backends (memory tier only): every cached
 * entity is read through it, and every write is visible to the next read at once; the
 * fill race; API key revocation; the durable invalidation consumer.
 */

const SESSION = "cache-main";
let h: WhatsAppHarness;
let api: Api;
let waha: WahaSimulator;

beforeAll(async () => {
  // The outbox relay stays stopped: the event consumer's invalidation (a second, durable
  // path) must not hide a writer that forgot its own. The consumer's test starts it.
  h = await startWhatsApp({}, { compose: { relay: false } });
  api = h.api;
  waha = await h.simulator({ sessions: [SESSION] });
}, 120_000);
afterAll(async () => h?.close());

async function newContact(body: Record<string, unknown> = {}) {
  const res = await api.post("/v1/contacts", { name: "Cached Person", ...body });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as { id: string; name: string; phone: string | null };
}

describe("contacts", () => {
  it("a second GET is answered by the cache, its API key lookup too (no database read)", async () => {
    const contact = await newContact();
    await api.get(`/v1/contacts/${contact.id}`);
    const { value, reads } = await readsDuring(h.app, ["contact", "api_key"], () =>
      api.get(`/v1/contacts/${contact.id}`),
    );
    expect(value.status).toBe(200);
    expect(value.body).toMatchObject({ id: contact.id, name: "Cached Person" });
    expect(reads).toEqual({ contact: { hit: 1 }, api_key: { hit: 1 } });
  });

  it("PATCH then GET answers the new value at once; DELETE then GET answers 404 at once", async () => {
    const contact = await newContact({ tags: ["a"] });
    expect((await api.get(`/v1/contacts/${contact.id}`)).body.tags).toEqual(["a"]);
    const patched = await api.patch(`/v1/contacts/${contact.id}`, { name: "Renamed", tags: ["b"] });
    expect(patched.status).toBe(200);
    const got = await api.get(`/v1/contacts/${contact.id}`);
    expect(got.body).toEqual(patched.body);
    expect(got.body).toMatchObject({ name: "Renamed", tags: ["b"] });

    expect((await api.delete(`/v1/contacts/${contact.id}`)).status).toBe(204);
    expectError(await api.get(`/v1/contacts/${contact.id}`), 404, "CONTACT_NOT_FOUND");
    // The miss is cached (negative TTL) and still right.
    const { value, reads } = await readsDuring(h.app, ["contact"], () =>
      api.get(`/v1/contacts/${contact.id}`),
    );
    expectError(value, 404, "CONTACT_NOT_FOUND");
    expect(reads).toEqual({ contact: { hit: 1 } });
  });

  it("?phone= is answered through the phone entry and follows phone changes and deletes", async () => {
    const phone = freshPhone("55219");
    const other = freshPhone("55219");
    const contact = await newContact({ phone });
    const byPhone = async (p: string) => (await api.get(`/v1/contacts?phone=%2B${p}`)).body;
    expect(await byPhone(phone)).toEqual({
      data: [expect.objectContaining({ id: contact.id })],
      nextCursor: null,
    });
    const { reads } = await readsDuring(h.app, ["contact_phone", "contact"], () => byPhone(phone));
    expect(reads).toEqual({ contact_phone: { hit: 1 }, contact: { hit: 1 } });

    expect((await api.patch(`/v1/contacts/${contact.id}`, { phone: other })).status).toBe(200);
    expect(await byPhone(phone)).toEqual({ data: [], nextCursor: null });
    expect((await byPhone(other)).data.map((c: { id: string }) => c.id)).toEqual([contact.id]);
    // The freed phone goes to a new contact: found at once.
    const second = await newContact({ phone });
    expect((await byPhone(phone)).data.map((c: { id: string }) => c.id)).toEqual([second.id]);
    expect((await api.delete(`/v1/contacts/${second.id}`)).status).toBe(204);
    expect(await byPhone(phone)).toEqual({ data: [], nextCursor: null });
  });

  it("fill race: a read that loaded the row before a PATCH committed does not store it", async () => {
    const contact = await newContact({ name: "Before" });
    const contacts = h.app.deps.contacts as unknown as {
      load(projectId: string, id: string): Promise<unknown>;
    };
    const load = contacts.load.bind(contacts);
    let loaded!: () => void;
    const loading = new Promise<void>((resolve) => (loaded = resolve));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    // The reader's database read happens, then it stalls before storing what it read.
    vi.spyOn(contacts, "load").mockImplementationOnce(async (projectId, id) => {
      const row = await load(projectId, id);
      loaded();
      await gate;
      return row;
    });
    const discardedBefore = await metricValue(h.app, "ventros_cache_fills_discarded_total", {
      reason: "invalidated",
    });
    const reader = api.get(`/v1/contacts/${contact.id}`);
    await loading;
    const patched = await api.patch(`/v1/contacts/${contact.id}`, { name: "After" });
    expect(patched.body.name).toBe("After");
    release();
    // The reader overlapped the write: its answer may be the old row...
    expect((await reader).body.name).toBe("Before");
    // ...but the cache did not keep it.
    expect((await api.get(`/v1/contacts/${contact.id}`)).body.name).toBe("After");
    expect(
      await metricValue(h.app, "ventros_cache_fills_discarded_total", { reason: "invalidated" }),
    ).toBe(discardedBefore + 1);
  });
});

describe("between a commit and its invalidation", () => {
  it("a read of the written entry goes to the database (held), never to the old entry", async () => {
    const contact = await newContact({ name: "Old name" });
    expect((await api.get(`/v1/contacts/${contact.id}`)).body.name).toBe("Old name");
    const cache = h.app.deps.cache;
    const remove = cache.delete.bind(cache);
    let deleting!: () => void;
    const committed = new Promise<void>((resolve) => (deleting = resolve));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    // The writer has committed and its delete is on its way (slow Redis, a busy loop).
    vi.spyOn(cache, "delete").mockImplementationOnce(async (...keys) => {
      deleting();
      await gate;
      await remove(...keys);
    });
    const writer = api.patch(`/v1/contacts/${contact.id}`, { name: "New name" });
    await committed;
    const { value, reads } = await readsDuring(h.app, ["contact"], () =>
      api.get(`/v1/contacts/${contact.id}`),
    );
    expect(value.body.name).toBe("New name");
    expect(reads).toEqual({ contact: {} });
    release();
    expect((await writer).status).toBe(200);
    expect((await api.get(`/v1/contacts/${contact.id}`)).body.name).toBe("New name");
  });
});

describe("API keys", () => {
  it("authentication is cached by key hash; a revoked key is refused on the next request", async () => {
    const created = await api.post("/v1/api-keys", { name: "short-lived", role: "readonly" });
    expect(created.status).toBe(201);
    const key = client(h.app, created.body.key as string);
    expect((await key.get("/v1/project")).status).toBe(200);
    const { reads } = await readsDuring(h.app, ["api_key"], () => key.get("/v1/project"));
    expect(reads).toEqual({ api_key: { hit: 1 } });

    expect((await api.delete(`/v1/api-keys/${created.body.apiKey.id}`)).status).toBe(204);
    expectError(await key.get("/v1/project"), 401, "UNAUTHORIZED");
    expectError(await key.get("/v1/project"), 401, "UNAUTHORIZED");
  });
});

describe("channels", () => {
  let channel: CreatedChannel;
  beforeAll(async () => {
    channel = await createChannel(api, waha, SESSION);
  });

  it("GET after PATCH and after a status change answers the new channel at once", async () => {
    await api.get(`/v1/channels/${channel.id}`);
    const { reads } = await readsDuring(h.app, ["channel"], () =>
      api.get(`/v1/channels/${channel.id}`),
    );
    expect(reads).toEqual({ channel: { hit: 1 } });
    const patched = await api.patch(`/v1/channels/${channel.id}`, { name: "Renamed channel" });
    expect(patched.status).toBe(200);
    expect((await api.get(`/v1/channels/${channel.id}`)).body).toEqual(patched.body);
    const activated = await api.post(`/v1/channels/${channel.id}/activate`);
    expect(activated.status, JSON.stringify(activated.body)).toBe(200);
    expect(activated.body.status).not.toBe("inactive");
    expect((await api.get(`/v1/channels/${channel.id}`)).body.status).toBe(activated.body.status);
    const deactivated = await api.post(`/v1/channels/${channel.id}/deactivate`);
    expect(deactivated.status).toBe(200);
    expect((await api.get(`/v1/channels/${channel.id}`)).body.status).toBe("inactive");
    // The simulator answers activation with session events: let them land before the
    // next test counts cache reads.
    await waha.settled(10_000);
    await inboundSettled(h.app);
  });

  it("the inbound route reads the channel by inbound id through the cache", async () => {
    const live = await createChannel(api, waha, SESSION);
    const unsigned = () =>
      postInbound(h.app, live.inboundPath, wahaEvents.text({ session: SESSION }));
    expect((await unsigned()).status).toBe(401);
    const { value, reads } = await readsDuring(h.app, ["channel_inbound"], unsigned);
    expect(value.status).toBe(401);
    expect(reads, JSON.stringify(reads)).toEqual({ channel_inbound: { hit: 1 } });
    // Deleting the channel: the inbound route answers 404 on the next post.
    expect((await api.delete(`/v1/channels/${live.id}`)).status).toBe(204);
    expect((await unsigned()).status).toBe(404);
    expectError(await api.get(`/v1/channels/${live.id}`), 404, "CHANNEL_NOT_FOUND");
  });
});

describe("inbound messages", () => {
  it("the contact's lastInteractionAt and the active session follow each message at once", async () => {
    const channel = await createChannel(api, waha, SESSION);
    const wid = `${freshPhone("55319")}@c.us`;
    const first = wahaEvents.text({
      session: SESSION,
      from: wid,
      timestampMs: Date.now() - 60_000,
    });
    await deliver(h.app, channel, first);
    const contact = (await api.get(`/v1/contacts?phone=${wid.split("@")[0]}`)).body.data[0];
    const activeUrl = `/v1/sessions?contactId=${contact.id}&channelId=${channel.id}&status=active`;
    const session = (await api.get(activeUrl)).body.data[0];
    expect(session.messageCount).toBe(1);
    // Cached now: both answered by the cache.
    const { reads } = await readsDuring(h.app, ["contact", "active_session"], async () => {
      await api.get(`/v1/contacts/${contact.id}`);
      await api.get(activeUrl);
    });
    expect(reads).toEqual({ contact: { hit: 1 }, active_session: { hit: 1 } });

    const second = wahaEvents.text({ session: SESSION, from: wid, timestampMs: Date.now() });
    await deliver(h.app, channel, second);
    const after = (await api.get(`/v1/contacts/${contact.id}`)).body;
    expect(after.lastInteractionAt).toBe(new Date(second.payload.timestamp * 1000).toISOString());
    expect((await api.get(activeUrl)).body.data[0]).toMatchObject({
      id: session.id,
      messageCount: 2,
    });

    expect((await api.post(`/v1/sessions/${session.id}/close`, {})).status).toBe(200);
    expect((await api.get(activeUrl)).body).toEqual({ data: [], nextCursor: null });
    // Another message starts a new session, visible at once.
    await deliver(h.app, channel, wahaEvents.text({ session: SESSION, from: wid }));
    const next = (await api.get(activeUrl)).body.data;
    expect(next).toHaveLength(1);
    expect(next[0].id).not.toBe(session.id);
  });
});

describe("pipelines", () => {
  it("GET after PATCH and after adding a status answers the new pipeline at once", async () => {
    const created = (await api.post("/v1/pipelines", { name: "Funnel" })).body;
    await api.get(`/v1/pipelines/${created.id}`);
    const { reads } = await readsDuring(h.app, ["pipeline"], () =>
      api.get(`/v1/pipelines/${created.id}`),
    );
    expect(reads).toEqual({ pipeline: { hit: 1 } });
    const patched = await api.patch(`/v1/pipelines/${created.id}`, { name: "Funnel 2" });
    expect((await api.get(`/v1/pipelines/${created.id}`)).body).toEqual(patched.body);
    const added = await api.post(`/v1/pipelines/${created.id}/statuses`, {
      name: "Won",
      type: "won",
    });
    expect(added.status).toBe(201);
    const got = (await api.get(`/v1/pipelines/${created.id}`)).body;
    expect(got.statuses.map((s: { name: string }) => s.name)).toEqual(["Won"]);
    expect(got).toEqual(added.body);
  });
});

describe("unit of work callbacks", () => {
  it("run after the commit (a nested unit's after the outer commit), never on rollback", async () => {
    const uow = new UnitOfWork(h.app.deps.database.db);
    const seen: string[] = [];
    await uow.run(async (outer) => {
      outer.afterCommit(() => void seen.push("outer committed"));
      await uow.run(async (inner) => {
        inner.afterCommit(() => void seen.push("inner committed"));
      }, outer.trx);
      seen.push("outer body done");
    });
    expect(seen).toEqual(["outer body done", "outer committed", "inner committed"]);

    const rolled: string[] = [];
    await expect(
      uow.run(async (context) => {
        context.afterCommit(() => void rolled.push("committed"));
        context.afterRollback(() => void rolled.push("rolled back"));
        throw new Error("domain rule");
      }),
    ).rejects.toThrow("domain rule");
    expect(rolled).toEqual(["rolled back"]);
  });
});

// Last: it starts the outbox relay, whose consumer would then mask writer-side mistakes.
describe("durable invalidation", () => {
  it("the event consumer invalidates a change whose writer did not (a crash after commit)", async () => {
    const created = await api.post("/v1/api-keys", { name: "orphaned", role: "readonly" });
    const key = client(h.app, created.body.key as string);
    expect((await key.get("/v1/project")).status).toBe(200);
    const apiKeyId = created.body.apiKey.id as string;
    const project = (await api.get("/v1/project")).body.id as string;
    // The revocation commits with its event, but no writer-side invalidation runs.
    const uow = new UnitOfWork(h.app.deps.database.db);
    await uow.run(async ({ trx, emit }) => {
      await trx
        .updateTable("api_keys")
        .set({ revoked_at: new Date() })
        .where("id", "=", apiKeyId)
        .execute();
      emit("api_key.revoked", { projectId: project, aggregateId: apiKeyId, data: { apiKeyId } });
    });
    expect((await key.get("/v1/project")).status).toBe(200);
    h.app.deps.relay.start();
    await waitFor(async () => (await key.get("/v1/project")).status === 401, 15_000, {
      what: "the consumer's invalidation",
    });
    expect(
      await metricValue(h.app, "ventros_event_consumer_total", {
        consumer: "cache-invalidation",
        outcome: "applied",
      }),
    ).toBeGreaterThan(0);
  });
});
