import type { FastifyInstance } from "fastify";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import Type from "typebox";
import type { WebhookDeliveries } from "../../services/webhook-deliveries.ts";
import type { WebhookEndpoints } from "../../services/webhook-endpoints.ts";
import { principalOf } from "../auth.ts";
import { apiKey, withSecrets } from "../request-context.ts";
import { errorResponses, IdParams, Page, PageQuery } from "../schemas/common.ts";
import {
  CreatedWebhookEndpoint,
  CreateWebhookEndpointBody,
  RecoverBody,
  RotatedSecret,
  RotateSecretBody,
  UpdateWebhookEndpointBody,
  WebhookDelivery,
  WebhookEndpoint,
} from "../schemas/webhook-schemas.ts";

export interface WebhookRouteDependencies {
  endpoints: WebhookEndpoints;
  deliveries: WebhookDeliveries;
}

export function webhookRoutes(server: FastifyInstance, deps: WebhookRouteDependencies) {
  const app = server.withTypeProvider<TypeBoxTypeProvider>();
  const tags = ["webhooks"];
  const { endpoints, deliveries } = deps;
  const projectOf = (request: Parameters<typeof principalOf>[0]) => principalOf(request).projectId;

  app.post("/v1/webhook-endpoints", {
    config: withSecrets(apiKey("admin"), "secret"),
    schema: {
      tags,
      summary: "Create a webhook endpoint; answers its signing secret once",
      body: CreateWebhookEndpointBody,
      response: { 201: CreatedWebhookEndpoint, ...errorResponses(413, 415, 422) },
    },
    handler: async (request, reply) =>
      reply.code(201).send(await endpoints.create(projectOf(request), request.body)),
  });

  app.get("/v1/webhook-endpoints", {
    config: apiKey("readonly"),
    schema: {
      tags,
      summary: "List webhook endpoints",
      querystring: Type.Object(PageQuery, { additionalProperties: false }),
      response: { 200: Page(WebhookEndpoint), ...errorResponses() },
    },
    handler: async (request) =>
      endpoints.list(projectOf(request), request.query.limit ?? 50, request.query.cursor),
  });

  app.get("/v1/webhook-endpoints/:id", {
    config: apiKey("readonly"),
    schema: {
      tags,
      summary: "Get a webhook endpoint",
      params: IdParams,
      response: { 200: WebhookEndpoint, ...errorResponses(404) },
    },
    handler: async (request) => endpoints.get(projectOf(request), request.params.id),
  });

  app.patch("/v1/webhook-endpoints/:id", {
    config: apiKey("admin"),
    schema: {
      tags,
      summary: "Update a webhook endpoint (a new URL is checked again)",
      params: IdParams,
      body: UpdateWebhookEndpointBody,
      response: { 200: WebhookEndpoint, ...errorResponses(404, 413, 415, 422) },
    },
    handler: async (request) =>
      endpoints.update(projectOf(request), request.params.id, request.body),
  });

  app.delete("/v1/webhook-endpoints/:id", {
    config: apiKey("admin"),
    schema: {
      tags,
      summary: "Delete a webhook endpoint and its delivery history",
      params: IdParams,
      response: { 204: Type.Null(), ...errorResponses(404) },
    },
    handler: async (request, reply) => {
      await endpoints.delete(projectOf(request), request.params.id);
      return reply.code(204).send(null);
    },
  });

  app.post("/v1/webhook-endpoints/:id/enable", {
    config: apiKey("admin"),
    schema: {
      tags,
      summary: "Enable a disabled endpoint (its failure history is forgotten)",
      params: IdParams,
      response: { 200: WebhookEndpoint, ...errorResponses(404) },
    },
    handler: async (request) => endpoints.enable(projectOf(request), request.params.id),
  });

  app.post("/v1/webhook-endpoints/:id/rotate-secret", {
    config: withSecrets(apiKey("admin"), "secret"),
    // The body is optional: a bare POST rotates with the default grace period.
    preValidation: async (request) => {
      request.body ??= {};
    },
    schema: {
      tags,
      summary: "A new signing secret, shown once; the old one keeps signing for a grace period",
      params: IdParams,
      body: RotateSecretBody,
      response: { 200: RotatedSecret, ...errorResponses(404, 413, 415) },
    },
    handler: async (request) =>
      endpoints.rotateSecret(
        projectOf(request),
        request.params.id,
        request.body.gracePeriodSeconds,
      ),
  });

  app.get("/v1/webhook-endpoints/:id/deliveries", {
    config: apiKey("readonly"),
    schema: {
      tags,
      summary: "Deliveries to this endpoint, newest first, each with every attempt",
      params: IdParams,
      querystring: Type.Object(
        { ...PageQuery, status: Type.Optional(Type.Enum(["pending", "succeeded", "failed"])) },
        { additionalProperties: false },
      ),
      response: { 200: Page(WebhookDelivery), ...errorResponses(404) },
    },
    handler: async (request) =>
      deliveries.list(projectOf(request), request.params.id, {
        limit: request.query.limit ?? 50,
        ...(request.query.cursor ? { cursor: request.query.cursor } : {}),
        ...(request.query.status ? { status: request.query.status } : {}),
      }),
  });

  app.post("/v1/webhook-endpoints/:id/recover", {
    config: apiKey("admin"),
    schema: {
      tags,
      summary: "Send again every failed delivery created since a time (same webhook-ids)",
      params: IdParams,
      body: RecoverBody,
      response: {
        202: Type.Object({ recovered: Type.Integer(), since: Type.String() }),
        ...errorResponses(404, 409, 413, 415),
      },
    },
    handler: async (request, reply) =>
      reply
        .code(202)
        .send(await deliveries.recover(projectOf(request), request.params.id, request.body.since)),
  });

  app.get("/v1/webhook-deliveries/:id", {
    config: apiKey("readonly"),
    schema: {
      tags,
      summary: "One delivery with its attempts",
      params: IdParams,
      response: { 200: WebhookDelivery, ...errorResponses(404) },
    },
    handler: async (request) => deliveries.get(projectOf(request), request.params.id),
  });

  app.post("/v1/webhook-deliveries/:id/retry", {
    config: apiKey("admin"),
    schema: {
      tags,
      summary: "Attempt this delivery again now (same webhook-id)",
      params: IdParams,
      response: { 202: WebhookDelivery, ...errorResponses(404, 409) },
    },
    handler: async (request, reply) =>
      reply.code(202).send(await deliveries.retry(projectOf(request), request.params.id)),
  });
}
