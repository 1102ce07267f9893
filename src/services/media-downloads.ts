import type { Kysely } from "kysely";
import type { DB } from "../platform/db/schema.ts";
import { notFound } from "../platform/errors.ts";
import type { HttpClient } from "../platform/http-client/http-client.ts";
import type { IntegrationPolicy } from "../platform/resilience/integration-policy.ts";
import type { Channels } from "./channels.ts";

export interface DownloadedMedia {
  mimetype: string;
  filename: string | null;
  body: Buffer;
}

/**
 * Fetches a message's media for clients (and, later, AI enrichment). Media on the
 * channel's own WAHA server is fetched with the channel's API key through the WAHA
 * policy; any other URL is fetched anonymously through the SSRF guard and the media
 * policy. Both clients refuse non-public addresses unless allow-listed.
 */
export class MediaDownloads {
  constructor(
    private readonly deps: {
      db: Kysely<DB>;
      channels: Channels;
      wahaHttp: HttpClient;
      wahaPolicyFor: (baseUrl: string) => IntegrationPolicy;
      mediaHttp: HttpClient;
      mediaPolicy: IntegrationPolicy;
    },
  ) {}

  async fetch(projectId: string, messageId: string): Promise<DownloadedMedia> {
    const { db, channels } = this.deps;
    const message = await db
      .selectFrom("messages")
      .select(["media", "channel_id"])
      .where("project_id", "=", projectId)
      .where("id", "=", messageId)
      .executeTakeFirst();
    if (!message) throw notFound("message");
    const media = message.media as {
      url?: string | null;
      mimetype?: string | null;
      filename?: string | null;
    } | null;
    if (!media?.url) throw notFound("media", "MEDIA_NOT_FOUND");
    const channel = await channels.row(projectId, message.channel_id);
    const target = channels.targetOf(channel);
    const onGateway = sameOrigin(media.url, target.baseUrl);
    const http = onGateway ? this.deps.wahaHttp : this.deps.mediaHttp;
    const policy = onGateway ? this.deps.wahaPolicyFor(target.baseUrl) : this.deps.mediaPolicy;
    const url = media.url;
    const response = await policy.execute(
      (signal) =>
        http.request({
          url,
          method: "GET",
          headers: onGateway ? { "x-api-key": target.apiKey } : {},
          signal,
          operation: "downloadMedia",
        }),
      { operation: "downloadMedia", idempotent: true },
    );
    const type = response.headers["content-type"];
    return {
      mimetype: media.mimetype ?? (typeof type === "string" ? type : "application/octet-stream"),
      filename: media.filename ?? null,
      body: response.body,
    };
  }
}

const sameOrigin = (a: string, b: string) => {
  try {
    return new URL(a).origin === new URL(b).origin;
  } catch {
    return false;
  }
};
