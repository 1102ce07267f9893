import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { wahaEvents, type WahaSimulator } from "../simulators/waha-simulator.ts";
import { waitFor } from "../support/wait-for.ts";
import {
  createChannel,
  deliver,
  freshPhone,
  inboundResult,
  jobsFor,
  startWhatsApp,
  type CreatedChannel,
  type WhatsAppHarness,
} from "../support/whatsapp.ts";

let h: WhatsAppHarness;
let waha: WahaSimulator;
let channel: CreatedChannel;

beforeAll(async () => {
  h = await startWhatsApp();
  waha = await h.simulator({ sessions: ["echo-s"] });
  channel = await createChannel(h.api, waha, "echo-s");
});
afterAll(async () => h?.close());

const messageRow = (id: string) =>
  h.app.deps.database.db
    .selectFrom("messages")
    .selectAll()
    .where("id", "=", id)
    .executeTakeFirstOrThrow();

describe("WAHA's echo of our own send", () => {
  it("confirms the queued message instead of storing a copy, and nothing is sent twice", async () => {
    const phone = freshPhone();
    const contact = await h.api.post("/v1/contacts", { name: "Echo", phone });
    // The send reaches WhatsApp but its answer never comes back (until our timeout).
    waha.faults.applyThenHang({ route: "sendText", times: 1 });
    const queued = await h.api.post("/v1/messages", {
      contactId: contact.body.id,
      channelId: channel.id,
      type: "text",
      text: "echo me",
    });
    expect(queued.status).toBe(202);
    await waitFor(
      async () => (await messageRow(queued.body.id)).send_attempted_at !== null,
      15_000,
      {
        what: "send attempted",
      },
    );
    const echo = wahaEvents.fromMeOtherDevice({
      session: "echo-s",
      to: `${phone}@c.us`,
      body: "echo me",
      messageId: "3EB0ECHO00000001",
    });
    await deliver(h.app, channel, echo);
    expect((await inboundResult(h.app, echo.id))?.result).toBe(
      "outbound send confirmed by its echo",
    );
    const row = await messageRow(queued.body.id);
    expect(row.status).toBe("sent");
    expect(row.external_id).toContain("3EB0ECHO00000001");
    // The timed-out attempt's job ends without sending again.
    await waitFor(
      async () =>
        (await jobsFor(h.app, "whatsapp-message-send", "messageId", queued.body.id)).every(
          (j) => j.state === "completed",
        ),
      30_000,
      { what: "send job finished" },
    );
    expect(waha.sent({ chatId: `${phone}@c.us` })).toHaveLength(1);
    const copies = await h.app.deps.database.db
      .selectFrom("messages")
      .select("id")
      .where("contact_id", "=", contact.body.id)
      .execute();
    expect(copies).toHaveLength(1);
  });
});

describe("a deactivated channel", () => {
  it("acknowledges events but records nothing from them", async () => {
    const deactivated = await h.api.post(`/v1/channels/${channel.id}/deactivate`);
    expect(deactivated.status).toBe(200);
    expect(deactivated.body.status).toBe("inactive");
    const phone = freshPhone();
    const event = wahaEvents.text({
      session: "echo-s",
      from: `${phone}@c.us`,
      body: "anyone there?",
    });
    await deliver(h.app, channel, event);
    expect((await inboundResult(h.app, event.id))?.result).toBe("ignored: channel deactivated");
    const contacts = await h.api.get(`/v1/contacts?phone=${phone}`);
    expect(contacts.body.data).toHaveLength(0);
  });
});
