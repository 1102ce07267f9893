import type { FastifyInstance } from "fastify";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import Type from "typebox";
import type { IntegrationRegistry } from "../../platform/resilience/integration-registry.ts";
import { apiKey } from "../request-context.ts";
import { errorResponses } from "../schemas/common.ts";
import { Integration } from "../schemas/integration-schemas.ts";

/** The integration bar, live: what each registered policy is and how it is doing. */
export function integrationRoutes(server: FastifyInstance, registry: IntegrationRegistry) {
  const app = server.withTypeProvider<TypeBoxTypeProvider>();

  app.get("/v1/integrations", {
    config: apiKey("readonly"),
    schema: {
      tags: ["operations"],
      summary:
        "Every outbound integration: policy settings, breaker state, counts, latency and score",
      response: { 200: Type.Object({ data: Type.Array(Integration) }), ...errorResponses() },
    },
    handler: async () => ({
      data: registry.list().map((report) => ({
        name: report.integration,
        settings: report.settings,
        breaker: { state: report.breakerState },
        counts: report.counts,
        latencyMs: report.latencyMs,
        score: report.score,
      })),
    }),
  });
}
