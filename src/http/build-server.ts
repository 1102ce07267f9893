import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from "fastify";
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import type { Config } from "../config.ts";
import { AppError } from "../platform/errors.ts";
import { uuidv7 } from "../platform/ids.ts";
import type { Logger } from "../platform/logger.ts";
import type { Metrics } from "../platform/metrics/metrics.ts";
import type { IntegrationRegistry } from "../platform/resilience/integration-registry.ts";
import type { ApiKeys } from "../services/api-keys.ts";
import type { ContactTimeline } from "../services/contact-timeline.ts";
import type { Channels } from "../services/channels.ts";
import type { Conversations } from "../services/conversations.ts";
import type { Messages } from "../services/messages.ts";
import type { OutboundMessages } from "../services/outbound-messages.ts";
import type { WhatsAppInbound } from "../services/whatsapp-inbound.ts";
import type { MediaDownloads } from "../services/media-downloads.ts";
import { channelRoutes } from "./routes/channel-routes.ts";
import { conversationRoutes } from "./routes/conversation-routes.ts";
import { inboundRoutes } from "./routes/inbound-routes.ts";
import type { Contacts } from "../services/contacts.ts";
import type { Pipelines } from "../services/pipelines.ts";
import type { IdempotencyStore } from "../services/idempotency.ts";
import type { Projects } from "../services/projects.ts";
import { authenticate } from "./auth.ts";
import { rateLimitedAuthentication, type RateLimits } from "./rate-limit-hooks.ts";
import { errorBody, handleError } from "./error-handler.ts";
import { idempotencyHooks } from "./idempotency-hooks.ts";
import { publicRoute } from "./request-context.ts";
import { contactRoutes } from "./routes/contact-routes.ts";
import { eventRoutes } from "./routes/event-routes.ts";
import { integrationRoutes } from "./routes/integration-routes.ts";
import type { EventStreamDependencies } from "./routes/event-stream.ts";
import { operationsRoutes, type ReadinessCheck } from "./routes/operations-routes.ts";
import { pipelineRoutes } from "./routes/pipeline-routes.ts";
import { webhookRoutes, type WebhookRouteDependencies } from "./routes/webhook-routes.ts";
import { projectRoutes } from "./routes/project-routes.ts";
import { ErrorResponse } from "./schemas/common.ts";
import { validatorCompiler } from "./validation.ts";

export interface HttpDependencies {
  config: Config;
  logger: Logger;
  metrics: Metrics;
  readiness: ReadinessCheck[];
  apiKeys: ApiKeys;
  projects: Projects;
  contacts: Contacts;
  pipelines: Pipelines;
  idempotency: IdempotencyStore;
  timeline: ContactTimeline;
  stream: EventStreamDependencies;
  /** Outbound integration policies, for GET /v1/integrations. */
  integrations: IntegrationRegistry;
  /** Per API key, per client IP, per inbound channel (rate-limit-hooks.ts). */
  rateLimits: RateLimits;
  whatsapp: {
    channels: Channels;
    conversations: Conversations;
    messages: Messages;
    outbound: OutboundMessages;
    inbound: WhatsAppInbound;
    media: MediaDownloads;
  };
  webhooks: WebhookRouteDependencies;
}

const REQUEST_ID = /^[\w.:-]{1,128}$/;

