import type { FastifyInstance } from "fastify";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import Type from "typebox";
import type { Channels } from "../../services/channels.ts";
import { principalOf } from "../auth.ts";
import { apiKey, withSecrets } from "../request-context.ts";
import { errorResponses, IdParams, Page, PageQuery } from "../schemas/common.ts";
import {
  Channel,
  CreateChannelBody,
  CreatedChannel,
  UpdateChannelBody,
} from "../schemas/whatsapp-schemas.ts";

export function channelRoutes(server: FastifyInstance, channels: Channels) {
  const app = server.withTypeProvider<TypeBoxTypeProvider>();
  const tags = ["channels"];
  const integrationErrors = errorResponses(404, 422, 502, 504);

  app.post("/v1/channels", {
    config: withSecrets(apiKey("admin"), "inboundSecret"),
    schema: {
      tags,
      summary: "Create a WhatsApp channel (WAHA); answers the inbound URL and its HMAC secret once",
      body: CreateChannelBody,
      response: { 201: CreatedChannel, ...errorResponses(413, 415, 422) },
    },
    handler: async (request, reply) =>
      reply.code(201).send(await channels.create(principalOf(request).projectId, request.body)),
  });

  app.get("/v1/channels", {
    config: apiKey("readonly"),
    schema: {
      tags,
      summary: "List channels",
      querystring: Type.Object(PageQuery, { additionalProperties: false }),
      response: { 200: Page(Channel), ...errorResponses() },
    },
    handler: async (request) =>
      channels.list(
        principalOf(request).projectId,
        request.query.limit ?? 50,
        request.query.cursor,
      ),
  });

  app.get("/v1/channels/:id", {
    config: apiKey("readonly"),
    schema: {
      tags,
      summary: "Get a channel",
      params: IdParams,
      response: { 200: Channel, ...errorResponses(404) },
    },
    handler: async (request) => channels.get(principalOf(request).projectId, request.params.id),
  });

  app.patch("/v1/channels/:id", {
    config: apiKey("admin"),
    schema: {
      tags,
      summary: "Update a channel (a new WAHA apiKey is stored encrypted)",
      params: IdParams,
      body: UpdateChannelBody,
      response: { 200: Channel, ...errorResponses(404, 413, 415, 422) },
    },
    handler: async (request) =>
      channels.update(principalOf(request).projectId, request.params.id, request.body),
  });

  app.delete("/v1/channels/:id", {
    config: apiKey("admin"),
    schema: {
      tags,
      summary: "Delete a channel",
      params: IdParams,
      response: { 204: Type.Null(), ...errorResponses(404) },
    },
    handler: async (request, reply) => {
      await channels.delete(principalOf(request).projectId, request.params.id);
      return reply.code(204).send(null);
    },
  });

  app.post("/v1/channels/:id/activate", {
    config: apiKey("admin"),
    schema: {
      tags,
      summary: "Check the WAHA session (start it if stopped) and push our webhook configuration",
      params: IdParams,
      response: { 200: Channel, ...integrationErrors },
    },
    handler: async (request) =>
      channels.activate(principalOf(request).projectId, request.params.id),
  });

  app.post("/v1/channels/:id/deactivate", {
    config: apiKey("admin"),
    schema: {
      tags,
      summary: "Stop receiving events for this channel",
      params: IdParams,
      response: { 200: Channel, ...errorResponses(404) },
    },
    handler: async (request) =>
      channels.deactivate(principalOf(request).projectId, request.params.id),
  });

  app.get("/v1/channels/:id/qr", {
    config: apiKey("admin"),
    schema: {
      tags,
      summary:
        "The QR code to link the WhatsApp number (an image, base64) while the session waits for a scan",
      params: IdParams,
      response: {
        200: Type.Object({ mimetype: Type.String(), data: Type.String({ description: "base64" }) }),
        ...integrationErrors,
      },
    },
    handler: async (request) => channels.qr(principalOf(request).projectId, request.params.id),
  });
}
