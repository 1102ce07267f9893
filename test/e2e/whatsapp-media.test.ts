import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { wahaEvents, type WahaSimulator } from "../simulators/waha-simulator.ts";
import { client } from "../support/http.ts";
import {
  createChannel,
  deliver,
  startWhatsApp,
  type CreatedChannel,
  type WhatsAppHarness,
} from "../support/whatsapp.ts";

/**
 * GET /v1/messages/:id/media: media on the channel's WAHA origin is fetched with the
 * channel's key; other URLs are fetched anonymously through the SSRF guard.
 */
let h: WhatsAppHarness;
let waha: WahaSimulator;
let channel: CreatedChannel;
let other: Server;
let otherUrl: string;
const otherRequests: Record<string, string | string[] | undefined>[] = [];

beforeAll(async () => {
  h = await startWhatsApp();
  waha = await h.simulator({ sessions: ["media-s"] });
  channel = await createChannel(h.api, waha, "media-s");
  other = createServer((req, res) => {
    otherRequests.push(req.headers);
    res.writeHead(200, { "content-type": "application/pdf" }).end("%PDF-1.4 elsewhere");
  });
  await new Promise<void>((resolve) => other.listen(0, "127.0.0.1", resolve));
  otherUrl = `http://127.0.0.1:${(other.address() as AddressInfo).port}/files/doc.pdf`;
});

afterAll(async () => {
  await h?.close();
  await new Promise((resolve) => other?.close(resolve));
});

const latestMessageId = async (): Promise<string> =>
  (await h.api.get("/v1/messages?limit=1")).body.data[0].id;

describe("message media", () => {
  it("fetches media on the channel's WAHA with the channel's API key", async () => {
    const url = waha.setFile("media-s", "photo.jpg", Buffer.from("JPEG-BYTES"), "image/jpeg");
    await deliver(
      h.app,
      channel,
      wahaEvents.image({ session: "media-s", url, mimetype: "image/jpeg" } as never),
    );
    const id = await latestMessageId();
    const res = await h.app.server.inject({
      method: "GET",
      url: `/v1/messages/${id}/media`,
      headers: { authorization: `Bearer ${h.t.adminKey}` },
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toContain("image/jpeg");
    expect(res.body).toBe("JPEG-BYTES");
    const fetched = waha.calls({ method: "GET", path: /\/api\/files\/media-s\/photo\.jpg$/ });
    expect(fetched).toHaveLength(1);
    expect(fetched[0]!.headers["x-api-key"]).toBe(waha.apiKey);
  });

  it("fetches media elsewhere without the channel's key", async () => {
    await deliver(
      h.app,
      channel,
      wahaEvents.document({
        session: "media-s",
        url: otherUrl,
        mimetype: "application/pdf",
        filename: "doc.pdf",
      } as never),
    );
    const id = await latestMessageId();
    const res = await h.app.server.inject({
      method: "GET",
      url: `/v1/messages/${id}/media`,
      headers: { authorization: `Bearer ${h.t.adminKey}` },
    });
    expect(res.statusCode).toBe(200);
    expect(res.body).toBe("%PDF-1.4 elsewhere");
    expect(res.headers["content-disposition"]).toContain('filename="doc.pdf"');
    expect(otherRequests.at(-1)?.["x-api-key"]).toBeUndefined();
  });

  it("answers 404 for a message without media and for another project's message", async () => {
    await deliver(h.app, channel, wahaEvents.text({ session: "media-s" }));
    const id = await latestMessageId();
    const none = await h.api.get(`/v1/messages/${id}/media`);
    expect(none.status).toBe(404);
    expect(none.body.error.code).toBe("MEDIA_NOT_FOUND");
    const project = await h.app.deps.projects.createWithAdminKey("Other media project");
    const foreign = await client(h.app, project.apiKey).get(`/v1/messages/${id}/media`);
    expect(foreign.status).toBe(404);
  });
});

describe("message media behind the SSRF guard", () => {
  it("refuses a media URL naming a non-public address, before connecting", async () => {
    // An IP literal is judged from the URL alone: nothing is ever sent to this address.
    const metadata = "http://169.254.169.254/latest/meta-data/iam";
    await deliver(
      h.app,
      channel,
      wahaEvents.document({
        session: "media-s",
        url: metadata,
        mimetype: "application/pdf",
      } as never),
    );
    const id = await latestMessageId();
    const res = await h.api.get(`/v1/messages/${id}/media`);
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).not.toBe(500);
    expect(res.body.error.code).toBe("OUTBOUND_URL_NOT_ALLOWED");
  });
});
