import type { FastifyInstance } from "fastify";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import Type from "typebox";
import type { Contacts } from "../../services/contacts.ts";
import { principalOf } from "../auth.ts";
import { apiKey } from "../request-context.ts";
import { errorResponses, IdParams, Page } from "../schemas/common.ts";
import {
  Contact,
  CreateContactBody,
  ListContactsQuery,
  UpdateContactBody,
} from "../schemas/contact-schemas.ts";

export function contactRoutes(server: FastifyInstance, contacts: Contacts) {
  const app = server.withTypeProvider<TypeBoxTypeProvider>();
  const tags = ["contacts"];

  app.post("/v1/contacts", {
    config: apiKey("agent"),
    schema: {
      tags,
      summary: "Create a contact",
      body: CreateContactBody,
      response: { 201: Contact, ...errorResponses(409, 413, 415, 422) },
    },
    handler: async (request, reply) => {
      const contact = await contacts.create(principalOf(request).projectId, request.body);
      return reply.code(201).send(contact);
    },
  });

  app.get("/v1/contacts", {
    config: apiKey("readonly"),
    schema: {
      tags,
      summary: "List contacts, newest first",
      querystring: ListContactsQuery,
      response: { 200: Page(Contact), ...errorResponses() },
    },
    handler: async (request) => {
      const { limit = 50, ...filters } = request.query;
      return contacts.list(principalOf(request).projectId, { ...filters, limit });
    },
  });

  app.get("/v1/contacts/:id", {
    config: apiKey("readonly"),
    schema: {
      tags,
      summary: "Get a contact",
      params: IdParams,
      response: { 200: Contact, ...errorResponses(404) },
    },
    handler: async (request) => contacts.get(principalOf(request).projectId, request.params.id),
  });

  app.patch("/v1/contacts/:id", {
    config: apiKey("agent"),
    schema: {
      tags,
      summary: "Update a contact (customFields are merged; null removes a key)",
      params: IdParams,
      body: UpdateContactBody,
      response: { 200: Contact, ...errorResponses(404, 409, 413, 415) },
    },
    handler: async (request) =>
      contacts.update(principalOf(request).projectId, request.params.id, request.body),
  });

  app.delete("/v1/contacts/:id", {
    config: apiKey("agent"),
    schema: {
      tags,
      summary: "Delete a contact (soft: hidden from reads, its phone becomes free)",
      params: IdParams,
      response: { 204: Type.Null(), ...errorResponses(404) },
    },
    handler: async (request, reply) => {
      await contacts.delete(principalOf(request).projectId, request.params.id);
      return reply.code(204).send(null);
    },
  });
}