/** The Fastify adapter: transport concerns only; every rule lives in services. */
export async function buildServer(deps: HttpDependencies): Promise<FastifyInstance> {
  const { config, logger, metrics } = deps;
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    // One line per request is logged by our onResponse hook instead of fastify's two.
    logController: new LogController({
      disableRequestLogging: true,
      requestIdLogLabel: "requestId",
    }),
    bodyLimit: config.BODY_LIMIT_BYTES,
    requestIdHeader: false,
    // Echo a caller's id when it is sane, so one id follows a request across systems.
    genReqId: (req) => {
      const incoming = req.headers["x-request-id"];
      return typeof incoming === "string" && REQUEST_ID.test(incoming) ? incoming : uuidv7();
    },
    connectionTimeout: config.REQUEST_TIMEOUT_MS,
    requestTimeout: config.REQUEST_TIMEOUT_MS,
    keepAliveTimeout: config.KEEP_ALIVE_TIMEOUT_MS,
    return503OnClosing: true,
    // Errors raised before routing (e.g. a bad %-escape in the path) get our error shape too.
    frameworkErrors: (error, request, reply) => {
      reply.header("x-request-id", request.id);
      return handleError(error, request, reply);
    },
    routerOptions: { ignoreTrailingSlash: true },
  });
  app.setValidatorCompiler(validatorCompiler());
  // The API speaks JSON only: anything else is a 415, never parsed as text. An empty body
  // declared as JSON on a DELETE (some clients always send the header) is no body.
  // Everything else keeps Fastify's parser (prototype-poisoning protection, empty = 400).
  const json = app.getDefaultJsonParser("error", "error");
  app.removeContentTypeParser(["text/plain", "application/json"]);
  app.addContentTypeParser("application/json", { parseAs: "string" }, (request, body, done) => {
    if (request.method === "DELETE" && String(body).trim() === "") return done(null, undefined);
    return json(request, String(body), done);
  });
  app.setErrorHandler(handleError);
  app.setNotFoundHandler((request, reply) =>
    reply
      .code(404)
      .send(
        errorBody(
          new AppError(
            "ROUTE_NOT_FOUND",
            "not_found",
            `No route ${request.method} ${request.url.split("?")[0]}`,
          ),
          request.id,
        ),
      ),
  );
  app.decorateRequest("principal", undefined);
  app.decorateRequest("idempotency", undefined);
  app.addSchema(ErrorResponse);

  app.addHook("onRequest", async (request, reply) => {
    reply.header("x-request-id", request.id);
  });
  app.addHook(
    "onRequest",
    rateLimitedAuthentication(authenticate(deps.apiKeys, config.ADMIN_TOKEN), deps.rateLimits),
  );
  const idempotency = idempotencyHooks(deps.idempotency, logger);
  app.addHook("preHandler", idempotency.preHandler);
  app.addHook("onSend", idempotency.onSend);
  app.addHook("onResponse", async (request, reply) => {
    const route = request.routeOptions.url ?? "unmatched";
    const seconds = reply.elapsedTime / 1000;
    metrics.httpRequestDuration.observe(
      { method: request.method, route, status_code: reply.statusCode },
      seconds,
    );
    request.log.info(
      {
        method: request.method,
        route,
        statusCode: reply.statusCode,
        ms: Math.round(reply.elapsedTime * 10) / 10,
      },
      "request",
    );
  });

  await app.register(swagger, {
    openapi: {
      openapi: "3.1.0",
      info: { title: "Ventros API", version: "1", description: "WhatsApp-first CRM backend" },
      components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
      security: [{ bearer: [] }],
    },
    refResolver: {
      buildLocalReference: (json, _base, _fragment, i) => String(json.$id ?? `def-${i}`),
    },
  });
  await app.register(swaggerUi, { routePrefix: "/docs", uiConfig: { deepLinking: true } });
  app.get("/openapi.json", { config: publicRoute, schema: { hide: true } }, async () =>
    app.swagger(),
  );

  operationsRoutes(app, metrics, deps.readiness);
  projectRoutes(app, deps.projects, deps.apiKeys);
  contactRoutes(app, deps.contacts);
  pipelineRoutes(app, deps.pipelines);
  eventRoutes(app, deps.timeline, deps.stream);
  channelRoutes(app, deps.whatsapp.channels);
  conversationRoutes(app, deps.whatsapp);
  await inboundRoutes(app, {
    whatsapp: deps.whatsapp.inbound,
    bodyLimit: config.INBOUND_BODY_LIMIT_BYTES,
  });
  integrationRoutes(app, deps.integrations);
  webhookRoutes(app, deps.webhooks);
  return app;
}
