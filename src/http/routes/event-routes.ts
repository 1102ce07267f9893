import type { FastifyInstance } from "fastify";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import Type from "typebox";
import { EVENT_CATALOGUE } from "../../domain/events/event-catalogue.ts";
import type { ContactTimeline } from "../../services/contact-timeline.ts";
import { principalOf } from "../auth.ts";
import { apiKey } from "../request-context.ts";
import { errorResponses, IdParams, Page, PageQuery, Timestamp } from "../schemas/common.ts";
import { streamEvents, type EventStreamDependencies } from "./event-stream.ts";

const EventType = Type.Object({
  type: Type.String(),
  version: Type.Integer(),
  aggregate: Type.String(),
  description: Type.String(),
  schema: Type.Unknown({ description: "JSON Schema of `data`" }),
  example: Type.Unknown({ description: "an example of the whole event envelope" }),
});

const TimelineItem = Type.Object({
  id: Type.String({ description: "the id of the event the item comes from" }),
  type: Type.String(),
  summary: Type.String(),
  occurredAt: Timestamp,
  data: Type.Unknown(),
});

export function eventRoutes(
  server: FastifyInstance,
  timeline: ContactTimeline,
  stream: EventStreamDependencies,
) {
  const app = server.withTypeProvider<TypeBoxTypeProvider>();
  // Streams never end on their own: a closing server (which waits for them) ends them.
  const open = new Set<() => void>();
  server.addHook("preClose", async () => {
    for (const end of open) end();
  });

  app.get("/v1/event-types", {
    config: apiKey("readonly"),
    schema: {
      tags: ["events"],
      summary: "Every domain event type with its data schema and an example",
      response: { 200: Type.Object({ data: Type.Array(EventType) }), ...errorResponses() },
    },
    handler: async () => ({
      data: Object.entries(EVENT_CATALOGUE).map(([type, entry]) => ({
        type,
        version: entry.version,
        aggregate: entry.aggregate,
        description: entry.description,
        schema: entry.schema,
        example: {
          id: "01939d6e-7a1c-7b7e-9c41-6f0e7b1d2a99",
          type,
          version: entry.version,
          occurredAt: "2026-01-01T12:00:00.000Z",
          projectId: "01939d6e-7a1c-7b7e-9c41-6f0e7b1d2a00",
          aggregate: { type: entry.aggregate, id: "01939d6e-7a1c-7b7e-9c41-6f0e7b1d2a01" },
          data: entry.example,
        },
      })),
    }),
  });

  app.get("/v1/contacts/:id/timeline", {
    config: apiKey("readonly"),
    schema: {
      tags: ["contacts"],
      summary: "The contact's activity, newest first, built from domain events",
      params: IdParams,
      querystring: Type.Object(PageQuery, { additionalProperties: false }),
      response: { 200: Page(TimelineItem), ...errorResponses(404) },
    },
    handler: async (request) =>
      timeline.list(
        principalOf(request).projectId,
        request.params.id,
        request.query.limit ?? 50,
        request.query.cursor,
      ),
  });

  app.get("/v1/events/stream", {
    config: apiKey("readonly"),
    schema: {
      tags: ["events"],
      summary: "Server-sent events of the project's domain events; resume with Last-Event-ID",
      querystring: Type.Object(
        {
          types: Type.Optional(
            Type.String({
              description: "comma-separated patterns, e.g. contact.*,message.received",
            }),
          ),
          lastEventId: Type.Optional(
            Type.String({ format: "uuid", description: "alternative to the Last-Event-ID header" }),
          ),
        },
        { additionalProperties: false },
      ),
      headers: Type.Object({ "last-event-id": Type.Optional(Type.String({ format: "uuid" })) }),
    },
    handler: async (request, reply) => {
      const lastEventId = request.headers["last-event-id"] ?? request.query.lastEventId;
      const patterns = request.query.types
        ?.split(",")
        .map((p) => p.trim())
        .filter(Boolean) ?? ["*"];
      await streamEvents({ ...stream, open }, request, reply, {
        projectId: principalOf(request).projectId,
        lastEventId,
        patterns,
      });
    },
  });
}
