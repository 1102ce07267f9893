import { createHash } from "node:crypto";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { Logger } from "../platform/logger.ts";
import { AppError } from "../platform/errors.ts";
import type { IdempotencyStore } from "../services/idempotency.ts";

const KEY = /^[\x21-\x7e]{1,255}$/;

/** Stable hash of what makes two requests "the same": method, route, path params, body. */
const hashRequest = (request: FastifyRequest) =>
  createHash("sha256")
    .update(`${request.method} ${request.url}\n${JSON.stringify(request.body ?? null)}`)
    .digest("hex");

/**
 * preHandler: a POST with Idempotency-Key claims the key (or replays the stored answer)
 * before the handler runs; onSend records the answer. 5xx answers release the key so a
 * retry can succeed; everything else (including 4xx) is replayed for 24 h.
 */
export function idempotencyHooks(store: IdempotencyStore, logger: Logger) {
  const preHandler = async (request: FastifyRequest, reply: FastifyReply) => {
    if (request.method !== "POST") return;
    const header = request.headers["idempotency-key"];
    if (header === undefined) return;
    const key = Array.isArray(header) ? header[0] : header;
    if (!key || !KEY.test(key)) {
      throw new AppError("VALIDATION_FAILED", "validation", "The request is invalid", {
        details: {
          fields: [
            { field: "headers.idempotency-key", message: "must be 1-255 visible ASCII characters" },
          ],
        },
      });
    }
    const scope = request.principal?.projectId ?? "admin";
    const claim = await store.claim(scope, key, hashRequest(request));
    switch (claim.kind) {
      case "claimed":
        request.idempotency = { scope, key };
        return;
      case "replay":
        reply.header("idempotent-replayed", "true");
        return reply.code(claim.statusCode).send(claim.body);
      case "mismatch":
        throw new AppError(
          "IDEMPOTENCY_KEY_REUSED",
          "unprocessable",
          "This Idempotency-Key was used with a different request",
        );
      case "in_progress":
        throw new AppError(
          "IDEMPOTENCY_KEY_IN_PROGRESS",
          "conflict",
          "A request with this Idempotency-Key is in progress",
          {
            retryAfterSeconds: 1,
          },
        );
    }
  };

  const onSend = async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    const claim = request.idempotency;
    if (!claim) return payload;
    request.idempotency = undefined;
    try {
      if (reply.statusCode >= 500) await store.release(claim.scope, claim.key);
      else {
        const body = withoutSecrets(parse(payload), request.routeOptions.config.secretFields);
        await store.complete(claim.scope, claim.key, reply.statusCode, body);
      }
    } catch (error) {
      logger.warn({ err: error }, "could not record the idempotent response");
    }
    return payload;
  };

  return { preHandler, onSend };
}

/** Secrets are shown once: the stored copy (and so a replay) carries null instead. */
const withoutSecrets = (body: unknown, fields: string[] | undefined): unknown => {
  if (!fields?.length || body === null || typeof body !== "object") return body;
  const copy: Record<string, unknown> = { ...(body as Record<string, unknown>) };
  for (const field of fields) if (field in copy) copy[field] = null;
  return copy;
};

const parse = (payload: unknown): unknown => {
  if (typeof payload !== "string") return null;
  try {
    return JSON.parse(payload);
  } catch {
    return payload;
  }
};
