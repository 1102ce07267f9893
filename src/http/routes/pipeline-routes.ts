import type { FastifyInstance } from "fastify";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import Type from "typebox";
import type { Pipelines } from "../../services/pipelines.ts";
import { principalOf } from "../auth.ts";
import { apiKey } from "../request-context.ts";
import { errorResponses, IdParams, Page, PageQuery } from "../schemas/common.ts";
import {
  CreatePipelineBody,
  CreatePipelineStatusBody,
  Pipeline,
  UpdatePipelineBody,
} from "../schemas/pipeline-schemas.ts";

export function pipelineRoutes(server: FastifyInstance, pipelines: Pipelines) {
  const app = server.withTypeProvider<TypeBoxTypeProvider>();
  const tags = ["pipelines"];

  app.post("/v1/pipelines", {
    config: apiKey("admin"),
    schema: {
      tags,
      summary: "Create a pipeline",
      body: CreatePipelineBody,
      response: { 201: Pipeline, ...errorResponses(413, 415) },
    },
    handler: async (request, reply) =>
      reply.code(201).send(await pipelines.create(principalOf(request).projectId, request.body)),
  });

  app.get("/v1/pipelines", {
    config: apiKey("readonly"),
    schema: {
      tags,
      summary: "List pipelines, newest first, with their statuses",
      querystring: Type.Object(PageQuery, { additionalProperties: false }),
      response: { 200: Page(Pipeline), ...errorResponses() },
    },
    handler: async (request) =>
      pipelines.list(
        principalOf(request).projectId,
        request.query.limit ?? 50,
        request.query.cursor,
      ),
  });

  app.get("/v1/pipelines/:id", {
    config: apiKey("readonly"),
    schema: {
      tags,
      summary: "Get a pipeline with its statuses in order",
      params: IdParams,
      response: { 200: Pipeline, ...errorResponses(404) },
    },
    handler: async (request) => pipelines.get(principalOf(request).projectId, request.params.id),
  });

  app.patch("/v1/pipelines/:id", {
    config: apiKey("admin"),
    schema: {
      tags,
      summary: "Update a pipeline (sessionTimeoutMinutes null falls back to the channel's)",
      params: IdParams,
      body: UpdatePipelineBody,
      response: { 200: Pipeline, ...errorResponses(404, 413, 415) },
    },
    handler: async (request) =>
      pipelines.update(principalOf(request).projectId, request.params.id, request.body),
  });

  app.post("/v1/pipelines/:id/statuses", {
    config: apiKey("admin"),
    schema: {
      tags,
      summary: "Add a status (names are unique per pipeline); answers the pipeline",
      params: IdParams,
      body: CreatePipelineStatusBody,
      response: { 201: Pipeline, ...errorResponses(404, 409, 413, 415) },
    },
    handler: async (request, reply) =>
      reply
        .code(201)
        .send(
          await pipelines.addStatus(
            principalOf(request).projectId,
            request.params.id,
            request.body,
          ),
        ),
  });
}
