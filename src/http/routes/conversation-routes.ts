import type { FastifyInstance } from "fastify";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import type { Conversations } from "../../services/conversations.ts";
import type { MediaDownloads } from "../../services/media-downloads.ts";
import type { Messages } from "../../services/messages.ts";
import type { OutboundMessages } from "../../services/outbound-messages.ts";
import { principalOf } from "../auth.ts";
import { apiKey } from "../request-context.ts";
import { errorResponses, IdParams, Page } from "../schemas/common.ts";
import {
  CloseSessionBody,
  ListMessagesQuery,
  ListSessionsQuery,
  Message,
  SendMessageBody,
  Session,
} from "../schemas/whatsapp-schemas.ts";

export function conversationRoutes(
  server: FastifyInstance,
  deps: {
    conversations: Conversations;
    messages: Messages;
    outbound: OutboundMessages;
    media: MediaDownloads;
  },
) {
  const app = server.withTypeProvider<TypeBoxTypeProvider>();

  app.get("/v1/sessions", {
    config: apiKey("readonly"),
    schema: {
      tags: ["sessions"],
      summary: "List conversation sessions, newest first",
      querystring: ListSessionsQuery,
      response: { 200: Page(Session), ...errorResponses() },
    },
    handler: async (request) => {
      const { limit = 50, ...filters } = request.query;
      return deps.conversations.list(principalOf(request).projectId, { ...filters, limit });
    },
  });

  app.get("/v1/sessions/:id", {
    config: apiKey("readonly"),
    schema: {
      tags: ["sessions"],
      summary: "Get a session",
      params: IdParams,
      response: { 200: Session, ...errorResponses(404) },
    },
    handler: async (request) =>
      deps.conversations.get(principalOf(request).projectId, request.params.id),
  });

  app.post("/v1/sessions/:id/close", {
    config: apiKey("agent"),
    schema: {
      tags: ["sessions"],
      summary: "End a session now (reason defaults to manual_close)",
      params: IdParams,
      body: CloseSessionBody,
      response: { 200: Session, ...errorResponses(404, 413, 415) },
    },
    handler: async (request) =>
      deps.conversations.close(
        principalOf(request).projectId,
        request.params.id,
        request.body?.reason,
      ),
  });

  app.get("/v1/messages", {
    config: apiKey("readonly"),
    schema: {
      tags: ["messages"],
      summary: "List messages, newest first",
      querystring: ListMessagesQuery,
      response: { 200: Page(Message), ...errorResponses() },
    },
    handler: async (request) => {
      const { limit = 50, ...filters } = request.query;
      return deps.messages.list(principalOf(request).projectId, { ...filters, limit });
    },
  });

  app.get("/v1/messages/:id", {
    config: apiKey("readonly"),
    schema: {
      tags: ["messages"],
      summary: "Get a message",
      params: IdParams,
      response: { 200: Message, ...errorResponses(404) },
    },
    handler: async (request) =>
      deps.messages.get(principalOf(request).projectId, request.params.id),
  });

  app.get("/v1/messages/:id/media", {
    config: apiKey("readonly"),
    schema: {
      tags: ["messages"],
      summary: "The message's media bytes, fetched from WhatsApp (WAHA) on demand",
      params: IdParams,
      response: errorResponses(404, 502, 504),
    },
    handler: async (request, reply) => {
      const media = await deps.media.fetch(principalOf(request).projectId, request.params.id);
      reply.type(media.mimetype);
      if (media.filename)
        reply.header(
          "content-disposition",
          `inline; filename="${media.filename.replace(/["\\\r\n]/g, "_")}"`,
        );
      return reply.send(media.body);
    },
  });

  app.post("/v1/messages", {
    config: apiKey("agent"),
    schema: {
      tags: ["messages"],
      summary: "Send a WhatsApp message: 202 queued, then delivered durably with retries",
      body: SendMessageBody,
      response: { 202: Message, ...errorResponses(404, 413, 415, 422) },
    },
    handler: async (request, reply) =>
      reply.code(202).send(await deps.outbound.queue(principalOf(request).projectId, request.body)),
  });
}
