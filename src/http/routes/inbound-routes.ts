import type { FastifyInstance } from "fastify";
import Type from "typebox";
import type { WhatsAppInbound } from "../../services/whatsapp-inbound.ts";
import { publicRoute } from "../request-context.ts";
import { errorResponses } from "../schemas/common.ts";

/**
 * Provider webhooks. They need the exact raw bytes for signature checks, so this scope
 * parses JSON as a Buffer; the service verifies, parses and validates.
 */
export async function inboundRoutes(
  server: FastifyInstance,
  deps: { whatsapp: WhatsAppInbound; bodyLimit: number },
) {
  await server.register(async (scope) => {
    scope.removeContentTypeParser("application/json");
    scope.addContentTypeParser(
      "application/json",
      { parseAs: "buffer", bodyLimit: deps.bodyLimit },
      (_request, body, done) => done(null, body),
    );
    scope.post<{ Params: { inboundId: string }; Body: Buffer }>("/v1/inbound/waha/:inboundId", {
      config: publicRoute,
      bodyLimit: deps.bodyLimit,
      schema: {
        tags: ["inbound"],
        summary: "WAHA webhook events (HMAC-SHA512 in X-Webhook-Hmac); 200 once durably stored",
        params: Type.Object({ inboundId: Type.String({ minLength: 1, maxLength: 100 }) }),
        response: {
          200: Type.Object({ received: Type.Boolean(), duplicate: Type.Boolean() }),
          ...errorResponses(404, 413, 415),
        },
      },
      handler: async (request) => {
        const signature = request.headers["x-webhook-hmac"];
        const result = await deps.whatsapp.accept(
          request.params.inboundId,
          Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0),
          Array.isArray(signature) ? signature[0] : signature,
        );
        return { received: true, duplicate: result.duplicate };
      },
    });
  });
}
