import type { FastifyInstance } from "fastify";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import Type from "typebox";
import type { ApiKeys } from "../../services/api-keys.ts";
import type { Projects } from "../../services/projects.ts";
import { principalOf } from "../auth.ts";
import { adminToken, apiKey, withSecrets } from "../request-context.ts";
import { errorResponses, IdParams, Nullable } from "../schemas/common.ts";
import {
  ApiKey,
  CreateApiKeyBody,
  CreateProjectBody,
  Project,
  UpdateProjectBody,
} from "../schemas/project-schemas.ts";

export function projectRoutes(server: FastifyInstance, projects: Projects, apiKeys: ApiKeys) {
  const app = server.withTypeProvider<TypeBoxTypeProvider>();

  app.post("/v1/projects", {
    config: withSecrets(adminToken, "apiKey"),
    schema: {
      tags: ["projects"],
      summary: "Create a project and its first admin key (needs ADMIN_TOKEN)",
      body: CreateProjectBody,
      response: {
        201: Type.Object({
          project: Project,
          apiKey: Nullable(
            Type.String({ description: "shown once; null in an Idempotency-Key replay" }),
          ),
        }),
        ...errorResponses(413, 415),
      },
    },
    handler: async (request, reply) =>
      reply.code(201).send(await projects.createWithAdminKey(request.body.name)),
  });

  app.get("/v1/project", {
    config: apiKey("readonly"),
    schema: {
      tags: ["projects"],
      summary: "The key's project",
      response: { 200: Project, ...errorResponses() },
    },
    handler: async (request) => projects.get(principalOf(request).projectId),
  });

  app.patch("/v1/project", {
    config: apiKey("admin"),
    schema: {
      tags: ["projects"],
      summary: "Update the project's name and settings",
      body: UpdateProjectBody,
      response: { 200: Project, ...errorResponses(413, 415) },
    },
    handler: async (request) => projects.update(principalOf(request).projectId, request.body),
  });

  app.get("/v1/api-keys", {
    config: apiKey("admin"),
    schema: {
      tags: ["api-keys"],
      summary: "List the project's active API keys",
      response: {
        200: Type.Object({ data: Type.Array(ApiKey), nextCursor: Type.Null() }),
        ...errorResponses(),
      },
    },
    handler: async (request) => ({
      data: await apiKeys.list(principalOf(request).projectId),
      nextCursor: null,
    }),
  });

  app.post("/v1/api-keys", {
    config: withSecrets(apiKey("admin"), "key"),
    schema: {
      tags: ["api-keys"],
      summary: "Create an API key; the key is in this answer only",
      body: CreateApiKeyBody,
      response: {
        201: Type.Object({
          apiKey: ApiKey,
          key: Nullable(
            Type.String({ description: "shown once; null in an Idempotency-Key replay" }),
          ),
        }),
        ...errorResponses(413, 415),
      },
    },
    handler: async (request, reply) =>
      reply.code(201).send(await apiKeys.create(principalOf(request).projectId, request.body)),
  });

  app.delete("/v1/api-keys/:id", {
    config: apiKey("admin"),
    schema: {
      tags: ["api-keys"],
      summary: "Revoke an API key",
      params: IdParams,
      response: { 204: Type.Null(), ...errorResponses(404) },
    },
    handler: async (request, reply) => {
      await apiKeys.revoke(principalOf(request).projectId, request.params.id);
      return reply.code(204).send(null);
    },
  });
}
